/**
 * DICOM Part 10 files (PS3.10 section 7.1): 128-byte preamble, 'DICM', the file meta information (group 0002,
 * always explicit VR little endian), then the data set in the transfer syntax the meta names.
 */
import { open } from 'node:fs/promises';
import { Dataset } from './dataset.ts';
import { encodeInto, encodeParts, parseDataset, requireTransferSyntax } from './dataset-codec.ts';
import { Tag } from './dictionary.ts';
import { DicomError } from './errors.ts';
import { HeaderReader } from './header-reader.ts';
import { type ParseLimits, parseState, readDataset } from './parse.ts';

/** Beeldbrug's implementation class UID (a '2.25.' UUID UID, PS3.5 B.2) and version name (PS3.7 D.3.3.2). */
export const IMPLEMENTATION_CLASS_UID = '2.25.47990014683349917236960524064734236653';
export const IMPLEMENTATION_VERSION_NAME = 'BEELDBRUG_0_1';

const PREAMBLE_LENGTH = 128;
const META_START = PREAMBLE_LENGTH + 4;
/** File meta groups are a few hundred bytes; anything past this is not a file we should read. */
const MAX_META_LENGTH = 64 * 1024;

export interface FileMetaInput {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  sourceApplicationEntityTitle?: string;
}

export interface Part10 {
  meta: Dataset;
  dataset: Dataset;
  transferSyntaxUid: string;
  /** Byte offset in the file where the data set starts (the deflated stream, for the deflated syntax). */
  datasetOffset: number;
}

/** Preamble + 'DICM' + group 0002 with its group length (PS3.10 7.1). */
export function encodeFileMeta(m: FileMetaInput): Buffer {
  const meta = new Dataset()
    .set(Tag.FileMetaInformationVersion, 'OB', Buffer.from([0x00, 0x01]))
    .set(Tag.MediaStorageSOPClassUID, 'UI', m.sopClassUid)
    .set(Tag.MediaStorageSOPInstanceUID, 'UI', m.sopInstanceUid)
    .set(Tag.TransferSyntaxUID, 'UI', m.transferSyntaxUid)
    .set(Tag.ImplementationClassUID, 'UI', IMPLEMENTATION_CLASS_UID)
    .set(Tag.ImplementationVersionName, 'SH', IMPLEMENTATION_VERSION_NAME);
  if (m.sourceApplicationEntityTitle !== undefined)
    meta.set(Tag.SourceApplicationEntityTitle, 'AE', m.sourceApplicationEntityTitle);
  const parts: Buffer[] = [];
  encodeInto(meta, true, true, parts);
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(META_START + 12);
  head.write('DICM', PREAMBLE_LENGTH, 'latin1');
  head.writeUInt16LE(0x0002, META_START);
  head.writeUInt16LE(0x0000, META_START + 2);
  head.write('UL', META_START + 4, 'latin1');
  head.writeUInt16LE(4, META_START + 6);
  head.writeUInt32LE(body.length, META_START + 8);
  return Buffer.concat([head, body]);
}

/**
 * Reads the file meta group from the start of `bytes`. Returns undefined when more bytes are needed and
 * `complete` is false.
 */
function readMeta(
  bytes: Buffer,
  complete: boolean,
  limits: ParseLimits | undefined,
): { meta: Dataset; end: number } | undefined {
  if (bytes.length < META_START) {
    if (!complete) return undefined;
    throw new DicomError('NOT_PART10', 'shorter than a Part 10 preamble', 0);
  }
  if (bytes.toString('latin1', PREAMBLE_LENGTH, META_START) !== 'DICM')
    throw new DicomError('NOT_PART10', "no 'DICM' after the preamble", PREAMBLE_LENGTH);
  if (bytes.length < META_START + 12) {
    if (!complete) return undefined;
    throw new DicomError('BAD_META', 'file ends inside the file meta information', META_START);
  }
  let end: number;
  const first = bytes.readUInt32LE(META_START);
  if (first === 0x00000002 && bytes.toString('latin1', META_START + 4, META_START + 6) === 'UL') {
    end = META_START + 12 + bytes.readUInt32LE(META_START + 8);
  } else {
    // No group length: the group ends at the first element outside group 0002 (tolerated, as most readers do).
    end = META_START;
    while (end + 8 <= bytes.length && bytes.readUInt16LE(end) === 0x0002) {
      const vr = bytes.toString('latin1', end + 4, end + 6);
      const long = ['OB', 'OW', 'UN', 'SQ', 'UT', 'UC', 'UR', 'OD', 'OF', 'OL', 'OV', 'SV', 'UV'].includes(vr);
      if (long && end + 12 > bytes.length) break;
      end += long ? 12 + bytes.readUInt32LE(end + 8) : 8 + bytes.readUInt16LE(end + 6);
    }
    if (end + 8 > bytes.length && !complete && end - META_START < MAX_META_LENGTH) return undefined;
  }
  if (end - META_START > MAX_META_LENGTH)
    throw new DicomError('BAD_META', `file meta information of ${end - META_START} bytes`, META_START);
  if (end > bytes.length) {
    if (!complete) return undefined;
    throw new DicomError('BAD_META', 'file ends inside the file meta information', META_START);
  }
  const meta = new Dataset();
  try {
    readDataset(parseState(bytes, 0, limits), meta, META_START, end, 0, true, true, false);
  } catch (err) {
    if (err instanceof DicomError)
      throw new DicomError('BAD_META', `file meta information: ${err.message}`, err.offset);
    throw err;
  }
  return { meta, end };
}

