/**
 * Encoding and decoding of element values (PS3.5 section 6.2 value representations, 6.1 character repertoires).
 * Values are held as little-endian bytes; text is padded to even length with a space (UI and binary with NUL).
 */
import { CharacterSets } from './character-sets.ts';
import { DicomError } from './errors.ts';
import { BINARY_UNIT, SINGLE_VALUED_TEXT_VRS, TEXT_VRS, type Vr } from './vr.ts';

/** How a data set's text is coded: its Specific Character Set (see character-sets.ts). */
export type TextCoding = CharacterSets;

export function codingOf(specificCharacterSet: Buffer | undefined): TextCoding {
  if (specificCharacterSet === undefined) return CharacterSets.DEFAULT;
  return CharacterSets.of(specificCharacterSet.toString('latin1').replace(/[\s\0]+$/, ''));
}

/** The VRs whose text is in the data set's character set (PS3.5 6.1.2.3); the others are in the default repertoire. */
const CHARACTER_SET_VRS: ReadonlySet<Vr> = new Set(['SH', 'LO', 'ST', 'LT', 'PN', 'UC', 'UT']);

/** After these, code extensions go back to a value's initial designations (PS3.5 6.1.2.5.3). */
function delimitersOf(vr: Vr): string {
  if (vr === 'PN') return '^=\\';
  return SINGLE_VALUED_TEXT_VRS.has(vr) ? '\r\n\f\t' : '\\';
}

const SPACE = 0x20;

export function padTo(bytes: Buffer, padByte: number): Buffer {
  if ((bytes.length & 1) === 0) return bytes;
  const out = Buffer.allocUnsafe(bytes.length + 1);
  bytes.copy(out);
  out[bytes.length] = padByte;
  return out;
}

export function padByteFor(vr: Vr): number {
  return TEXT_VRS.has(vr) && vr !== 'UI' ? SPACE : 0;
}

/** A decimal string of at most 16 characters (PS3.5 6.2, DS). */
export function formatDs(n: number): string {
  if (!Number.isFinite(n)) throw new DicomError('BAD_VALUE', `DS cannot hold ${n}`);
  let s = String(n);
  for (let p = 15; s.length > 16 && p > 0; p--) s = String(Number(n.toPrecision(p)));
  if (s.length > 16) s = n.toExponential(8);
  return s;
}

function formatNumberFor(vr: Vr, n: number): string {
  if (vr === 'DS') return formatDs(n);
  if (vr === 'IS') {
    if (!Number.isInteger(n) || Math.abs(n) > 2 ** 31) throw new DicomError('BAD_VALUE', `IS cannot hold ${n}`);
    return String(n);
  }
  return String(n);
}

export function encodeText(vr: Vr, values: readonly (string | number)[], coding: TextCoding): Buffer {
  const joined = values.map((v) => (typeof v === 'number' ? formatNumberFor(vr, v) : v)).join('\\');
  return padTo(
    CHARACTER_SET_VRS.has(vr) ? coding.encode(joined, delimitersOf(vr)) : Buffer.from(joined, 'latin1'),
    padByteFor(vr),
  );
}

export function encodeNumbers(vr: Vr, values: readonly number[]): Buffer {
  if (vr === 'AT') {
    const out = Buffer.allocUnsafe(values.length * 4);
    values.forEach((tag, i) => {
      out.writeUInt16LE(tag >>> 16, i * 4);
      out.writeUInt16LE(tag & 0xffff, i * 4 + 2);
    });
    return out;
  }
  if (vr === 'OB' || vr === 'UN') return padTo(Buffer.from(values.map((v) => v & 0xff)), 0);
  const unit = BINARY_UNIT[vr];
  if (unit === undefined) throw new DicomError('BAD_VALUE', `${vr} does not hold binary numbers`);
  const out = Buffer.allocUnsafe(values.length * unit);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] ?? 0;
    const o = i * unit;
    switch (vr) {
      case 'US':
      case 'OW':
        out.writeUInt16LE(v, o);
        break;
      case 'SS':
        out.writeInt16LE(v, o);
        break;
      case 'UL':
      case 'OL':
        out.writeUInt32LE(v, o);
        break;
      case 'SL':
        out.writeInt32LE(v, o);
        break;
      case 'FL':
      case 'OF':
        out.writeFloatLE(v, o);
        break;
      case 'FD':
      case 'OD':
        out.writeDoubleLE(v, o);
        break;
      case 'SV':
        out.writeBigInt64LE(BigInt(v), o);
        break;
      case 'UV':
      case 'OV':
        out.writeBigUInt64LE(BigInt(v), o);
        break;
      default:
        throw new DicomError('BAD_VALUE', `${vr} does not hold binary numbers`);
    }
  }
  return out;
}

/** The values of a binary numeric element; a trailing partial value is ignored. */
export function decodeNumbers(vr: Vr, bytes: Buffer, max = Infinity): number[] {
  const out: number[] = [];
  if (vr === 'AT') {
    for (let o = 0; o + 4 <= bytes.length && out.length < max; o += 4)
      out.push(bytes.readUInt16LE(o) * 0x10000 + bytes.readUInt16LE(o + 2));
    return out;
  }
  const unit = BINARY_UNIT[vr];
  if (unit === undefined) return out;
  for (let o = 0; o + unit <= bytes.length && out.length < max; o += unit) {
    switch (vr) {
      case 'US':
      case 'OW':
        out.push(bytes.readUInt16LE(o));
        break;
      case 'SS':
        out.push(bytes.readInt16LE(o));
        break;
      case 'UL':
      case 'OL':
        out.push(bytes.readUInt32LE(o));
        break;
      case 'SL':
        out.push(bytes.readInt32LE(o));
        break;
      case 'FL':
      case 'OF':
        out.push(bytes.readFloatLE(o));
        break;
      case 'FD':
      case 'OD':
        out.push(bytes.readDoubleLE(o));
        break;
      case 'SV':
        out.push(Number(bytes.readBigInt64LE(o)));
        break;
      case 'UV':
      case 'OV':
        out.push(Number(bytes.readBigUInt64LE(o)));
        break;
      default:
        return out;
    }
  }
  return out;
}

function trimEnd(s: string): string {
  let end = s.length;
  while (end > 0) {
    const c = s.charCodeAt(end - 1);
    if (c !== 0x20 && c !== 0) break;
    end--;
  }
  return end === s.length ? s : s.slice(0, end);
}

/** Text values: split on backslash for multi-valued VRs, padding and insignificant spaces removed. */
export function decodeText(vr: Vr, bytes: Buffer, coding: TextCoding): string[] {
  if (bytes.length === 0) return [];
  const text = CHARACTER_SET_VRS.has(vr) ? coding.decode(bytes, delimitersOf(vr)) : bytes.toString('latin1');
  if (SINGLE_VALUED_TEXT_VRS.has(vr)) {
    const v = trimEnd(text);
    return v === '' ? [] : [v];
  }
  if (trimEnd(text) === '') return [];
  return text.split('\\').map((v) => trimEnd(v).trimStart());
}

export function formatAt(tag: number): string {
  return (tag >>> 0).toString(16).toUpperCase().padStart(8, '0');
}
