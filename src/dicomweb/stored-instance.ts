import {
  type Dataset,
  type Element,
  HeaderReader,
  isPixelOrLater,
  parseDataset,
  Tag,
  type Vr,
} from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { ReleasedInstance } from '../studies/index.ts';
import { readAhead } from './read-ahead.ts';

/** The whole data set of one stored instance: one instance is read into memory here, never a study. */
export async function datasetOf(i: ReleasedInstance): Promise<Dataset> {
  const chunks: Buffer[] = [];
  for await (const chunk of i.openDataset() as AsyncIterable<Buffer>) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  // Copied out: the pieces' memory goes back to the store (a viewer asks for hundreds of instances in a row).
  for (const chunk of chunks) i.giveBack(chunk);
  return parseDataset(bytes, i.stored.instance.transferSyntaxUid);
}

/**
 * The frames of an instance's pixel data: for uncompressed syntaxes, equal slices of Rows x Columns x Samples x bytes
 * per sample; for compressed ones, the fragments, one per frame, or grouped by the Basic Offset Table, or all of them
 * for a single frame (PS3.5 A.4).
 */
export function framesOf(
  ds: Dataset,
  i: ReleasedInstance,
): { frames: Buffer[]; transferSyntaxUid: string; encapsulated: boolean } {
  const transferSyntaxUid = i.stored.instance.transferSyntaxUid;
  const pixels = ds.get(Tag.PixelData);
  if (pixels === undefined) throw new BeeldbrugError('NOT_FOUND', 'the instance has no pixel data');
  const count = Math.max(1, ds.number(Tag.NumberOfFrames) ?? 1);
  if (pixels.fragments !== undefined) {
    const [offsetTable = Buffer.alloc(0), ...fragments] = pixels.fragments;
    if (count === 1) return { frames: [Buffer.concat(fragments)], transferSyntaxUid, encapsulated: true };
    if (fragments.length === count) return { frames: fragments, transferSyntaxUid, encapsulated: true };
    const offsets: number[] = [];
    for (let o = 0; o + 4 <= offsetTable.length; o += 4) offsets.push(offsetTable.readUInt32LE(o));
    if (offsets.length !== count)
      throw new BeeldbrugError('DATASET_INVALID', 'the compressed frames cannot be told apart (no Basic Offset Table)');
    const frames: Buffer[][] = offsets.map(() => []);
    let position = 0;
    for (const fragment of fragments) {
      const frame = offsets.findLastIndex((o) => o <= position);
      frames[Math.max(0, frame)]!.push(fragment);
      position += fragment.length + 8;
    }
    return { frames: frames.map((f) => Buffer.concat(f)), transferSyntaxUid, encapsulated: true };
  }
  const bytes = pixels.bytes ?? Buffer.alloc(0);
  const rows = ds.number(Tag.Rows) ?? 0;
  const columns = ds.number(Tag.Columns) ?? 0;
  const samples = ds.number(Tag.SamplesPerPixel) ?? 1;
  const bits = ds.number(Tag.BitsAllocated) ?? 16;
  const size = bits === 1 ? Math.ceil((rows * columns * samples) / 8) : rows * columns * samples * (bits / 8);
  if (size === 0 || size * count > bytes.length)
    throw new BeeldbrugError('DATASET_INVALID', 'the pixel data is shorter than its rows, columns and frames say');
  return {
    frames: Array.from({ length: count }, (_, f) => bytes.subarray(f * size, (f + 1) * size)),
    transferSyntaxUid,
    encapsulated: false,
  };
}

/** Instances whose headers are read ahead of the one being parsed: each is a file to open and decrypt. */
const HEADERS_AHEAD = { ahead: 8, maxBytesEach: 64 * 1024 };

/** The header of one stored instance, and the pixel data element it ends at, if any. */
export interface InstanceHeader {
  instance: ReleasedInstance;
  header: Dataset;
  pixelData: { tag: number; vr: Vr } | undefined;
}

/**
 * The header (every element before Pixel Data) of each stored instance, in order, each read from its file only until
 * it is complete, with the next files already being opened and read.
 */
export async function* headersOf(instances: readonly ReleasedInstance[]): AsyncGenerator<InstanceHeader> {
  for await (const { item, body } of readAhead(
    instances,
    (i) => i.openDataset({ chunkBytes: HEADERS_AHEAD.maxBytesEach }) as AsyncIterable<Buffer>,
    HEADERS_AHEAD,
  )) {
    const reader = new HeaderReader(item.stored.instance.transferSyntaxUid);
    for await (const chunk of body) if (reader.push(chunk)) break;
    yield { instance: item, header: reader.end(), pixelData: reader.pixelData };
  }
}

/**
 * Where an attribute sits in a data set: tags, with the item number (from 0) after each sequence, written as a bulk
 * data URI's last segments: 7FE00010, or 00540016/0/00181072.
 */
export type BulkPath = readonly number[];

export function formatBulkPath(path: BulkPath): string {
  return path.map((p, i) => (i % 2 === 0 ? p.toString(16).toUpperCase().padStart(8, '0') : String(p))).join('/');
}

/** The path a bulk data URI names; undefined when it is not one (tags as 8 hex digits, items as numbers). */
export function parseBulkPath(text: string): BulkPath | undefined {
  const segments = text.split('/');
  if (segments.length % 2 === 0) return undefined;
  const path: number[] = [];
  for (const [i, segment] of segments.entries()) {
    if (!(i % 2 === 0 ? /^[0-9A-Fa-f]{8}$/ : /^\d{1,6}$/).test(segment)) return undefined;
    path.push(i % 2 === 0 ? parseInt(segment, 16) : Number(segment));
  }
  return path;
}

/**
 * The data set a bulk data path is looked up in: the header alone for a value before the pixel data (read until it is
 * complete), the whole instance for the pixel data.
 */
export async function datasetHolding(i: ReleasedInstance, path: BulkPath): Promise<Dataset> {
  if (isPixelOrLater(path[0] ?? 0)) return datasetOf(i);
  for await (const { header } of headersOf([i])) return header;
  throw new BeeldbrugError('NOT_FOUND', 'the instance could not be read');
}

/** The element a bulk data path names in a data set, if there is one. */
export function elementAt(ds: Dataset, path: BulkPath): Element | undefined {
  const [tag, item, ...rest] = path;
  if (tag === undefined) return undefined;
  if (item === undefined) return ds.get(tag);
  const nested = ds.items(tag)[item];
  return nested === undefined ? undefined : elementAt(nested, rest);
}
