/**
 * One DICOM upper-layer association over a socket (PS3.8 9.2 state machine, states named Sta1..Sta13), shared by
 * the acceptor (server) and the requestor (client): PDU framing, DIMSE message assembly from PDVs (PS3.7 6.3,
 * PS3.8 Annex E), response routing by Message ID, serialized sending with fragmentation to the peer's max PDU,
 * release and abort.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { type Command, decodeCommand, encodeCommand, hasDataSet, isResponse } from './command-set.ts';
import { DimseProtocolError, type DimseErrorCode } from './errors.ts';
import { IncomingData } from './incoming-data.ts';
import {
  encodeAbort,
  encodePDataHeader,
  encodePDataPairHeaders,
  encodeReleaseRp,
  encodeReleaseRq,
} from './pdu-codec.ts';
import { PduReader } from './pdu-reader.ts';
import { AbortReason, AbortSource, type ControlPdu, PduType } from './pdu-types.ts';
import type { NegotiatedContext } from './presentation-context.ts';

export type UlState = 'Sta1' | 'Sta2' | 'Sta3' | 'Sta5' | 'Sta6' | 'Sta7' | 'Sta13';

export interface IncomingMessage {
  context: NegotiatedContext;
  command: Command;
  data?: IncomingData;
}

export interface ResponseListener {
  message(msg: IncomingMessage): void;
  fail(err: Error): void;
}

export interface UpperLayerOptions {
  maxPduLength: number;
  maxCommandBytes: number;
  logger: Logger;
  idleMs?: number;
}

/** When the peer advertises no limit (0), we still send PDUs of a sane size. */
const DEFAULT_SEND_PDU = 1024 * 1024;

const ABORT_REASON: Partial<Record<DimseErrorCode, number>> = {
  UNKNOWN_PDU_TYPE: AbortReason.UnrecognizedPdu,
  UNEXPECTED_PDU: AbortReason.UnexpectedPdu,
  INVALID_PDU_PARAMETER: AbortReason.InvalidPduParameterValue,
  INVALID_PDU_ITEM: AbortReason.InvalidPduParameterValue,
  PDU_BAD_LENGTH: AbortReason.InvalidPduParameterValue,
  PDU_TOO_LARGE: AbortReason.InvalidPduParameterValue,
  PDU_ZERO_LENGTH: AbortReason.InvalidPduParameterValue,
  UNKNOWN_PRESENTATION_CONTEXT: AbortReason.InvalidPduParameterValue,
  UNEXPECTED_PDV: AbortReason.UnexpectedPduParameter,
};

export class UpperLayer {
  state: UlState;
  readonly socket: Socket;
  log: Logger;
  readonly contexts = new Map<number, NegotiatedContext>();
  peerMaxPdu = 0;
  /** aborted when the association ends for any reason; operations watch it */
  readonly ended: AbortSignal;
  onControl: (pdu: ControlPdu) => void = () => undefined;
  onRequest: (msg: IncomingMessage) => void = () => undefined;
  private readonly endController = new AbortController();
  private readonly reader: PduReader;
  private readonly maxCommandBytes: number;
  private readonly listeners = new Map<number, ResponseListener>();
  private cmdParts: Buffer[] = [];
  private cmdBytes = 0;
  private cmdContext = -1;
  private pdvCommand = false;
  private pdvLast = false;
  private current: IncomingMessage | undefined;
  private sendLock: Promise<void> = Promise.resolve();
  private releaseWaiter: (() => void) | undefined;
  private endError: Error | undefined;
  private releasedOrderly = false;
  readonly closed: Promise<void>;

