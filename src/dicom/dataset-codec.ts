/**
 * Whole-data-set reading and writing in a transfer syntax (PS3.5 section 7 and 10; deflate per A.5).
 * Sequences and items are written with undefined length, so a writer never has to size nested content first.
 */
import { deflateRawSync, inflateRawSync, constants as zlibConstants } from 'node:zlib';
import { Dataset } from './dataset.ts';
import { DicomError } from './errors.ts';
import { type ParseLimits, parseState, readDataset } from './parse.ts';
import { type TransferSyntaxInfo, transferSyntaxInfo } from './transfer-syntax.ts';
import { padByteFor } from './values.ts';
import { BINARY_UNIT, LONG_LENGTH_VRS } from './vr.ts';

export function requireTransferSyntax(uid: string): TransferSyntaxInfo {
  const info = transferSyntaxInfo(uid);
  if (info === undefined)
    throw new DicomError('UNSUPPORTED_TRANSFER_SYNTAX', `unknown transfer syntax ${JSON.stringify(uid)}`);
  return info;
}

/** Inflates a deflated data set; `partial` returns what a truncated stream yields so far instead of failing. */
export function inflate(bytes: Buffer, offset: number, maxOutputLength?: number, partial = false): Buffer {
  try {
    return inflateRawSync(bytes, {
      ...(maxOutputLength === undefined ? {} : { maxOutputLength }),
      ...(partial ? { finishFlush: zlibConstants.Z_SYNC_FLUSH } : {}),
    });
  } catch (err) {
    if (err instanceof RangeError)
      throw new DicomError('HEADER_TOO_LARGE', 'deflated data set inflates beyond the limit', offset);
    throw new DicomError('TRUNCATED', `deflated data set is corrupt: ${(err as Error).message}`, offset);
  }
}

/** A deflated data set parsed whole is inflated into memory first: never beyond this (a few KiB can inflate to GiBs). */
const DEFAULT_MAX_INFLATED_LENGTH = 256 * 1024 * 1024;

/** Parses a complete data set held in memory. `base` shifts error offsets (e.g. to the position in a file). */
export function parseDataset(bytes: Buffer, transferSyntaxUid: string, limits?: ParseLimits, base = 0): Dataset {
  const info = requireTransferSyntax(transferSyntaxUid);
  const data = info.deflated ? inflate(bytes, base, limits?.maxInflatedLength ?? DEFAULT_MAX_INFLATED_LENGTH) : bytes;
  const state = parseState(data, info.deflated ? 0 : base, limits);
  const ds = new Dataset();
  readDataset(state, ds, 0, data.length, 0, info.explicitVr, info.littleEndian, false);
  return ds;
}

const UNDEFINED = 0xffffffff;

function tagHeader(tag: number, little: boolean): Buffer {
  const b = Buffer.allocUnsafe(4);
  if (little) {
    b.writeUInt16LE(tag >>> 16, 0);
    b.writeUInt16LE(tag & 0xffff, 2);
  } else {
    b.writeUInt16BE(tag >>> 16, 0);
    b.writeUInt16BE(tag & 0xffff, 2);
  }
  return b;
}

function header(tag: number, vr: string, length: number, explicit: boolean, little: boolean): Buffer {
  const long = !explicit || LONG_LENGTH_VRS.has(vr as never);
  const b = Buffer.alloc(long && explicit ? 12 : 8);
  tagHeader(tag, little).copy(b, 0);
  if (!explicit) {
    if (little) b.writeUInt32LE(length, 4);
    else b.writeUInt32BE(length, 4);
    return b;
  }
  b.write(vr, 4, 'latin1');
  if (long) {
    if (little) b.writeUInt32LE(length, 8);
    else b.writeUInt32BE(length, 8);
  } else {
    if (length > 0xffff) throw new DicomError('BAD_VALUE', `a ${vr} value of ${length} bytes does not fit explicit VR`);
    if (little) b.writeUInt16LE(length, 6);
    else b.writeUInt16BE(length, 6);
  }
  return b;
}

function itemTag(tag: number, length: number, little: boolean): Buffer {
  const b = Buffer.allocUnsafe(8);
  tagHeader(tag, little).copy(b, 0);
  if (little) b.writeUInt32LE(length, 4);
  else b.writeUInt32BE(length, 4);
  return b;
}

function toBigEndian(bytes: Buffer, vr: string): Buffer {
  const unit = BINARY_UNIT[vr as keyof typeof BINARY_UNIT];
  if (unit === undefined || bytes.length < unit) return bytes;
  const copy = Buffer.from(bytes);
  const view = copy.subarray(0, copy.length - (copy.length % unit));
  if (unit === 2) view.swap16();
  else if (unit === 4) view.swap32();
  else view.swap64();
  return copy;
}

/** Appends the encoded elements of `ds` to `parts` (buffers are referenced, not copied). */
export function encodeInto(ds: Dataset, explicit: boolean, little: boolean, parts: Buffer[]): void {
  for (const el of ds) {
    if (el.items !== undefined) {
      parts.push(header(el.tag, 'SQ', UNDEFINED, explicit, little));
      for (const item of el.items) {
        parts.push(itemTag(0xfffee000, UNDEFINED, little));
        encodeInto(item, explicit, little, parts);
        parts.push(itemTag(0xfffee00d, 0, little));
      }
      parts.push(itemTag(0xfffee0dd, 0, little));
    } else if (el.fragments !== undefined) {
      parts.push(header(el.tag, 'OB', UNDEFINED, explicit, little));
      const fragments = el.fragments.length === 0 ? [Buffer.alloc(0)] : el.fragments;
      for (const fragment of fragments) {
        const odd = (fragment.length & 1) === 1;
        parts.push(itemTag(0xfffee000, fragment.length + (odd ? 1 : 0), little), fragment);
        if (odd) parts.push(Buffer.alloc(1));
      }
      parts.push(itemTag(0xfffee0dd, 0, little));
    } else {
      let bytes = el.bytes ?? Buffer.alloc(0);
      if (!little) bytes = toBigEndian(bytes, el.vr);
      const odd = (bytes.length & 1) === 1;
      parts.push(header(el.tag, el.vr, bytes.length + (odd ? 1 : 0), explicit, little), bytes);
      if (odd) parts.push(Buffer.from([padByteFor(el.vr)]));
    }
  }
}

/** The parts of the encoded data set; deflated syntaxes come back as one compressed buffer. */
export function encodeParts(ds: Dataset, transferSyntaxUid: string): Buffer[] {
  const info = requireTransferSyntax(transferSyntaxUid);
  const parts: Buffer[] = [];
  encodeInto(ds, info.explicitVr, info.littleEndian, parts);
  if (info.deflated) {
    // PS3.5 A.5: a deflated stream of odd length gets one trailing NUL, as every DICOM value and PDV is even.
    const deflated = deflateRawSync(Buffer.concat(parts));
    return [deflated.length % 2 === 0 ? deflated : Buffer.concat([deflated, Buffer.alloc(1)])];
  }
  return parts;
}

export function writeDataset(ds: Dataset, transferSyntaxUid: string): Buffer {
  const parts = encodeParts(ds, transferSyntaxUid);
  return parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts);
}