function transferSyntaxOf(meta: Dataset): string {
  const ts = meta.string(Tag.TransferSyntaxUID);
  if (ts === undefined)
    throw new DicomError('BAD_META', 'file meta information has no Transfer Syntax UID', META_START);
  requireTransferSyntax(ts);
  return ts;
}

/**
 * The file meta information at the start of a Part 10 stream, from as many bytes as have arrived: undefined while more
 * are needed (and `complete` is false), else the meta, its transfer syntax and where the data set starts.
 */
export function readFileMeta(
  bytes: Buffer,
  complete: boolean,
  limits?: ParseLimits,
): { meta: Dataset; transferSyntaxUid: string; datasetOffset: number } | undefined {
  const found = readMeta(bytes, complete, limits);
  if (found === undefined) return undefined;
  return { meta: found.meta, transferSyntaxUid: transferSyntaxOf(found.meta), datasetOffset: found.end };
}

export function readPart10(bytes: Buffer, limits?: ParseLimits): Part10 {
  const found = readMeta(bytes, true, limits);
  if (found === undefined) throw new DicomError('BAD_META', 'file ends inside the file meta information', META_START);
  const transferSyntaxUid = transferSyntaxOf(found.meta);
  const dataset = parseDataset(bytes.subarray(found.end), transferSyntaxUid, limits, found.end);
  return { meta: found.meta, dataset, transferSyntaxUid, datasetOffset: found.end };
}

const READ_CHUNK = 64 * 1024;

/** Reads the file meta and the data set up to Pixel Data, reading the file in chunks and stopping there. */
export async function readPart10Header(
  path: string,
  limits?: ParseLimits & { maxHeaderBytes?: number },
): Promise<Part10> {
  const file = await open(path, 'r');
  try {
    let head = Buffer.alloc(0);
    let eof = false;
    let found: { meta: Dataset; end: number } | undefined;
    while (found === undefined) {
      const chunk = Buffer.allocUnsafe(READ_CHUNK);
      const { bytesRead } = await file.read(chunk, 0, READ_CHUNK, null);
      eof = bytesRead === 0;
      head = head.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([head, chunk.subarray(0, bytesRead)]);
      found = readMeta(head, eof, limits);
    }
    const transferSyntaxUid = transferSyntaxOf(found.meta);
    const reader = new HeaderReader(transferSyntaxUid, limits);
    let done = reader.push(head.subarray(found.end));
    while (!done && !eof) {
      const chunk = Buffer.allocUnsafe(READ_CHUNK);
      const { bytesRead } = await file.read(chunk, 0, READ_CHUNK, null);
      if (bytesRead === 0) eof = true;
      else done = reader.push(chunk.subarray(0, bytesRead));
    }
    return { meta: found.meta, dataset: reader.end(), transferSyntaxUid, datasetOffset: found.end };
  } finally {
    await file.close();
  }
}

/** Parts of a whole Part 10 file (meta + data set, group 0002 of `ds` left out), buffers referenced not copied. */
export function encodePart10(ds: Dataset, transferSyntaxUid: string, sourceApplicationEntityTitle?: string): Buffer[] {
  const sopClassUid = ds.string(Tag.SOPClassUID);
  const sopInstanceUid = ds.string(Tag.SOPInstanceUID);
  if (sopClassUid === undefined || sopInstanceUid === undefined) {
    throw new DicomError('BAD_META', 'a Part 10 file needs SOP Class UID and SOP Instance UID in the data set');
  }
  let body = ds;
  if ([...ds].some((el) => el.tag >>> 16 === 0x0002)) {
    body = new Dataset();
    for (const el of ds) if (el.tag >>> 16 !== 0x0002) body.setElement(el);
  }
  const meta = encodeFileMeta({
    sopClassUid,
    sopInstanceUid,
    transferSyntaxUid,
    ...(sourceApplicationEntityTitle === undefined ? {} : { sourceApplicationEntityTitle }),
  });
  return [meta, ...encodeParts(body, transferSyntaxUid)];
}

/** Writes a Part 10 file; returns the number of bytes written. */
export async function writePart10(path: string, ds: Dataset, transferSyntaxUid: string): Promise<number> {
  const parts = encodePart10(ds, transferSyntaxUid);
  const file = await open(path, 'w');
  let total = 0;
  try {
    for (let i = 0; i < parts.length; i += 512) {
      const batch = parts.slice(i, i + 512);
      const expected = batch.reduce((n, b) => n + b.length, 0);
      let { bytesWritten } = await file.writev(batch);
      if (bytesWritten < expected) {
        // Short writev: fall back to writing the remainder as one buffer.
        const rest = Buffer.concat(batch).subarray(bytesWritten);
        await file.write(rest);
        bytesWritten = expected;
      }
      total += bytesWritten;
    }
  } finally {
    await file.close();
  }
  return total;
}
