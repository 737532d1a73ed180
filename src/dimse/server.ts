/**
 * DIMSE server (association acceptor, PS3.8 9.2 Sta2 -> Sta3 -> Sta6): ARTIM timer while waiting for the
 * A-ASSOCIATE-RQ, the allow-list decision before A-ASSOCIATE-AC (A-ASSOCIATE-RJ otherwise, PS3.8 9.3.4),
 * presentation context negotiation by policy, then an ScpSession that runs the services.
 */
import { randomUUID } from 'node:crypto';
import { type Server as NetServer, type Socket, createServer as createNetServer } from 'node:net';
import { type Server as TlsServer, type TLSSocket, createServer as createTlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { DimseProtocolError } from './errors.ts';
import { encodeAssociateAc, encodeAssociateRj } from './pdu-codec.ts';
import {
  AbortReason,
  AbortSource,
  type AssociateRq,
  type AssociateRj,
  PduType,
  RejectReason,
  RejectResult,
  RejectSource,
} from './pdu-types.ts';
import { negotiate } from './presentation-context.ts';
import { ScpSession } from './scp-session.ts';
import { peerCertificateSubject, secureContextOptions } from './tls-options.ts';
import type { AssociationInfo, AssociationRequestInfo, ResolvedServerOptions, ServerOptions } from './types.ts';
import {
  ApplicationContextName,
  DefaultTransferSyntaxes,
  ImplementationClassUid,
  ImplementationVersionName,
  defaultAcceptsAbstractSyntax,
} from './uids.ts';
import { UpperLayer } from './upper-layer.ts';

export const DEFAULT_MAX_PDU = 256 * 1024;

const REJECT_REASON = {
  'calling-ae-not-recognized': RejectReason.CallingAeNotRecognized,
  'called-ae-not-recognized': RejectReason.CalledAeNotRecognized,
  'no-reason': RejectReason.NoReasonGiven,
} as const;

export class DimseServer {
  private readonly cfg: ResolvedServerOptions;
  private readonly log: Logger;
  private readonly server: NetServer | TlsServer;
  private readonly connections = new Set<UpperLayer>();
  private established = 0;

  constructor(o: ServerOptions) {
    if (o.aeTitle.trim() === '' || o.aeTitle.length > 16)
      throw new DimseProtocolError('INVALID_ARGUMENT', 'aeTitle must be 1-16 characters');
    const maxPdu = o.maxPduLength ?? DEFAULT_MAX_PDU;
    if (maxPdu < 4096) throw new DimseProtocolError('INVALID_ARGUMENT', 'maxPduLength must be at least 4096');
    this.cfg = Object.freeze({
      aeTitle: o.aeTitle,
      options: o,
      maxPduLength: maxPdu,
      maxAssociations: o.maxAssociations ?? 64,
      artimMs: o.timeouts?.artimMs ?? 10_000,
      idleMs: o.timeouts?.idleMs ?? 300_000,
      maxCommandBytes: o.limits?.maxCommandBytes ?? 64 * 1024,
      maxIdentifierBytes: o.limits?.maxIdentifierBytes ?? 1024 * 1024,
      transferSyntaxes: o.transferSyntaxes ?? DefaultTransferSyntaxes,
      acceptsAbstractSyntax: o.acceptsAbstractSyntax ?? defaultAcceptsAbstractSyntax,
    });
    this.log = o.logger;
    if (o.tls !== undefined) {
      const srv = createTlsServer(
        {
          ...secureContextOptions(o.tls),
          requestCert: true,
          rejectUnauthorized: true,
          handshakeTimeout: this.cfg.artimMs,
        },
        (s) => {
          // A TLS 1.2 client could otherwise renegotiate and present another certificate after admission.
          s.disableRenegotiation();
          this.accept(s, s);
        },
      );
      srv.on('tlsClientError', (err, s) => {
        this.log.warn(
          { reason: 'TLS_HANDSHAKE_FAILED', remote: `${s.remoteAddress}:${s.remotePort}`, detail: err.message },
          'TLS connection refused',
        );
        s.destroy();
      });
      this.server = srv;
    } else {
      this.server = createNetServer((s) => this.accept(s, undefined));
    }
    this.server.on('error', (err) => this.log.error({ err }, 'DIMSE listener error'));
  }

  get activeAssociations(): number {
    return this.established;
  }

  listen(port: number, host: string): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        const bound = typeof a === 'object' && a !== null ? a.port : port;
        this.log.info(
          { boundPort: bound, host, tls: this.cfg.options.tls !== undefined, aeTitle: this.cfg.aeTitle },
          'DIMSE listening',
        );
        resolve({ port: bound });
      });
    });
  }

  /** Stops listening and aborts the open associations. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const ul of this.connections) {
      if (ul.state === 'Sta6') ul.sendAbort(AbortSource.ServiceUser, AbortReason.NotSpecified);
      else ul.destroy();
    }
    await Promise.all([...this.connections].map((c) => c.closed));
    await closed;
  }

  private accept(socket: Socket, tlsSocket: TLSSocket | undefined): void {
    const id = randomUUID().slice(0, 8);
    const remoteAddress = socket.remoteAddress ?? '';
    const remotePort = socket.remotePort ?? 0;
    const log = this.log.child({ assoc: id, remote: `${remoteAddress}:${remotePort}` });
    const ul = new UpperLayer(socket, 'Sta2', {
      maxPduLength: this.cfg.maxPduLength,
      maxCommandBytes: this.cfg.maxCommandBytes,
      logger: log,
      idleMs: this.cfg.idleMs,
    });
    this.connections.add(ul);
    const artim = setTimeout(() => {
      log.warn({ reason: 'ARTIM_TIMEOUT' }, 'no A-ASSOCIATE-RQ in time; connection closed');
      ul.destroy();
    }, this.cfg.artimMs);
    let counted = false;
    void ul.closed.then(() => {
      clearTimeout(artim);
      this.connections.delete(ul);
      if (counted) this.established--;
      log.debug('connection closed');
    });
    ul.onControl = (pdu) => {
      if (pdu.type !== PduType.AssociateRq || ul.state !== 'Sta2')
        throw new DimseProtocolError('UNEXPECTED_PDU', `PDU type ${pdu.type} in ${ul.state}`);
      clearTimeout(artim);
      ul.state = 'Sta3';
      const peerCertificateSubject_ = tlsSocket !== undefined ? peerCertificateSubject(tlsSocket) : undefined;
      const info: AssociationInfo = {
        id,
        callingAeTitle: pdu.rq.callingAeTitle,
        calledAeTitle: pdu.rq.calledAeTitle,
        remoteAddress,
        remotePort,
        tls: tlsSocket !== undefined,
        ...(peerCertificateSubject_ !== undefined ? { peerCertificateSubject: peerCertificateSubject_ } : {}),
      };
      ul.log = log.child({ callingAe: info.callingAeTitle });
      const rj = this.decide(pdu.rq, info, ul.log, tlsSocket);
      if (rj !== undefined) {
        ul.closeAfter(encodeAssociateRj(rj));
        return;
      }
      const n = negotiate(pdu.rq.contexts, pdu.rq.userInfo.roleSelections, this.cfg);
      socket.write(
        encodeAssociateAc({
          protocolVersion: 1,
          calledAeTitle: pdu.rq.calledAeTitle,
          callingAeTitle: pdu.rq.callingAeTitle,
          applicationContext: ApplicationContextName,
          contexts: n.answers,
          userInfo: {
            maxPduLength: this.cfg.maxPduLength,
            implementationClassUid: ImplementationClassUid,
            implementationVersionName: ImplementationVersionName,
            roleSelections: n.roles,
          },
        }),
      );
      ul.establish(n.accepted.values(), pdu.rq.userInfo.maxPduLength);
      counted = true;
      this.established++;
      ul.log.info(
        {
          calledAe: info.calledAeTitle,
          tls: info.tls,
          contexts: n.accepted.size,
          proposed: pdu.rq.contexts.length,
          peerMaxPdu: pdu.rq.userInfo.maxPduLength,
        },
        'association accepted',
      );
      this.cfg.options.onAssociation?.({ accepted: true });
      new ScpSession(ul, info, this.cfg).start();
    };
  }

  /** The A-ASSOCIATE-RJ to send, or undefined to accept (PS3.8 9.3.4, 7.1.1.2). */
  private decide(
    rq: AssociateRq,
    info: AssociationInfo,
    log: Logger,
    tlsSocket: TLSSocket | undefined,
  ): AssociateRj | undefined {
    const reject = (reason: string, detail: string, rj: AssociateRj): AssociateRj => {
      log.warn({ reason, detail, calledAe: info.calledAeTitle }, 'association rejected');
      this.cfg.options.onAssociation?.({ accepted: false, code: reason });
      return rj;
    };
    if ((rq.protocolVersion & 1) === 0) {
      return reject('PROTOCOL_VERSION_NOT_SUPPORTED', `protocol version ${rq.protocolVersion}`, {
        result: RejectResult.Permanent,
        source: RejectSource.ServiceProviderAcse,
        reason: RejectReason.ProtocolVersionNotSupported,
      });
    }
    if (rq.applicationContext !== ApplicationContextName) {
      return reject('APPLICATION_CONTEXT_NOT_SUPPORTED', 'unknown application context name', {
        result: RejectResult.Permanent,
        source: RejectSource.ServiceUser,
        reason: RejectReason.ApplicationContextNotSupported,
      });
    }
    const peerCertificate = tlsSocket?.getPeerX509Certificate();
    const req: AssociationRequestInfo = {
      callingAeTitle: info.callingAeTitle,
      calledAeTitle: info.calledAeTitle,
      remoteAddress: info.remoteAddress,
      tls: info.tls,
      ...(info.peerCertificateSubject !== undefined ? { peerCertificateSubject: info.peerCertificateSubject } : {}),
      ...(peerCertificate !== undefined ? { peerCertificate } : {}),
    };
    let admission;
    try {
      admission = this.cfg.options.admit(req);
    } catch (err) {
      log.error({ err }, 'admit() threw');
      admission = { accept: false, reason: 'no-reason', detail: 'admission check failed' } as const;
    }
    if (!admission.accept) {
      return reject(admission.code ?? admission.reason.toUpperCase().replaceAll('-', '_'), admission.detail, {
        result: RejectResult.Permanent,
        source: RejectSource.ServiceUser,
        reason: REJECT_REASON[admission.reason],
      });
    }
    if (this.established >= this.cfg.maxAssociations) {
      return reject('TOO_MANY_ASSOCIATIONS', `limit ${this.cfg.maxAssociations}`, {
        result: RejectResult.Transient,
        source: RejectSource.ServiceProviderPresentation,
        reason: RejectReason.LocalLimitExceeded,
      });
    }
    return undefined;
  }
}