  constructor(socket: Socket, state: UlState, o: UpperLayerOptions) {
    this.socket = socket;
    this.state = state;
    this.log = o.logger;
    this.maxCommandBytes = o.maxCommandBytes;
    this.ended = this.endController.signal;
    this.reader = new PduReader(this, { maxPduLength: o.maxPduLength });
    socket.setNoDelay(true);
    this.closed = new Promise<void>((resolve) =>
      socket.once('close', () => {
        if (this.reader.inPdu && this.state !== 'Sta13' && this.state !== 'Sta1') {
          this.log.warn({ reason: 'PDU_TRUNCATED' }, 'connection closed inside a PDU');
          this.endError ??= new DimseProtocolError('PDU_TRUNCATED', 'connection closed inside a PDU');
        }
        // A closed transport is Sta1 whatever we were doing: nothing may wait on it any more (PS3.8 9.2, AA-4/AA-5).
        this.state = 'Sta1';
        this.finish(this.endError ?? new DimseProtocolError('CONNECTION_CLOSED', 'connection closed'));
        resolve();
      }),
    );
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.log.debug({ err }, 'socket error');
      this.endError ??= new DimseProtocolError('CONNECTION_CLOSED', `connection error: ${err.message}`, { cause: err });
    });
    if (o.idleMs !== undefined && o.idleMs > 0) {
      socket.setTimeout(o.idleMs, () => this.abortWith(new DimseProtocolError('TIMEOUT', 'association idle timeout')));
    }
  }

  get endReason(): Error | undefined {
    return this.endError;
  }

  /** Ended by an orderly A-RELEASE (not an abort, a dropped connection or a timeout). */
  get released(): boolean {
    return this.releasedOrderly;
  }

  /** The association is established (Sta6): P-DATA flows. */
  establish(contexts: Iterable<NegotiatedContext>, peerMaxPdu: number): void {
    for (const c of contexts) this.contexts.set(c.id, c);
    this.peerMaxPdu = peerMaxPdu;
    this.state = 'Sta6';
    this.reader.acceptData = true;
  }

  private onData(chunk: Buffer): void {
    try {
      this.reader.push(chunk);
    } catch (err) {
      const e =
        err instanceof DimseProtocolError
          ? err
          : new DimseProtocolError('INVALID_PDU_ITEM', String(err), { cause: err });
      this.abortWith(e);
    }
  }

  /** Sends A-ABORT (service provider, reason from the error) and ends the association; logs the stable reason. */
  abortWith(err: DimseProtocolError, source: number = AbortSource.ServiceProvider): void {
    if (this.state === 'Sta13' || this.state === 'Sta1') return;
    this.log.warn({ reason: err.code, detail: err.message }, 'association aborted');
    this.endError ??= err;
    this.sendAbort(source, ABORT_REASON[err.code] ?? AbortReason.NotSpecified);
  }

  sendAbort(source: number, reason: number): void {
    if (this.state === 'Sta13' || this.state === 'Sta1') return;
    this.state = 'Sta13';
    this.reader.acceptData = false;
    this.endError ??= new DimseProtocolError('ASSOCIATION_ABORTED', 'association aborted locally');
    this.finish(this.endError);
    this.closeAfter(encodeAbort({ source, reason }));
  }

  /** Writes a final PDU, half-closes, and destroys the socket if the peer does not close it (ARTIM, PS3.8 9.1.5). */
  closeAfter(pdu: Buffer | undefined): void {
    this.state = 'Sta13';
    this.reader.acceptData = false;
    if (!this.socket.destroyed) {
      if (pdu !== undefined) this.socket.end(pdu);
      else this.socket.end();
      setTimeout(() => this.socket.destroy(), 2000).unref();
    }
  }

  destroy(): void {
    this.state = 'Sta1';
    this.socket.destroy();
  }

  private finish(err: Error): void {
    if (!this.endController.signal.aborted) this.endController.abort(err);
    this.current?.data?.fail(err);
    for (const l of this.listeners.values()) l.fail(err);
    this.listeners.clear();
    this.releaseWaiter?.();
  }

  // ---- PduSink -------------------------------------------------------------------------------------------------

  control(pdu: ControlPdu): void {
    if (pdu.type === PduType.Abort) {
      this.log.info(
        { reason: 'PEER_ABORT', source: pdu.abort.source, abortReason: pdu.abort.reason },
        'peer aborted the association',
      );
      this.endError ??= new DimseProtocolError(
        'ASSOCIATION_ABORTED',
        `peer sent A-ABORT (source ${pdu.abort.source}, reason ${pdu.abort.reason})`,
      );
      this.state = 'Sta1';
      this.reader.acceptData = false;
      this.finish(this.endError);
      this.socket.destroy();
      return;
    }
    if (this.state === 'Sta6' && pdu.type === PduType.ReleaseRq) {
      this.log.debug('release requested by peer');
      this.releasedOrderly = this.endError === undefined;
      this.endError ??= new DimseProtocolError('CONNECTION_CLOSED', 'association released');
      this.finish(this.endError);
      this.closeAfter(encodeReleaseRp());
      return;
    }
    if (this.state === 'Sta7' && (pdu.type === PduType.ReleaseRp || pdu.type === PduType.ReleaseRq)) {
      // A release collision (PS3.8 9.2.4) is settled the same way for us: answer and close.
      if (pdu.type === PduType.ReleaseRq) this.socket.write(encodeReleaseRp());
      this.releasedOrderly = this.endError === undefined;
      this.endError ??= new DimseProtocolError('CONNECTION_CLOSED', 'association released');
      this.closeAfter(undefined);
      this.releaseWaiter?.();
      return;
    }
    if (this.state === 'Sta6' || this.state === 'Sta7' || this.state === 'Sta13') {
      throw new DimseProtocolError('UNEXPECTED_PDU', `PDU type ${pdu.type} not allowed in ${this.state}`);
    }
    this.onControl(pdu);
  }

  pdvStart(contextId: number, isCommand: boolean, isLast: boolean): void {
    if (!this.contexts.has(contextId)) {
      throw new DimseProtocolError(
        'UNKNOWN_PRESENTATION_CONTEXT',
        `PDV for presentation context ${contextId} that was not accepted`,
      );
    }
    if (this.current === undefined) {
      if (!isCommand) throw new DimseProtocolError('UNEXPECTED_PDV', 'data set fragment where a command was expected');
      if (this.cmdParts.length > 0 && contextId !== this.cmdContext)
        throw new DimseProtocolError('UNEXPECTED_PDV', 'command fragments on different presentation contexts');
      this.cmdContext = contextId;
    } else if (isCommand || contextId !== this.current.context.id) {
      throw new DimseProtocolError('UNEXPECTED_PDV', 'command fragment or other context inside a data set');
    }
    this.pdvCommand = isCommand;
    this.pdvLast = isLast;
  }

  pdvData(chunk: Buffer): void {
    if (this.pdvCommand) {
      this.cmdBytes += chunk.length;
      if (this.cmdBytes > this.maxCommandBytes)
        throw new DimseProtocolError('COMMAND_TOO_LARGE', `command set larger than ${this.maxCommandBytes} bytes`);
      this.cmdParts.push(chunk);
    } else {
      this.current?.data?.push(chunk);
    }
  }

  pdvEnd(): void {
    if (!this.pdvLast) return;
    if (!this.pdvCommand) {
      const msg = this.current;
      this.current = undefined;
      msg?.data?.end();
      return;
    }
    const bytes = Buffer.concat(this.cmdParts, this.cmdBytes);
    this.cmdParts = [];
    this.cmdBytes = 0;
    const command = decodeCommand(bytes);
    const context = this.contexts.get(this.cmdContext);
    if (context === undefined)
      throw new DimseProtocolError('UNKNOWN_PRESENTATION_CONTEXT', 'command on an unknown context');
    const msg: IncomingMessage = { context, command };
    if (hasDataSet(command)) {
      msg.data = new IncomingData(this.socket);
      this.current = msg;
    }
    this.dispatch(msg);
  }

  private dispatch(msg: IncomingMessage): void {
    if (!isResponse(msg.command)) {
      this.onRequest(msg);
      return;
    }
    const id = msg.command.messageIdBeingRespondedTo ?? -1;
    const l = this.listeners.get(id);
    if (l === undefined) {
      this.log.warn({ reason: 'UNEXPECTED_RESPONSE', messageId: id }, 'response to no outstanding request ignored');
      msg.data?.discard();
      return;
    }
    l.message(msg);
  }

  // ---- sending -------------------------------------------------------------------------------------------------

  listen(messageId: number, l: ResponseListener): void {
    if (this.endController.signal.aborted) {
      l.fail(this.endError ?? new DimseProtocolError('CONNECTION_CLOSED', 'association ended'));
      return;
    }
    this.listeners.set(messageId, l);
  }

  unlisten(messageId: number): void {
    this.listeners.delete(messageId);
  }

  private get maxData(): number {
    const max = this.peerMaxPdu > 0 ? Math.min(this.peerMaxPdu, DEFAULT_SEND_PDU * 16) : DEFAULT_SEND_PDU;
    return Math.max(max - 6, 1);
  }

  /** Sends one DIMSE message: the command set, then the data set if given, never interleaved with another message. */
  async send(contextId: number, command: Command, data?: Buffer | AsyncIterable<Buffer>): Promise<void> {
    const prev = this.sendLock;
    let unlock!: () => void;
    this.sendLock = new Promise<void>((r) => (unlock = r));
    await prev;
    try {
      this.assertOpen();
      const commandBytes = encodeCommand(command);
      if (Buffer.isBuffer(data) && this.fitsOnePdu(commandBytes.length + 6 + data.length + 6)) {
        // A response with a small data set (a C-FIND match, a C-GET's list of failed instances) goes in one PDU. A
        // requestor that reads the command and not the data set (DCMTK's getscu, after a C-GET's final response)
        // then finds no P-DATA PDU in its way when it releases the association.
        await this.writePair(contextId, commandBytes, data);
        return;
      }
      await this.writeFragments(contextId, true, [commandBytes]);
      if (data !== undefined) {
        try {
          await this.writeFragments(contextId, false, Buffer.isBuffer(data) ? [data] : data);
        } catch (err) {
          // Part of the message is on the wire and a DIMSE message cannot be withdrawn: only A-ABORT keeps the
          // peer from reading the next message as the rest of this one (PS3.8 9.3.5).
          if (this.state === 'Sta6')
            this.abortWith(
              new DimseProtocolError(
                'ASSOCIATION_ABORTED',
                `data set source failed mid-message: ${err instanceof Error ? err.message : String(err)}`,
              ),
              AbortSource.ServiceUser,
            );
          throw err;
        }
      }
    } finally {
      unlock();
    }
  }

  private assertOpen(): void {
    if (this.state !== 'Sta6' || this.socket.destroyed) {
      throw this.endError ?? new DimseProtocolError('CONNECTION_CLOSED', 'association is not established');
    }
  }

  /** Splits a byte stream into PDVs of at most the peer's max PDU; the last PDV carries the last-fragment bit. */
  private async writeFragments(
    contextId: number,
    isCommand: boolean,
    source: Iterable<Buffer> | AsyncIterable<Buffer>,
  ): Promise<void> {
    const max = this.maxData;
    let pending: Buffer[] = [];
    let total = 0;
    for await (const chunk of source) {
      if (chunk.length === 0) continue;
      pending.push(chunk);
      total += chunk.length;
      while (total > max) {
        const take: Buffer[] = [];
        let need = max;
        while (need > 0) {
          const head = pending[0];
          if (head === undefined) break;
          if (head.length <= need) {
            take.push(head);
            need -= head.length;
            pending.shift();
          } else {
            take.push(head.subarray(0, need));
            pending[0] = head.subarray(need);
            need = 0;
          }
        }
        total -= max;
        await this.writePdv(contextId, isCommand, false, take, max);
      }
    }
    await this.writePdv(contextId, isCommand, true, pending, total);
    pending = [];
  }

  /** Whether a P-DATA-TF PDU whose variable field has `length` bytes is within what the peer takes. */
  private fitsOnePdu(length: number): boolean {
    return length <= this.maxData + 6;
  }

  private async writePair(contextId: number, command: Buffer, data: Buffer): Promise<void> {
    const [pdu, commandHeader, dataHeader] = encodePDataPairHeaders(contextId, command.length, data.length);
    const s = this.socket;
    s.cork();
    for (const piece of [pdu, commandHeader, command, dataHeader, data]) s.write(piece);
    s.uncork();
    if (s.writableNeedDrain) await this.drained();
  }

  /** One PDU per write: header and payload pieces go out corked, so the kernel sees them together. */
  private async writePdv(
    contextId: number,
    isCommand: boolean,
    isLast: boolean,
    pieces: Buffer[],
    length: number,
  ): Promise<void> {
    this.assertOpen();
    const s = this.socket;
    s.cork();
    s.write(encodePDataHeader(contextId, isCommand, isLast, length));
    for (const p of pieces) s.write(p);
    s.uncork();
    if (s.writableNeedDrain) await this.drained();
  }

  private drained(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        if (this.socket.destroyed)
          reject(this.endError ?? new DimseProtocolError('CONNECTION_CLOSED', 'connection closed while sending'));
        else resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** A-RELEASE-RQ, then waits for A-RELEASE-RP (or the end of the connection, at most `timeoutMs`). */
  async release(timeoutMs = 10_000): Promise<void> {
    if (this.state !== 'Sta6' || this.socket.destroyed) return;
    await this.sendLock;
    if (this.state !== 'Sta6' || this.socket.destroyed) return;
    this.state = 'Sta7';
    const rp = new Promise<void>((resolve) => {
      this.releaseWaiter = resolve;
    });
    this.socket.write(encodeReleaseRq());
    const timer = setTimeout(() => this.socket.destroy(), timeoutMs);
    await rp;
    clearTimeout(timer);
    await this.closed;
  }
}
