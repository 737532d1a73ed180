/**
 * A Part 10 file with native (uncompressed) pixel data made smaller for a slow link, and restored on the far side to
 * the very bytes it was: the meta information, the data set and everything after the pixels travel as they are, and
 * each frame of samples as a lossless JPEG-LS stream (CT compresses about 1.3 to 1.4 times better so than with zstd).
 * The receiver's PACS gets what the sender's PACS had, byte for byte; the exchange checks that with the manifest's
 * SHA-256.
 *
 *   "BBPK" | version u8 (1) | reserved 3
 *   head length u32be | head: the file up to the first sample (meta, data set, Pixel Data's element header)
 *   columns u16be | rows u16be | bits per sample u8 (8 or 16) | samples per pixel u8 (1, or 3 by pixel) | frames u32be
 *   per frame: length u32be | a JPEG-LS stream of columns x rows pixels
 *   tail length u32be | tail: the file after the last sample (a pad byte, elements after Pixel Data)
 *
 * The geometry is stated before any stream, so a receiver knows what it will restore, and refuses more than it allows,
 * before it decodes anything.
 */
import { DicomError } from './errors.ts';
import { Tag } from './dictionary.ts';
import { readPart10 } from './part10.ts';
import { decodeJpegLs, encodeJpegLsLossless } from './pixel-codecs.ts';
import { TransferSyntax } from './transfer-syntax.ts';

const MAGIC = Buffer.from('BBPK', 'latin1');
const VERSION = 1;
const PREAMBLE = 8;
const GEOMETRY = 10;
/**
 * Larger files (long multi-frame series) go as they are: packing holds a file whole in memory, and its packed form,
 * and a sender packs for several batches at once (four: some 100 MB at this size).
 */
const PACKABLE_MAX_BYTES = 16 * 1024 * 1024;
/** Packing that saves less than this share of the bytes is not worth the receiver's decoding. */
const WORTHWHILE = 0.9;

interface Layout {
  head: number;
  columns: number;
  rows: number;
  bitsPerSample: 8 | 16;
  components: 1 | 3;
  frames: number;
  frameBytes: number;
}

/** Whether a file in this transfer syntax and of this size may be packed (whether it is, only packInstance knows). */
export function mayPack(transferSyntaxUid: string, size: number): boolean {
  return (
    size <= PACKABLE_MAX_BYTES &&
    (transferSyntaxUid === TransferSyntax.ExplicitVRLittleEndian ||
      transferSyntaxUid === TransferSyntax.ImplicitVRLittleEndian)
  );
}

/**
 * Where a file's samples are, if it is one this packs: little-endian native pixels of 8 or 16 bits, one sample per
 * pixel or 8-bit colour stored pixel by pixel.
 */
function layoutOf(file: Buffer): Layout | undefined {
  let p10;
  try {
    p10 = readPart10(file);
  } catch {
    return undefined;
  }
  if (!mayPack(p10.transferSyntaxUid, file.length)) return undefined;
  const ds = p10.dataset;
  const pixels = ds.get(Tag.PixelData)?.bytes;
  const columns = ds.number(Tag.Columns) ?? 0;
  const rows = ds.number(Tag.Rows) ?? 0;
  const bitsAllocated = ds.number(Tag.BitsAllocated);
  const samples = ds.number(Tag.SamplesPerPixel) ?? 1;
  const frames = Math.max(1, ds.number(Tag.NumberOfFrames) ?? 1);
  if (pixels === undefined || pixels.buffer !== file.buffer) return undefined;
  if (bitsAllocated !== 8 && bitsAllocated !== 16) return undefined;
  const components = samples === 1 ? 1 : samples === 3 && bitsAllocated === 8 ? 3 : undefined;
  if (components === undefined || (components === 3 && (ds.number(Tag.PlanarConfiguration) ?? 0) !== 0))
    return undefined;
  if (columns < 1 || columns > 0xffff || rows < 1 || rows > 0xffff) return undefined;
  const frameBytes = columns * rows * components * (bitsAllocated / 8);
  if (frameBytes * frames > pixels.length) return undefined;
  const head = pixels.byteOffset - file.byteOffset;
  return { head, columns, rows, bitsPerSample: bitsAllocated, components, frames, frameBytes };
}

