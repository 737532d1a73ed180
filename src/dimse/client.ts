/**
 * DIMSE client (association requestor, PS3.8 9.2 Sta4 -> Sta5 -> Sta6) and the SCU side of the composite services
 * (PS3.7 9.1: C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET with SCP/SCU role selection, C-CANCEL).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { chooseContext, inTransferSyntax } from './transfer-syntax-conversion.ts';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { pino } from 'pino';
import { type Command, CommandField, DataSetPresent, NoDataSet, Priority } from './command-set.ts';
import { DimseProtocolError } from './errors.ts';
import { decodeFailedUidList } from './failed-uid-list.ts';
import { encodeAssociateRq } from './pdu-codec.ts';
import {
  AbortReason,
  AbortSource,
  ContextResult,
  PduType,
  type ProposedContext,
  type RoleSelection,
} from './pdu-types.ts';
import type { NegotiatedContext } from './presentation-context.ts';
import { ResponseQueue } from './response-queue.ts';
import { DimseFailure, isFailure, isPending, Status } from './status.ts';
import { secureContextOptions } from './tls-options.ts';
import type { ConnectOptions, RetrieveResult, StoreRequest } from './types.ts';
import { ApplicationContextName, ImplementationClassUid, ImplementationVersionName } from './uids.ts';
import { type IncomingMessage, UpperLayer } from './upper-layer.ts';

const MAX_IDENTIFIER = 16 * 1024 * 1024;

async function* chunks(data: Buffer | NodeJS.ReadableStream | AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  if (Buffer.isBuffer(data)) {
    yield data;
    return;
  }
  for await (const c of data as AsyncIterable<Buffer | string>)
    yield typeof c === 'string' ? Buffer.from(c, 'latin1') : c;
}

function openSocket(o: ConnectOptions, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket: Socket =
      o.tls !== undefined
        ? tlsConnect({
            host: o.host,
            port: o.port,
            ...secureContextOptions(o.tls),
            ...(isIp(o.host) ? {} : { servername: o.host }),
          })
        : netConnect({ host: o.host, port: o.port });
    const ready = o.tls !== undefined ? 'secureConnect' : 'connect';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new DimseProtocolError('TIMEOUT', `connecting to ${o.host}:${o.port} took longer than ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      const verify = o.tls?.verifyPeer;
      const certificate = verify !== undefined ? (socket as TLSSocket).getPeerX509Certificate() : undefined;
      const problem =
        verify === undefined
          ? undefined
          : certificate === undefined
            ? 'the server presented no certificate'
            : verify(certificate);
      if (problem !== undefined) {
        socket.destroy();
        reject(
          new DimseProtocolError(
            'PEER_CERTIFICATE_MISMATCH',
            `${o.calledAeTitle.trim()} at ${o.host}:${o.port} is not the peer configured: ${problem}; nothing was sent`,
          ),
        );
        return;
      }
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      const tlsFailure =
        o.tls !== undefined &&
        /SSL|TLS|certificate|handshake|alert|self.signed|verify/i.test(
          `${err.message} ${(err as { code?: string }).code ?? ''}`,
        );
      reject(
        new DimseProtocolError(
          tlsFailure ? 'TLS_FAILED' : 'CONNECT_FAILED',
          `${tlsFailure ? 'TLS' : 'connection'} to ${o.host}:${o.port} failed: ${err.message}`,
          { cause: err },
        ),
      );
    });
  });
}

function isIp(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(':');
}

function retrieveResult(c: Command, failedUids: string[]): RetrieveResult {
  return {
    status: c.status ?? Status.ProcessingFailure,
    completed: c.completed ?? 0,
    failed: c.failed ?? 0,
    warning: c.warning ?? 0,
    remaining: c.remaining ?? 0,
    failedSopInstanceUids: failedUids,
  };
}

export class Association {
  private readonly ul: UpperLayer;
  private readonly contexts: NegotiatedContext[];
  private readonly responseMs: number;
  private messageId = 0;
  private storeHandler: ((req: StoreRequest) => Promise<number | void>) | undefined;

  private constructor(ul: UpperLayer, contexts: NegotiatedContext[], responseMs: number) {
    this.ul = ul;
    this.contexts = contexts;
    this.responseMs = responseMs;
    ul.onRequest = (msg) => this.onRequest(msg);
  }

  static async connect(o: ConnectOptions): Promise<Association> {
    if (o.presentationContexts.length === 0 || o.presentationContexts.length > 128) {
      throw new DimseProtocolError('INVALID_ARGUMENT', 'between 1 and 128 presentation contexts are needed');
    }
    const log = (o.logger ?? pino({ level: 'silent' })).child({ peer: `${o.calledAeTitle}@${o.host}:${o.port}` });
    const maxPdu = o.maxPduLength ?? 256 * 1024;
    const socket = await openSocket(o, o.timeouts?.connectMs ?? 10_000);
    const ul = new UpperLayer(socket, 'Sta5', { maxPduLength: maxPdu, maxCommandBytes: 64 * 1024, logger: log });
    const proposed: ProposedContext[] = o.presentationContexts.map((pc, i) => ({
      id: 2 * i + 1,
      abstractSyntax: pc.abstractSyntax,
      transferSyntaxes: [...pc.transferSyntaxes],
    }));
    const roles: RoleSelection[] = [];
    for (const pc of o.presentationContexts) {
      if (pc.scpRole === true && !roles.some((r) => r.sopClassUid === pc.abstractSyntax))
        roles.push({ sopClassUid: pc.abstractSyntax, scuRole: true, scpRole: true });
    }
    const answer = new Promise<NegotiatedContext[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        ul.destroy();
        reject(new DimseProtocolError('TIMEOUT', 'no A-ASSOCIATE response in time'));
      }, o.timeouts?.connectMs ?? 10_000);
      void ul.closed.then(() => {
        clearTimeout(timer);
        reject(
          ul.endReason ??
            new DimseProtocolError('CONNECTION_CLOSED', 'connection closed during association negotiation'),
        );
      });
      ul.onControl = (pdu) => {
        clearTimeout(timer);
        if (pdu.type === PduType.AssociateRj) {
          const { result, source, reason } = pdu.rj;
          ul.closeAfter(undefined);
          reject(
            new DimseProtocolError(
              'ASSOCIATION_REJECTED',
              `association rejected (result ${result}, source ${source}, reason ${reason})`,
              { reject: pdu.rj },
            ),
          );
          return;
        }
        if (pdu.type !== PduType.AssociateAc)
          throw new DimseProtocolError('UNEXPECTED_PDU', `PDU type ${pdu.type} while awaiting A-ASSOCIATE-AC`);
        const accepted: NegotiatedContext[] = [];
        for (const a of pdu.ac.contexts) {
          const p = proposed.find((x) => x.id === a.id);
          if (p === undefined || a.result !== ContextResult.Acceptance) continue;
          const role = pdu.ac.userInfo.roleSelections.find((r) => r.sopClassUid === p.abstractSyntax);
          accepted.push({
            id: a.id,
            abstractSyntax: p.abstractSyntax,
            transferSyntax: a.transferSyntax,
            requestorIsScp: role?.scpRole === true,
          });
        }
        ul.establish(accepted, pdu.ac.userInfo.maxPduLength);
        resolve(accepted);
      };
    });
    socket.write(
      encodeAssociateRq({
        protocolVersion: 1,
        calledAeTitle: o.calledAeTitle,
        callingAeTitle: o.callingAeTitle,
        applicationContext: ApplicationContextName,
        contexts: proposed,
        userInfo: {
          maxPduLength: maxPdu,
          implementationClassUid: ImplementationClassUid,
          implementationVersionName: ImplementationVersionName,
          roleSelections: roles,
        },
      }),
    );
    const contexts = await answer;
    log.debug({ accepted: contexts.length, proposed: proposed.length }, 'association established');
    return new Association(ul, contexts, o.timeouts?.responseMs ?? 60_000);
  }

  /** The negotiated transfer syntax of the first accepted context for a SOP class. */
  acceptedTransferSyntax(abstractSyntax: string): string | undefined {
    return this.contexts.find((c) => c.abstractSyntax === abstractSyntax)?.transferSyntax;
  }

  /** Accepted presentation contexts (id, abstract syntax, transfer syntax). */
  get acceptedContexts(): readonly NegotiatedContext[] {
    return this.contexts;
  }

  /** The peer's maximum P-DATA-TF length (0 = unlimited). */
  get peerMaxPduLength(): number {
    return this.ul.peerMaxPdu;
  }

  private context(abstractSyntax: string, transferSyntax?: string): NegotiatedContext {
    const c = this.contexts.find(
      (x) =>
        x.abstractSyntax === abstractSyntax && (transferSyntax === undefined || x.transferSyntax === transferSyntax),
    );
    if (c === undefined) {
      throw new DimseProtocolError(
        'NO_PRESENTATION_CONTEXT',
        `no accepted presentation context for ${abstractSyntax}${transferSyntax !== undefined ? ` in ${transferSyntax}` : ''}`,
      );
    }
    return c;
  }

  private nextId(): number {
    this.messageId = (this.messageId % 0xffff) + 1;
    return this.messageId;
  }

  /** Sends a request and returns the queue its responses arrive in. */
  private async request(
    contextId: number,
    command: Command,
    data?: Buffer | AsyncIterable<Buffer>,
  ): Promise<ResponseQueue> {
    const q = new ResponseQueue(this.responseMs);
    const id = command.messageId ?? 0;
    this.ul.listen(id, q);
    try {
      await this.ul.send(contextId, command, data);
    } catch (err) {
      this.ul.unlisten(id);
      throw err;
    }
    return q;
  }

  private next(q: ResponseQueue): Promise<IncomingMessage> {
    return q.next(() =>
      this.ul.abortWith(new DimseProtocolError('TIMEOUT', 'DIMSE response timeout'), AbortSource.ServiceUser),
    );
  }

  async echo(): Promise<number> {
    const ctx = this.context('1.2.840.10008.1.1');
    const id = this.nextId();
    const q = await this.request(ctx.id, {
      commandField: CommandField.CEchoRq,
      messageId: id,
      affectedSopClassUid: ctx.abstractSyntax,
      dataSetType: NoDataSet,
    });
    try {
      const rsp = await this.next(q);
      return rsp.command.status ?? Status.ProcessingFailure;
    } finally {
      this.ul.unlisten(id);
    }
  }

  async store(x: {
    sopClassUid: string;
    sopInstanceUid: string;
    transferSyntaxUid: string;
    data: Buffer | NodeJS.ReadableStream | AsyncIterable<Buffer>;
    moveOriginator?: { aeTitle: string; messageId: number };
  }): Promise<number> {
    const ctx = chooseContext(this.contexts, x.sopClassUid, x.transferSyntaxUid);
    if (ctx === undefined) {
      throw new DimseProtocolError(
        'NO_PRESENTATION_CONTEXT',
        `no accepted presentation context for ${x.sopClassUid} in ${x.transferSyntaxUid} or a lossless rewrite of it`,
      );
    }
    const id = this.nextId();
    const cmd: Command = {
      commandField: CommandField.CStoreRq,
      messageId: id,
      affectedSopClassUid: x.sopClassUid,
      affectedSopInstanceUid: x.sopInstanceUid,
      priority: Priority.Medium,
      dataSetType: DataSetPresent,
      ...(x.moveOriginator !== undefined
        ? { moveOriginatorAeTitle: x.moveOriginator.aeTitle, moveOriginatorMessageId: x.moveOriginator.messageId }
        : {}),
    };
    const q = await this.request(
      ctx.id,
      cmd,
      inTransferSyntax(chunks(x.data), x.transferSyntaxUid, ctx.transferSyntax),
    );
    try {
      const rsp = await this.next(q);
      rsp.data?.discard();
      return rsp.command.status ?? Status.ProcessingFailure;
    } finally {
      this.ul.unlisten(id);
    }
  }

  /** Yields each pending match's identifier; breaking out of the loop sends C-CANCEL and waits for the final response. */
  async *find(sopClassUid: string, identifier: Buffer): AsyncIterable<Buffer> {
    const ctx = this.context(sopClassUid);
    const id = this.nextId();
    const q = await this.request(
      ctx.id,
      {
        commandField: CommandField.CFindRq,
        messageId: id,
        affectedSopClassUid: sopClassUid,
        priority: Priority.Medium,
        dataSetType: DataSetPresent,
      },
      identifier,
    );
    let final = false;
    try {
      for (;;) {
        const rsp = await this.next(q);
        const status = rsp.command.status ?? Status.ProcessingFailure;
        if (isPending(status)) {
          if (rsp.data !== undefined) yield await rsp.data.collect(MAX_IDENTIFIER);
          continue;
        }
        final = true;
        rsp.data?.discard();
        if (isFailure(status))
          throw new DimseFailure(
            status,
            `C-FIND failed with status 0x${status.toString(16).padStart(4, '0')}${rsp.command.errorComment !== undefined ? `: ${rsp.command.errorComment}` : ''}`,
          );
        return;
      }
    } finally {
      if (!final && !this.ul.ended.aborted) await this.cancelAndDrain(ctx.id, id, q);
      this.ul.unlisten(id);
    }
  }

  private async cancelAndDrain(contextId: number, id: number, q: ResponseQueue): Promise<void> {
    await this.ul.send(contextId, {
      commandField: CommandField.CCancelRq,
      messageIdBeingRespondedTo: id,
      dataSetType: NoDataSet,
    });
    for (;;) {
      const rsp = await this.next(q);
      rsp.data?.discard();
      if (!isPending(rsp.command.status ?? 0)) return;
    }
  }

  private async retrieveLoop(
    q: ResponseQueue,
    ctx: NegotiatedContext,
    onPending?: (r: RetrieveResult) => void,
  ): Promise<RetrieveResult> {
    for (;;) {
      const rsp = await this.next(q);
      const status = rsp.command.status ?? Status.ProcessingFailure;
      const failedUids =
        rsp.data !== undefined ? decodeFailedUidList(await rsp.data.collect(MAX_IDENTIFIER), ctx.transferSyntax) : [];
      const r = retrieveResult(rsp.command, failedUids);
      if (isPending(status)) {
        onPending?.(r);
        continue;
      }
      return r;
    }
  }

  async move(
    sopClassUid: string,
    destinationAeTitle: string,
    identifier: Buffer,
    onPending?: (r: RetrieveResult) => void,
  ): Promise<RetrieveResult> {
    const ctx = this.context(sopClassUid);
    const id = this.nextId();
    const q = await this.request(
      ctx.id,
      {
        commandField: CommandField.CMoveRq,
        messageId: id,
        affectedSopClassUid: sopClassUid,
        priority: Priority.Medium,
        moveDestination: destinationAeTitle,
        dataSetType: DataSetPresent,
      },
      identifier,
    );
    try {
      return await this.retrieveLoop(q, ctx, onPending);
    } finally {
      this.ul.unlisten(id);
    }
  }

  /** C-GET: the C-STORE sub-operations arrive on this association and go to `onStore` (PS3.4 C.4.3). */
  async get(
    sopClassUid: string,
    identifier: Buffer,
    onStore: (req: StoreRequest) => Promise<number | void>,
  ): Promise<RetrieveResult> {
    const ctx = this.context(sopClassUid);
    const id = this.nextId();
    this.storeHandler = onStore;
    try {
      const q = await this.request(
        ctx.id,
        {
          commandField: CommandField.CGetRq,
          messageId: id,
          affectedSopClassUid: sopClassUid,
          priority: Priority.Medium,
          dataSetType: DataSetPresent,
        },
        identifier,
      );
      try {
        return await this.retrieveLoop(q, ctx);
      } finally {
        this.ul.unlisten(id);
      }
    } finally {
      this.storeHandler = undefined;
    }
  }

  /** Requests from the peer: only C-STORE sub-operations of our C-GET are served. */
  private onRequest(msg: IncomingMessage): void {
    void this.serveIncoming(msg).catch((err: unknown) => {
      this.ul.log.warn({ err }, 'incoming request failed');
      if (err instanceof DimseProtocolError && !this.ul.ended.aborted) this.ul.abortWith(err);
    });
  }

  private async serveIncoming(msg: IncomingMessage): Promise<void> {
    const c = msg.command;
    const reply = async (status: number): Promise<void> => {
      await msg.data?.finished;
      await this.ul.send(msg.context.id, {
        commandField: c.commandField | 0x8000,
        messageIdBeingRespondedTo: c.messageId ?? 0,
        dataSetType: NoDataSet,
        status,
        ...(c.affectedSopClassUid !== undefined ? { affectedSopClassUid: c.affectedSopClassUid } : {}),
        ...(c.affectedSopInstanceUid !== undefined ? { affectedSopInstanceUid: c.affectedSopInstanceUid } : {}),
      });
    };
    const handler = this.storeHandler;
    if (c.commandField !== CommandField.CStoreRq || handler === undefined || msg.data === undefined) {
      msg.data?.discard();
      await reply(c.commandField === CommandField.CStoreRq ? Status.OutOfResources : Status.UnrecognizedOperation);
      return;
    }
    let status: number;
    try {
      status =
        (await handler({
          messageId: c.messageId ?? 0,
          sopClassUid: c.affectedSopClassUid ?? '',
          sopInstanceUid: c.affectedSopInstanceUid ?? '',
          transferSyntaxUid: msg.context.transferSyntax,
          priority: c.priority ?? 0,
          data: msg.data,
          ...(c.moveOriginatorAeTitle !== undefined
            ? { moveOriginator: { aeTitle: c.moveOriginatorAeTitle, messageId: c.moveOriginatorMessageId ?? 0 } }
            : {}),
        })) ?? Status.Success;
    } catch (err) {
      status = err instanceof DimseFailure ? err.status : Status.ProcessingFailure;
    }
    msg.data.discard();
    await reply(status);
  }

  async release(): Promise<void> {
    await this.ul.release();
  }

  abort(): void {
    this.ul.sendAbort(AbortSource.ServiceUser, AbortReason.NotSpecified);
  }
}
