/**
 * Incremental reading of a data set's header, i.e. every element before Pixel Data (PS3.5 7.1; pixel data per
 * PS3.3 C.7.6.3), from chunks as they arrive (a C-STORE over the network, a file read in pieces). Only whole
 * top-level elements are kept; bytes from Pixel Data on are dropped unread.
 */
import { Dataset } from './dataset.ts';
import { inflate, requireTransferSyntax } from './dataset-codec.ts';
import { DicomError, IncompleteDataError } from './errors.ts';
import { isPixelOrLater, type ParseLimits, type ParseState, parseState, peekTag, readElement } from './parse.ts';
import type { TransferSyntaxInfo } from './transfer-syntax.ts';
import type { Vr } from './vr.ts';

const DEFAULT_MAX_HEADER_BYTES = 16 * 1024 * 1024;
/** When an element of unknown size (undefined length) is incomplete, retry after this much more data at least. */
const MIN_RETRY_GROWTH = 64 * 1024;

export class HeaderReader {
  readonly #info: TransferSyntaxInfo;
  readonly #limits: ParseLimits | undefined;
  readonly #maxHeaderBytes: number;
  #dataset = new Dataset();
  #done = false;
  /** Bytes not yet parsed into whole elements. */
  #pending: Buffer[] = [];
  #pendingLength = 0;
  /** Stream offset of the first pending byte (or of the compressed stream for deflated data). */
  #consumed = 0;
  /** Don't try again before this many bytes are pending: a parse attempt re-reads the incomplete element. */
  #retryAt = 0;
  #failure: DicomError | undefined;
  #headerLength: number | undefined;
  #pixelData: { tag: number; vr: Vr } | undefined;
  readonly #skip: ((tag: number) => boolean) | undefined;

  /**
   * `keep`, when given, names the elements wanted: the others are stepped over unread (a reader after a few keys of
   * each of thousands of files makes no objects for the hundreds of elements it does not want).
   */
  constructor(
    transferSyntaxUid: string,
    limits?: ParseLimits & { maxHeaderBytes?: number; keep?: ReadonlySet<number> },
  ) {
    this.#info = requireTransferSyntax(transferSyntaxUid);
    this.#limits = limits;
    this.#maxHeaderBytes = limits?.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    const keep = limits?.keep;
    this.#skip = keep !== undefined ? (tag) => !keep.has(tag) : undefined;
  }

  get done(): boolean {
    return this.#done;
  }

  /** Bytes of the stream before Pixel Data (or the whole data set without it); unknown for deflated data. */
  get headerLength(): number | undefined {
    return this.#headerLength;
  }

  /** The pixel data element the header ends at (Pixel Data, or Float or Double Float Pixel Data), with its VR. */
  get pixelData(): { tag: number; vr: Vr } | undefined {
    return this.#pixelData;
  }

