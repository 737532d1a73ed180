/**
 * Incremental PDU parser for the socket stream (PS3.8 9.3.1, 9.3.5). Control PDUs are collected whole (they are
 * small and capped); P-DATA-TF PDUs are not: each PDV is announced by its header and its value is handed on as
 * subarray views of the socket chunks as they arrive, so dataset bytes are never copied or buffered here.
 * A declared length is checked against our limits before anything is allocated for it.
 */
import { decodeControlPdu } from './pdu-codec.ts';
import { DimseProtocolError } from './errors.ts';
import { type ControlPdu, PduType } from './pdu-types.ts';

export interface PduSink {
  control(pdu: ControlPdu): void;
  pdvStart(contextId: number, isCommand: boolean, isLast: boolean): void;
  pdvData(chunk: Buffer): void;
  pdvEnd(): void;
}

export interface PduReaderOptions {
  /** the maximum P-DATA-TF variable-field length we advertised */
  maxPduLength: number;
  /** cap for A-ASSOCIATE-RQ/AC bodies */
  maxControlPduLength?: number;
}

type State = 'pduHeader' | 'control' | 'pdvHeader' | 'pdvData';

/** item length (4) + presentation context id (1) + message control header (1) */
const MIN_PDV_ITEM = 6;

export class PduReader {
  /** P-DATA-TF is only valid once the association is established (PS3.8 9.2 state table). */
  acceptData = false;
  maxPduLength: number;
  private readonly maxControl: number;
  private readonly sink: PduSink;
  private state: State = 'pduHeader';
  private readonly head = Buffer.alloc(6);
  private headLen = 0;
  private controlType = 0;
  private control: Buffer = Buffer.alloc(0);
  private controlLen = 0;
  private pduRemaining = 0;
  private pdvRemaining = 0;
  private failed = false;

  constructor(sink: PduSink, o: PduReaderOptions) {
    this.sink = sink;
    this.maxPduLength = o.maxPduLength;
    this.maxControl = o.maxControlPduLength ?? 256 * 1024;
  }

  /** True while part of a PDU has been read: a connection closing now ended inside a PDU. */
  get inPdu(): boolean {
    return this.state !== 'pduHeader' || this.headLen > 0;
  }

  /** Feeds one socket chunk; throws DimseProtocolError on malformed input (and stays failed). */
  push(chunk: Buffer): void {
    if (this.failed) return;
    try {
      this.consume(chunk);
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  private fillHead(chunk: Buffer, off: number, need: number): number {
    const n = Math.min(need - this.headLen, chunk.length - off);
    chunk.copy(this.head, this.headLen, off, off + n);
    this.headLen += n;
    return off + n;
  }

  private consume(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      switch (this.state) {
        case 'pduHeader': {
          off = this.fillHead(chunk, off, 6);
          if (this.headLen < 6) return;
          this.headLen = 0;
          this.startPdu(this.head[0] ?? 0, this.head.readUInt32BE(2));
          break;
        }
        case 'control': {
          const n = Math.min(this.control.length - this.controlLen, chunk.length - off);
          chunk.copy(this.control, this.controlLen, off, off + n);
          this.controlLen += n;
          off += n;
          if (this.controlLen === this.control.length) {
            this.state = 'pduHeader';
            this.sink.control(decodeControlPdu(this.controlType, this.control));
          }
          break;
        }
        case 'pdvHeader': {
          // The item length is judged as soon as its 4 bytes are in: a bad one (below 2, or past the PDU end) would
          // otherwise leave us waiting for header bytes the peer never sends, until the idle timeout.
          if (this.headLen < 4) {
            off = this.fillHead(chunk, off, 4);
            if (this.headLen < 4) return;
            this.checkItemLength(this.head.readUInt32BE(0));
          }
          off = this.fillHead(chunk, off, 6);
          if (this.headLen < 6) return;
          this.headLen = 0;
          const itemLength = this.head.readUInt32BE(0);
          this.pduRemaining -= itemLength + 4;
          this.pdvRemaining = itemLength - 2;
          const mch = this.head[5] ?? 0;
          this.sink.pdvStart(this.head[4] ?? 0, (mch & 1) === 1, (mch & 2) === 2);
          if (this.pdvRemaining === 0) this.endPdv();
          else this.state = 'pdvData';
          break;
        }
        case 'pdvData': {
          const n = Math.min(this.pdvRemaining, chunk.length - off);
          const view = off === 0 && n === chunk.length ? chunk : chunk.subarray(off, off + n);
          off += n;
          this.pdvRemaining -= n;
          this.sink.pdvData(view);
          if (this.pdvRemaining === 0) this.endPdv();
          break;
        }
      }
    }
  }

  /** A PDV item holds at least the context id and the message control header (PS3.8 9.3.5.1) and ends in its PDU. */
  private checkItemLength(itemLength: number): void {
    if (itemLength < 2)
      throw new DimseProtocolError(
        'PDU_BAD_LENGTH',
        `PDV item length ${itemLength} is below the 2 bytes of its header`,
      );
    if (itemLength + 4 > this.pduRemaining) {
      throw new DimseProtocolError(
        'PDU_BAD_LENGTH',
        `PDV item length ${itemLength} runs past the end of its P-DATA-TF PDU (${this.pduRemaining - 4} bytes left)`,
      );
    }
  }

  private endPdv(): void {
    this.enterPdvHeaderOrNextPdu();
    this.sink.pdvEnd();
  }

  /** Bytes left in a P-DATA-TF that cannot hold another PDV item header are refused now, not waited for. */
  private enterPdvHeaderOrNextPdu(): void {
    if (this.pduRemaining === 0) {
      this.state = 'pduHeader';
      return;
    }
    if (this.pduRemaining < MIN_PDV_ITEM) {
      throw new DimseProtocolError(
        'PDU_BAD_LENGTH',
        `${this.pduRemaining} bytes left in the P-DATA-TF PDU, too few for a PDV item`,
      );
    }
    this.state = 'pdvHeader';
  }

  private startPdu(type: number, length: number): void {
    if (type === PduType.PData) {
      if (!this.acceptData)
        throw new DimseProtocolError('UNEXPECTED_PDU', 'P-DATA-TF outside an established association');
      if (length === 0) throw new DimseProtocolError('PDU_ZERO_LENGTH', 'P-DATA-TF without PDVs');
      if (this.maxPduLength > 0 && length > this.maxPduLength) {
        throw new DimseProtocolError(
          'PDU_TOO_LARGE',
          `P-DATA-TF length ${length} exceeds the negotiated maximum ${this.maxPduLength}`,
        );
      }
      this.pduRemaining = length;
      this.enterPdvHeaderOrNextPdu();
      return;
    }
    if (type < PduType.AssociateRq || type > PduType.Abort) {
      throw new DimseProtocolError('UNKNOWN_PDU_TYPE', `unknown PDU type 0x${type.toString(16).padStart(2, '0')}`);
    }
    if (length === 0) throw new DimseProtocolError('PDU_ZERO_LENGTH', `PDU type ${type} with zero length`);
    const fixed = type === PduType.AssociateRq || type === PduType.AssociateAc ? undefined : 4;
    if (fixed !== undefined && length !== fixed)
      throw new DimseProtocolError('PDU_BAD_LENGTH', `PDU type ${type} must have length ${fixed}, has ${length}`);
    if (length > this.maxControl)
      throw new DimseProtocolError('PDU_TOO_LARGE', `PDU type ${type} length ${length} exceeds ${this.maxControl}`);
    this.controlType = type;
    this.control = Buffer.allocUnsafe(length);
    this.controlLen = 0;
    this.state = 'control';
  }
}
