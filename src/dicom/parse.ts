/**
 * Data set parser for the native encodings (PS3.5 section 7): explicit and implicit VR, little and big endian,
 * sequences and items of defined and undefined length (7.5), encapsulated pixel data as fragments (A.4).
 * Values are sliced from the input, not copied (big-endian binary values are the exception: they are swapped into
 * a copy). Nothing is allocated for a declared length before the bytes are there.
 */
import { Dataset, type Element } from './dataset.ts';
import { DicomError, type DicomErrorCode, IncompleteDataError } from './errors.ts';
import { vrOf } from './dictionary.ts';
import { BINARY_UNIT, LONG_LENGTH_VRS, vrFromBytes, type Vr } from './vr.ts';

export interface ParseLimits {
  /** Deepest sequence nesting accepted; default 32, at most MAX_DEPTH whatever is asked. */
  maxDepth?: number;
  /** Largest value length accepted; default 1 GiB. */
  maxElementLength?: number;
  /** Most sequence items and fragments accepted in one parse; default 1 000 000. */
  maxItems?: number;
  /** Largest size a deflated data set may inflate to (PS3.5 A.5) when parsed whole; default 256 MiB. */
  maxInflatedLength?: number;
}

/** The parser recurses per sequence level; past a few thousand levels the stack runs out, so no limit goes beyond this. */
export const MAX_DEPTH = 256;

const ITEM = 0xfffee000;
const SEQUENCE_DELIMITATION = 0xfffee0dd;
const UNDEFINED = 0xffffffff;
/** Float, double float and integer pixel data (7FE0,0008/0009/0010) and everything after them. */
const FIRST_PIXEL_TAG = 0x7fe00008;

export interface ParseState {
  readonly buf: Buffer;
  /** Added to offsets in errors, so they point into the caller's stream or file. */
  readonly base: number;
  readonly maxDepth: number;
  readonly maxElementLength: number;
  readonly maxItems: number;
  items: number;
}

export function parseState(buf: Buffer, base: number, limits: ParseLimits | undefined): ParseState {
  return {
    buf,
    base,
    maxDepth: Math.min(limits?.maxDepth ?? 32, MAX_DEPTH),
    maxElementLength: limits?.maxElementLength ?? 1024 * 1024 * 1024,
    maxItems: limits?.maxItems ?? 1_000_000,
    items: 0,
  };
}

function fail(s: ParseState, code: DicomErrorCode, message: string, off: number, bound: number, needed = 0): never {
  // Only a shortfall at the very end of the input can be cured by more data (an incremental reader waits for it).
  if (bound >= s.buf.length)
    throw new IncompleteDataError(code, message, s.base + off, needed === 0 ? 0 : s.base + needed);
  throw new DicomError(code, message, s.base + off);
}

function u16(buf: Buffer, off: number, little: boolean): number {
  return little ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
}
function u32(buf: Buffer, off: number, little: boolean): number {
  return little ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
}

function swapped(bytes: Buffer, unit: 2 | 4 | 8): Buffer {
  const copy = Buffer.from(bytes);
  const whole = copy.length - (copy.length % unit);
  const view = copy.subarray(0, whole);
  if (unit === 2) view.swap16();
  else if (unit === 4) view.swap32();
  else view.swap64();
  return copy;
}

/** Tag at `off` (unsigned), or undefined when fewer than 4 bytes remain before `end`. */
export function peekTag(buf: Buffer, off: number, end: number, little: boolean): number | undefined {
  if (off + 4 > end) return undefined;
  return u16(buf, off, little) * 0x10000 + u16(buf, off + 2, little);
}

export function isPixelOrLater(tag: number): boolean {
  return tag >= FIRST_PIXEL_TAG;
}

/**
 * Reads one element at `off` into `ds` and returns the offset after it. An item delimiter is only valid as the
 * end of an undefined-length item; the caller handles it before calling here. An element of defined length that
 * `skip` names is stepped over unread (only a sequence of undefined length has to be read to find its end).
 */
