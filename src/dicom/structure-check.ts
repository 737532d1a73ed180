/**
 * Checks the structure of a whole data set as it streams past, without keeping a byte of it: element and item headers
 * are read, values are counted off. A data set that ends inside a value, an item or a sequence (a sender that declared
 * 500 MB of pixel data and sent 64 bytes) is then refused, where the header before Pixel Data alone would have looked
 * complete. Memory stays at a few bytes whatever the lengths say.
 */
import { DicomError } from './errors.ts';
import { requireTransferSyntax } from './dataset-codec.ts';
import { MAX_DEPTH } from './parse.ts';
import { LONG_LENGTH_VRS, vrFromBytes } from './vr.ts';

const ITEM = 0xfffee000;
const ITEM_DELIMITATION = 0xfffee00d;
const SEQUENCE_DELIMITATION = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;
const UNDEFINED = 0xffffffff;

/** Where in the structure the next header belongs. */
type Frame =
  /** Elements until the data ends. */
  | { kind: 'data-set' }
  /** Elements until an item delimiter (an item of undefined length). */
  | { kind: 'item'; implicit: boolean }
  /** Items until a sequence delimiter (a sequence of undefined length). */
  | { kind: 'items'; implicit: boolean }
  /** Fragments (items of defined length) until a sequence delimiter: encapsulated Pixel Data. */
  | { kind: 'fragments' };

export class StructureCheck {
  readonly #explicit: boolean;
  readonly #little: boolean;
  readonly #stack: Frame[] = [{ kind: 'data-set' }];
  readonly #head = Buffer.alloc(12);
  #headLength = 0;
  /** Value bytes still to count off. */
  #skip = 0;
  /** Stream offset of the next byte, for error messages. */
  #offset = 0;

  /** Whether this transfer syntax can be checked as it streams: not when deflated (PS3.5 A.5), where the inflater checks. */
  static applies(transferSyntaxUid: string): boolean {
    return !requireTransferSyntax(transferSyntaxUid).deflated;
  }

  constructor(transferSyntaxUid: string) {
    const info = requireTransferSyntax(transferSyntaxUid);
    this.#explicit = info.explicitVr;
    this.#little = info.littleEndian;
  }

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
        this.#offset += n;
        continue;
      }
      const need = this.#headerSize();
      const n = Math.min(need - this.#headLength, chunk.length - i);
      chunk.copy(this.#head, this.#headLength, i, i + n);
      this.#headLength += n;
      i += n;
      this.#offset += n;
      // The VR (explicit) decides whether the header is 8 or 12 bytes: look again once it is in.
      if (this.#headLength === need && this.#headerSize() === need) this.#header();
    }
  }

  /** Throws when the data ended inside a value, an item or a sequence. */
  end(): void {
    const open = this.#stack.at(-1)!;
    if (this.#skip > 0 || this.#headLength > 0 || open.kind !== 'data-set') {
      const inside =
        this.#skip > 0
          ? `${this.#skip} bytes short of a value's declared length`
          : this.#headLength > 0
            ? 'inside an element header'
            : `inside ${open.kind === 'fragments' ? 'encapsulated pixel data' : 'a sequence'}`;
      throw new DicomError('TRUNCATED', `the data set ends ${inside}`, this.#offset);
    }
  }

  #inElements(): boolean {
    const k = this.#stack.at(-1)!.kind;
    return k === 'data-set' || k === 'item';
  }

  #implicit(): boolean {
    const top = this.#stack.at(-1)!;
    return !this.#explicit || (top.kind !== 'data-set' && top.kind !== 'fragments' && top.implicit);
  }

  #tag(): number {
    const h = this.#head;
    return this.#little
      ? ((h.readUInt16LE(0) << 16) | h.readUInt16LE(2)) >>> 0
      : ((h.readUInt16BE(0) << 16) | h.readUInt16BE(2)) >>> 0;
  }

  /** 8 bytes for items, delimiters and implicit VR; 12 for an explicit VR with a 32-bit length (PS3.5 7.1.2). */
  #headerSize(): number {
    if (this.#headLength < 6 || !this.#inElements() || this.#implicit() || this.#tag() >>> 16 === 0xfffe) return 8;
    const vr = vrFromBytes(this.#head[4]!, this.#head[5]!);
    return vr !== undefined && LONG_LENGTH_VRS.has(vr) ? 12 : 8;
  }

  #u32(at: number): number {
    return this.#little ? this.#head.readUInt32LE(at) : this.#head.readUInt32BE(at);
  }

  #header(): void {
    const tag = this.#tag();
    const at = this.#offset - this.#headLength;
    this.#headLength = 0;
    const frame = this.#stack.at(-1)!;
    if (tag >>> 16 === 0xfffe) {
      const length = this.#u32(4);
      if (tag === ITEM_DELIMITATION && frame.kind === 'item') return void this.#stack.pop();
      if (tag === SEQUENCE_DELIMITATION && (frame.kind === 'items' || frame.kind === 'fragments'))
        return void this.#stack.pop();
      if (tag === ITEM && frame.kind === 'fragments' && length !== UNDEFINED) return void (this.#skip = length);
      if (tag === ITEM && frame.kind === 'items') {
        if (length !== UNDEFINED) return void (this.#skip = length);
        return this.#enter({ kind: 'item', implicit: frame.implicit }, at);
      }
      throw new DicomError('BAD_ITEM', `${tagText(tag)} does not belong here (in ${frame.kind})`, at);
    }
    if (!this.#inElements()) throw new DicomError('BAD_ITEM', `an item was expected, found ${tagText(tag)}`, at);
    let vr: string | undefined;
    let length: number;
    if (this.#implicit()) length = this.#u32(4);
    else {
      vr = vrFromBytes(this.#head[4]!, this.#head[5]!);
      if (vr === undefined) throw new DicomError('BAD_VR', `${tagText(tag)} has no valid VR`, at);
      length = LONG_LENGTH_VRS.has(vr as never)
        ? this.#u32(8)
        : this.#little
          ? this.#head.readUInt16LE(6)
          : this.#head.readUInt16BE(6);
    }
    if (length !== UNDEFINED) return void (this.#skip = length);
    if (tag === PIXEL_DATA && vr !== 'SQ') return this.#enter({ kind: 'fragments' }, at);
    if (vr === undefined || vr === 'SQ' || vr === 'UN')
      return this.#enter({ kind: 'items', implicit: this.#implicit() || vr === 'UN' }, at);
    throw new DicomError('BAD_VR', `${tagText(tag)} (${vr}) cannot have an undefined length`, at);
  }

  #enter(frame: Frame, at: number): void {
    if (this.#stack.length >= MAX_DEPTH)
      throw new DicomError('TOO_DEEP', `more than ${MAX_DEPTH} nested sequences`, at);
    this.#stack.push(frame);
  }
}

/** Only for error messages: built per element it was a third of what checking a CT image allocated. */
function tagText(tag: number): string {
  return `(${(tag >>> 16).toString(16).padStart(4, '0')},${(tag & 0xffff).toString(16).padStart(4, '0')})`;
}