/** The packed form of a Part 10 file, or undefined when it is not one this packs or packing would not pay. */
export async function packInstance(file: Buffer): Promise<Buffer | undefined> {
  const l = layoutOf(file);
  if (l === undefined) return undefined;
  const pieces: Buffer[] = [];
  const preamble = Buffer.alloc(PREAMBLE + 4);
  MAGIC.copy(preamble);
  preamble.writeUInt8(VERSION, 4);
  preamble.writeUInt32BE(l.head, PREAMBLE);
  const geometry = Buffer.alloc(GEOMETRY);
  geometry.writeUInt16BE(l.columns, 0);
  geometry.writeUInt16BE(l.rows, 2);
  geometry.writeUInt8(l.bitsPerSample, 4);
  geometry.writeUInt8(l.components, 5);
  geometry.writeUInt32BE(l.frames, 6);
  pieces.push(preamble, file.subarray(0, l.head), geometry);
  let size = preamble.length + l.head + geometry.length;
  for (let f = 0; f < l.frames; f++) {
    const at = l.head + f * l.frameBytes;
    const stream = await encodeJpegLsLossless(file.subarray(at, at + l.frameBytes), {
      width: l.columns,
      height: l.rows,
      bitsPerSample: l.bitsPerSample,
      components: l.components,
    });
    pieces.push(u32(stream.length), stream);
    size += 4 + stream.length;
    if (size > file.length * WORTHWHILE) return undefined;
  }
  const tail = file.subarray(l.head + l.frames * l.frameBytes);
  pieces.push(u32(tail.length), tail);
  size += 4 + tail.length;
  return size > file.length * WORTHWHILE ? undefined : Buffer.concat(pieces, size);
}

/**
 * The file a packed instance was made from, at most `maxBytes` long. Throws a DicomError (BAD_VALUE) for anything
 * that is not a whole, well-formed packed instance, before decoding when its stated size is over the limit.
 */
export async function unpackInstance(packed: Buffer, maxBytes: number): Promise<Buffer> {
  const r = new Reader(packed);
  if (!r.take(4).equals(MAGIC)) throw bad('it does not start with BBPK');
  const version = r.take(4).readUInt8(0);
  if (version !== VERSION) throw bad(`version ${version} is not known here`);
  const head = r.take(r.u32());
  const g = r.take(GEOMETRY);
  const columns = g.readUInt16BE(0);
  const rows = g.readUInt16BE(2);
  const bitsPerSample = g.readUInt8(4);
  const components = g.readUInt8(5);
  const frames = g.readUInt32BE(6);
  const known = bitsPerSample === 16 ? components === 1 : bitsPerSample === 8 && (components === 1 || components === 3);
  if (!known || columns === 0 || rows === 0 || frames === 0)
    throw bad(`${columns} x ${rows} pixels of ${components} samples of ${bitsPerSample} bits, ${frames} frames`);
  const frameBytes = columns * rows * components * (bitsPerSample / 8);
  if (head.length + frames * frameBytes > maxBytes)
    throw bad(`it would restore to more than the ${maxBytes} bytes allowed`);
  const out = Buffer.allocUnsafe(head.length + frames * frameBytes);
  head.copy(out);
  for (let f = 0; f < frames; f++) {
    const stream = r.take(r.u32());
    const stated = jpegLsFrameSize(stream);
    if (
      stated?.columns !== columns ||
      stated.rows !== rows ||
      stated.bits > bitsPerSample ||
      stated.components !== components
    )
      throw bad(`frame ${f + 1} is not a JPEG-LS stream of ${columns} x ${rows} pixels of ${components} samples`);
    const samples = await decodeJpegLs(stream).catch((err: unknown) => {
      throw bad(`frame ${f + 1} does not decode: ${err instanceof Error ? err.message : String(err)}`);
    });
    if (samples.length !== frameBytes)
      throw bad(`frame ${f + 1} decodes to ${samples.length} bytes, not ${frameBytes}`);
    samples.copy(out, head.length + f * frameBytes);
  }
  const tail = r.take(r.u32());
  if (r.left !== 0) throw bad(`${r.left} bytes follow its end`);
  if (out.length + tail.length > maxBytes) throw bad(`it would restore to more than the ${maxBytes} bytes allowed`);
  return Buffer.concat([out, tail], out.length + tail.length);
}

/**
 * The size a JPEG-LS stream states in its frame header (SOF55, ITU-T T.87 C.2.2), found by stepping over the marker
 * segments before it; undefined when there is none.
 */
function jpegLsFrameSize(
  stream: Buffer,
): { columns: number; rows: number; bits: number; components: number } | undefined {
  if (stream.length < 4 || stream[0] !== 0xff || stream[1] !== 0xd8) return undefined;
  for (let at = 2; at + 4 <= stream.length;) {
    if (stream[at] !== 0xff) return undefined;
    const marker = stream[at + 1];
    const length = stream.readUInt16BE(at + 2);
    if (marker === 0xf7) {
      if (at + 10 > stream.length) return undefined;
      return {
        bits: stream[at + 4] ?? 0,
        rows: stream.readUInt16BE(at + 5),
        columns: stream.readUInt16BE(at + 7),
        components: stream[at + 9] ?? 0,
      };
    }
    at += 2 + length;
  }
  return undefined;
}

class Reader {
  #at = 0;
  readonly #b: Buffer;
  constructor(b: Buffer) {
    this.#b = b;
  }
  get left(): number {
    return this.#b.length - this.#at;
  }
  take(n: number): Buffer {
    if (n > this.left) throw bad(`it ends ${n - this.left} bytes short`);
    const piece = this.#b.subarray(this.#at, this.#at + n);
    this.#at += n;
    return piece;
  }
  u32(): number {
    return this.take(4).readUInt32BE(0);
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function bad(why: string): DicomError {
  return new DicomError('BAD_VALUE', `not a packed instance: ${why}`);
}