export function readElement(
  s: ParseState,
  ds: Dataset,
  off: number,
  end: number,
  depth: number,
  explicit: boolean,
  little: boolean,
  skip?: (tag: number) => boolean,
): number {
  const buf = s.buf;
  if (off + 8 > end) fail(s, 'TRUNCATED', 'data ends inside an element header', off, end, off + 12);
  const group = u16(buf, off, little);
  const tag = group * 0x10000 + u16(buf, off + 2, little);
  if (group === 0xfffe) fail(s, 'BAD_ITEM', `item tag ${tagText(tag)} where a data element belongs`, off, -1);
  let vr: Vr;
  let length: number;
  let headerLength: number;
  if (explicit) {
    const found = vrFromBytes(buf[off + 4] ?? 0, buf[off + 5] ?? 0);
    if (found === undefined) {
      throw new DicomError(
        'BAD_VR',
        `invalid VR bytes ${buf.subarray(off + 4, off + 6).toString('hex')} for ${tagText(tag)}`,
        s.base + off + 4,
      );
    }
    vr = found;
    if (LONG_LENGTH_VRS.has(vr)) {
      if (off + 12 > end) fail(s, 'TRUNCATED', 'data ends inside an element header', off, end, off + 12);
      length = u32(buf, off + 8, little);
      headerLength = 12;
    } else {
      length = u16(buf, off + 6, little);
      headerLength = 8;
    }
  } else {
    length = u32(buf, off + 4, little);
    headerLength = 8;
    vr = vrOf(tag) ?? (length === UNDEFINED ? 'SQ' : 'UN');
  }
  const valueStart = off + headerLength;

  if (length === UNDEFINED) {
    if (vr === 'SQ' || vr === 'UN') {
      // UN of undefined length holds a sequence encoded in implicit VR little endian (PS3.5 6.2.2 note 4).
      const implicitInside = vr === 'UN';
      const items: Dataset[] = [];
      const after = readItems(
        s,
        items,
        valueStart,
        end,
        depth + 1,
        implicitInside ? false : explicit,
        implicitInside ? true : little,
        true,
        off,
      );
      ds.setElement({ tag, vr: 'SQ', items });
      return after;
    }
    if (vr === 'OB' || vr === 'OW') {
      const fragments: Buffer[] = [];
      const after = readFragments(s, fragments, valueStart, end, little, off);
      ds.setElement({ tag, vr: 'OB', fragments });
      return after;
    }
    throw new DicomError('BAD_VR', `${tagText(tag)} has VR ${vr}, which cannot have an undefined length`, s.base + off);
  }
  if ((length & 1) === 1) throw new DicomError('ODD_LENGTH', `${tagText(tag)} has odd length ${length}`, s.base + off);
  if (length > s.maxElementLength) {
    throw new DicomError(
      'ELEMENT_TOO_LARGE',
      `${tagText(tag)} declares ${length} bytes, over the limit of ${s.maxElementLength}`,
      s.base + off,
    );
  }
  const valueEnd = valueStart + length;
  if (valueEnd > end)
    fail(s, 'LENGTH_EXCEEDS_DATA', `${tagText(tag)} declares ${length} bytes, more than remain`, off, end, valueEnd);
  if (skip?.(tag) === true) return valueEnd;
  // A known element that arrives as UN (e.g. relayed by a node that did not know it) gets its dictionary VR back;
  // a UN value is always implicit VR little endian (PS3.5 6.2.2), so it is never swapped.
  const known = explicit && vr === 'UN' ? vrOf(tag) : undefined;
  if (vr === 'SQ' || known === 'SQ') {
    const items: Dataset[] = [];
    const inner = known === 'SQ';
    readItems(s, items, valueStart, valueEnd, depth + 1, inner ? false : explicit, inner ? true : little, false, off);
    ds.setElement({ tag, vr: 'SQ', items });
    return valueEnd;
  }
  let bytes = buf.subarray(valueStart, valueEnd);
  if (known !== undefined && known !== 'UN') vr = known;
  else if (!little) {
    const unit = BINARY_UNIT[vr];
    if (unit !== undefined && length >= unit) bytes = swapped(bytes, unit);
  }
  ds.setElement({ tag, vr, bytes } satisfies Element);
  return valueEnd;
}

