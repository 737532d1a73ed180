import type { X509Certificate } from 'node:crypto';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from '../../log/index.ts';

/** MLLP framing (HL7 v2 Transport Specification, MLLP release 2): <VT> message <FS><CR>. */
const START = 0x0b;
const END = 0x1c;
const CR = 0x0d;

export interface MllpOptions {
  /** Decides whether an address may send at all, before a byte is read. */
  allowed(remoteAddress: string): boolean;
  /** The acknowledgement to send back for one message (its bytes as sent, without the framing). */
  handle(message: Buffer, from: { remoteAddress: string }): Promise<string>;
  /**
   * When set, the port speaks MLLP over TLS only: the RIS's certificate must chain to the CA given, and `clientProblem`
   * (when given) must find nothing wrong with it (a certificate of our own organization, say).
   */
  tls?: {
    key: string | Buffer;
    cert: string | Buffer;
    ca: string | Buffer;
    clientProblem?: (certificate: X509Certificate) => string | undefined;
  };
  /** The largest message accepted; a larger one closes the connection. */
  maxMessageBytes: number;
  /** A connection idle this long is closed. */
  idleMs: number;
  logger: Logger;
}

/**
 * A listener for HL7 v2 over MLLP: each framed message is handed over in order of arrival on its connection, and its
 * acknowledgement is framed and written back before the next is read. Bytes outside a frame are ignored (as MLLP
 * says); an address not allowed is disconnected at once; a frame too large ends its connection, not the listener.
 */
export class MllpServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(o: MllpOptions) {
    const onSocket = (socket: Socket | TLSSocket): void => {
      const remote = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
      if (!o.allowed(remote)) {
        o.logger.warn({ remote }, 'HL7 connection refused: the address is not an allowed sender');
        socket.destroy();
        return;
      }
      const check = o.tls?.clientProblem;
      if (check !== undefined && 'getPeerX509Certificate' in socket) {
        const cert = socket.getPeerX509Certificate();
        const problem = cert === undefined ? 'no client certificate' : check(cert);
        if (problem !== undefined) {
          o.logger.warn({ remote, problem }, 'HL7 connection refused: the certificate does not fit');
          socket.destroy();
          return;
        }
      }
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.setTimeout(o.idleMs, () => socket.destroy());
      socket.on('error', (err) => o.logger.debug({ remote, err: err.message }, 'HL7 connection error'));
      let buffered: Buffer[] = [];
      let size = 0;
      let inFrame = false;
      let chain = Promise.resolve();
      const tooLarge = (bytes: number): void => {
        o.logger.warn({ remote, bytes }, 'HL7 message larger than allowed; connection closed');
        socket.destroy();
      };
      socket.on('data', (chunk: Buffer) => {
        let from = 0;
        for (let i = 0; i < chunk.length; i++) {
          const b = chunk[i];
          if (!inFrame) {
            if (b === START) {
              inFrame = true;
              from = i + 1;
              buffered = [];
              size = 0;
            }
            continue;
          }
          if (b === END && (chunk[i + 1] === CR || i + 1 === chunk.length)) {
            if (size + (i - from) > o.maxMessageBytes) {
              tooLarge(size + (i - from));
              return;
            }
            buffered.push(chunk.subarray(from, i));
            const message = Buffer.concat(buffered);
            inFrame = false;
            buffered = [];
            size = 0;
            if (chunk[i + 1] === CR) i++;
            chain = chain
              .then(async () => {
                const ack = await o.handle(message, { remoteAddress: remote });
                if (!socket.destroyed)
                  socket.write(Buffer.concat([Buffer.from([START]), Buffer.from(ack, 'utf8'), Buffer.from([END, CR])]));
              })
              .catch((err: unknown) => {
                o.logger.error({ remote, err }, 'HL7 message could not be handled; connection closed');
                socket.destroy();
              });
          }
        }
        if (inFrame) {
          const rest = chunk.subarray(from);
          size += rest.length;
          if (size > o.maxMessageBytes) {
            tooLarge(size);
            return;
          }
          buffered.push(rest);
        }
      });
    };
    this.#server =
      o.tls !== undefined
        ? createTlsServer(
            {
              key: o.tls.key,
              cert: o.tls.cert,
              ca: o.tls.ca,
              requestCert: true,
              rejectUnauthorized: true,
              minVersion: 'TLSv1.2',
            },
            onSocket,
          )
        : createTcpServer(onSocket);
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        const a = this.#server.address();
        resolve(typeof a === 'object' && a !== null ? a.port : port);
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