  /** Adds the next chunk; true once the header is complete (later chunks are then ignored). */
  push(chunk: Buffer): boolean {
    if (this.#done) return true;
    if (this.#failure !== undefined) throw this.#failure;
    if (chunk.length === 0) return false;
    this.#pending.push(chunk);
    this.#pendingLength += chunk.length;
    const overLimit = this.#consumed + this.#pendingLength > this.#maxHeaderBytes;
    if (this.#pendingLength >= this.#retryAt || overLimit) this.#attempt(false);
    if (!this.#done && this.#consumed + this.#pendingLength > this.#maxHeaderBytes) {
      this.#failure = new DicomError(
        'HEADER_TOO_LARGE',
        `no pixel data within the first ${this.#maxHeaderBytes} bytes`,
        this.#consumed,
      );
      this.#pending = [];
      throw this.#failure;
    }
    return this.#done;
  }

  /** The header; throws a DicomError when the data ended inside an element. */
  end(): Dataset {
    if (this.#failure !== undefined) throw this.#failure;
    if (!this.#done) this.#attempt(true);
    this.#done = true;
    return this.#dataset;
  }

  #take(): Buffer {
    const buf =
      this.#pending.length === 1 && this.#pending[0] !== undefined
        ? this.#pending[0]
        : Buffer.concat(this.#pending, this.#pendingLength);
    this.#pending = [buf];
    return buf;
  }

  #attempt(final: boolean): void {
    try {
      if (this.#info.deflated) this.#attemptDeflated(final);
      else this.#attemptNative(final);
    } catch (err) {
      if (err instanceof DicomError) this.#failure = err;
      throw err;
    }
  }

  #attemptNative(final: boolean): void {
    const buf = this.#take();
    const state = parseState(buf, this.#consumed, this.#limits);
    const off = this.#parseFrom(state, 0, final);
    if (this.#done) {
      this.#detach(buf, off, this.#consumed);
      return;
    }
    // Keep only the incomplete tail; whole elements already reference their own slices.
    const rest = buf.subarray(off);
    this.#consumed += off;
    this.#pending = rest.length > 0 ? [rest] : [];
    this.#pendingLength = rest.length;
  }

  /**
   * Deflated data (PS3.5 A.5) cannot be resumed element by element without a streaming inflater, so each
   * attempt inflates everything received so far and parses from the start; attempts are spaced geometrically.
   */
  #attemptDeflated(final: boolean): void {
    const compressed = this.#take();
    const inflated = inflate(compressed, this.#consumed, this.#maxHeaderBytes * 4, !final);
    this.#dataset = new Dataset();
    const off = this.#parseFrom(parseState(inflated, 0, this.#limits), 0, final);
    if (this.#done) this.#detach(inflated, off, 0);
    else this.#retryAt = this.#pendingLength + Math.max(MIN_RETRY_GROWTH, this.#pendingLength >> 1);
  }

  /** Parses whole top-level elements; returns the offset of the first byte not consumed. */
  #parseFrom(state: ParseState, off: number, final: boolean): number {
    const buf = state.buf;
    const little = this.#info.littleEndian;
    while (off < buf.length) {
      const tag = peekTag(buf, off, buf.length, little);
      if (tag !== undefined && isPixelOrLater(tag)) {
        // The VR follows the tag (explicit VR): wait for it, so the pixel data's VR is the one written.
        if (this.#info.explicitVr && off + 6 > buf.length && !final) {
          this.#retryAt = 0;
          return off;
        }
        if (!this.#info.deflated) this.#headerLength = this.#consumed + off;
        this.#pixelData = pixelElementAt(buf, off, tag, this.#info.explicitVr);
        this.#finish();
        return off;
      }
      try {
        off = readElement(state, this.#dataset, off, buf.length, 0, this.#info.explicitVr, little, this.#skip);
      } catch (err) {
        if (!(err instanceof IncompleteDataError) || final) throw err;
        const needed = err.needed - this.#consumed;
        // Each retry re-reads the incomplete element, so besides waiting for the bytes known to be missing, let
        // the pending data grow by a quarter: a long undefined-length sequence then costs O(n log n), not O(n^2).
        const growth = this.#pendingLength + (this.#pendingLength >> 2);
        this.#retryAt = needed > 0 ? Math.max(needed, growth) : this.#pendingLength + MIN_RETRY_GROWTH;
        return off;
      }
    }
    if (final) {
      if (!this.#info.deflated) this.#headerLength = this.#consumed + off;
      this.#finish();
    }
    this.#retryAt = 0;
    return off;
  }

  /**
   * The elements just parsed are slices of `buf`, which may go on into pixel data: re-read them from a copy of
   * the header bytes alone, so the header never keeps a chunk of pixel data alive.
   */
  #detach(buf: Buffer, headerEnd: number, base: number): void {
    if (headerEnd >= buf.length || headerEnd === 0) return;
    const copy = Buffer.from(buf.subarray(0, headerEnd));
    const state = parseState(copy, base, this.#limits);
    for (let off = 0; off < copy.length;)
      off = readElement(
        state,
        this.#dataset,
        off,
        copy.length,
        0,
        this.#info.explicitVr,
        this.#info.littleEndian,
        this.#skip,
      );
  }

  #finish(): void {
    this.#done = true;
    this.#pending = [];
    this.#pendingLength = 0;
  }
}

/** VRs of the pixel data elements when the data set does not say (Implicit VR, PS3.5 A.1, and PS3.6). */
const PIXEL_VRS: ReadonlyMap<number, Vr> = new Map<number, Vr>([
  [0x7fe00008, 'OF'],
  [0x7fe00009, 'OD'],
  [0x7fe00010, 'OW'],
]);

function pixelElementAt(
  buf: Buffer,
  off: number,
  tag: number,
  explicitVr: boolean,
): { tag: number; vr: Vr } | undefined {
  const implied = PIXEL_VRS.get(tag);
  if (implied === undefined) return undefined;
  if (!explicitVr || off + 6 > buf.length) return { tag, vr: implied };
  const written = buf.toString('latin1', off + 4, off + 6);
  return { tag, vr: written === 'OB' || written === 'OW' || written === 'OF' || written === 'OD' ? written : implied };
}