/** Elements from `off` until `end` or, for an undefined-length item, its delimiter; returns the offset after. */
export function readDataset(
  s: ParseState,
  ds: Dataset,
  off: number,
  end: number,
  depth: number,
  explicit: boolean,
  little: boolean,
  delimited: boolean,
): number {
  const buf = s.buf;
  while (off < end) {
    if (delimited && off + 4 <= end && u16(buf, off, little) === 0xfffe && u16(buf, off + 2, little) === 0xe00d) {
      if (off + 8 > end) fail(s, 'UNTERMINATED_ITEM', 'data ends inside an item delimiter', off, end, off + 8);
      return off + 8;
    }
    off = readElement(s, ds, off, end, depth, explicit, little);
  }
  if (delimited) fail(s, 'UNTERMINATED_ITEM', 'an item of undefined length has no item delimiter', off, end, off + 8);
  return off;
}

function readItems(
  s: ParseState,
  items: Dataset[],
  off: number,
  end: number,
  depth: number,
  explicit: boolean,
  little: boolean,
  undefinedLength: boolean,
  at: number,
): number {
  if (depth > s.maxDepth) throw new DicomError('TOO_DEEP', `sequences nested deeper than ${s.maxDepth}`, s.base + at);
  const buf = s.buf;
  for (;;) {
    if (!undefinedLength && off === end) return off;
    if (off + 8 > end) {
      if (undefinedLength)
        fail(s, 'UNTERMINATED_ITEM', 'a sequence of undefined length has no sequence delimiter', at, end, off + 8);
      fail(s, 'TRUNCATED', 'data ends inside an item header', off, end, off + 8);
    }
    const tag = u16(buf, off, little) * 0x10000 + u16(buf, off + 2, little);
    const length = u32(buf, off + 4, little);
    if (tag === SEQUENCE_DELIMITATION) {
      if (!undefinedLength)
        throw new DicomError('BAD_ITEM', 'sequence delimiter inside a sequence of defined length', s.base + off);
      return off + 8;
    }
    if (tag !== ITEM) throw new DicomError('BAD_ITEM', `${tagText(tag)} where a sequence item belongs`, s.base + off);
    if (++s.items > s.maxItems) throw new DicomError('TOO_MANY_ITEMS', `more than ${s.maxItems} items`, s.base + off);
    const item = new Dataset();
    if (length === UNDEFINED) {
      off = readDataset(s, item, off + 8, end, depth, explicit, little, true);
    } else {
      if ((length & 1) === 1) throw new DicomError('ODD_LENGTH', `item has odd length ${length}`, s.base + off);
      const itemEnd = off + 8 + length;
      if (itemEnd > end)
        fail(s, 'LENGTH_EXCEEDS_DATA', `item declares ${length} bytes, more than remain`, off, end, itemEnd);
      readDataset(s, item, off + 8, itemEnd, depth, explicit, little, false);
      off = itemEnd;
    }
    items.push(item);
  }
}

function readFragments(
  s: ParseState,
  fragments: Buffer[],
  off: number,
  end: number,
  little: boolean,
  at: number,
): number {
  const buf = s.buf;
  for (;;) {
    if (off + 8 > end)
      fail(s, 'UNTERMINATED_ITEM', 'encapsulated pixel data has no sequence delimiter', at, end, off + 8);
    const tag = u16(buf, off, little) * 0x10000 + u16(buf, off + 2, little);
    const length = u32(buf, off + 4, little);
    if (tag === SEQUENCE_DELIMITATION) return off + 8;
    if (tag !== ITEM)
      throw new DicomError('BAD_ITEM', `${tagText(tag)} where a pixel data fragment belongs`, s.base + off);
    if (length === UNDEFINED)
      throw new DicomError('BAD_ITEM', 'a pixel data fragment of undefined length', s.base + off);
    if ((length & 1) === 1) throw new DicomError('ODD_LENGTH', `fragment has odd length ${length}`, s.base + off);
    if (length > s.maxElementLength)
      throw new DicomError('ELEMENT_TOO_LARGE', `fragment of ${length} bytes`, s.base + off);
    if (++s.items > s.maxItems)
      throw new DicomError('TOO_MANY_ITEMS', `more than ${s.maxItems} fragments`, s.base + off);
    const fragmentEnd = off + 8 + length;
    if (fragmentEnd > end)
      fail(s, 'LENGTH_EXCEEDS_DATA', `fragment declares ${length} bytes, more than remain`, off, end, fragmentEnd);
    fragments.push(buf.subarray(off + 8, fragmentEnd));
    off = fragmentEnd;
  }
}

function tagText(tag: number): string {
  const hex = tag.toString(16).toUpperCase().padStart(8, '0');
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}
