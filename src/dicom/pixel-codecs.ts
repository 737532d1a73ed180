/**
 * Compressed pixel data decoded into native (uncompressed little endian) pixels, for a requestor that does not accept
 * the syntax an instance is stored in (PS3.5 8.2, A.4). The codecs are maintained builds from npm, the same the web
 * app's viewer decodes with: CharLS (JPEG-LS), OpenJPEG (JPEG 2000), OpenJPH (HTJ2K), libjpeg-turbo (8-bit JPEG
 * baseline) as WebAssembly; jpeg-lossless-decoder-js (JPEG lossless) and Cornerstone's own RLE decoder. Nothing is
 * decoded by code written here.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Dataset } from './dataset.ts';
import { parseDataset } from './dataset-codec.ts';
import { Tag } from './dictionary.ts';
import { DicomError } from './errors.ts';
import { TransferSyntax } from './transfer-syntax.ts';

const require = createRequire(import.meta.url);

/** What the Emscripten builds expose: a decoder per codec, fed through buffers in WebAssembly memory. */
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number };
  delete(): void;
}

/** The encoder of the same builds: raw samples in, one compressed frame out. */
interface WasmEncoder {
  getDecodedBuffer(frame: {
    width: number;
    height: number;
    bitsPerSample: number;
    componentCount: number;
    isSigned: boolean;
    isUsingColorTransform: boolean;
  }): Uint8Array;
  /** CharLS's interleave mode: 0 none (planes), 1 line, 2 sample (as DICOM's Planar Configuration 0 stores colour). */
  setInterleaveMode(mode: 0 | 1 | 2): void;
  encode(): void;
  getEncodedBuffer(): Uint8Array;
  delete(): void;
}
type Factory = () => Promise<Record<string, new () => unknown>>;

function wasm<T>(module: string, className: string): () => Promise<new () => T> {
  let loaded: Promise<new () => T> | undefined;
  return () =>
    (loaded ??= (require(module) as Factory)().then((m) => {
      const C = m[className];
      if (C === undefined) throw new Error(`${module} has no ${className}`);
      return C as new () => T;
    }));
}

const CHARLS = wasm<WasmDecoder>('@cornerstonejs/codec-charls/decodewasmjs', 'JpegLSDecoder');
const CHARLS_ENCODER = wasm<WasmEncoder>('@cornerstonejs/codec-charls/wasmjs', 'JpegLSEncoder');
const OPENJPEG = wasm<WasmDecoder>('@cornerstonejs/codec-openjpeg/decodewasmjs', 'J2KDecoder');
const OPENJPH = wasm<WasmDecoder>('@cornerstonejs/codec-openjph/wasmjs', 'HTJ2KDecoder');
const LIBJPEG_TURBO = wasm<WasmDecoder>('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs', 'JPEGDecoder');

/** A frame's geometry, as its data set states it: what a decoder needs besides the compressed bytes. */
interface FrameLayout {
  rows: number;
  columns: number;
  samples: number;
  bitsAllocated: number;
  bytesPerSample: 1 | 2;
  pixelRepresentation: number;
  frameBytes: number;
}

interface Codec {
  decode(frame: Buffer, layout: FrameLayout): Promise<Buffer>;
  /** The photometric interpretation the decoded pixels have, from the stored one (colour JPEG comes out RGB). */
  photometric(stored: string): string;
}

const asStored = (p: string): string => p;
const colourToRgb = (p: string): string => (/^YBR_(FULL|FULL_422|ICT|RCT)$/.test(p) ? 'RGB' : p);

async function wasmDecode(load: () => Promise<new () => WasmDecoder>, frame: Buffer): Promise<Buffer> {
  const Decoder = await load();
  const d = new Decoder();
  try {
    d.getEncodedBuffer(frame.length).set(frame);
    d.decode();
    // Copied out of WebAssembly memory, which the next decode reuses.
    return Buffer.from(d.getDecodedBuffer());
  } finally {
    d.delete();
  }
}

function wasmCodec(load: () => Promise<new () => WasmDecoder>, photometric: (p: string) => string): Codec {
  return { decode: (frame) => wasmDecode(load, frame), photometric };
}

const viewOf = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

let losslessDecoder: Promise<new () => { decode(b: ArrayBuffer, o: number, l: number, n: number): ArrayBufferView }>;
const JPEG_LOSSLESS: Codec = {
  async decode(frame, layout) {
    losslessDecoder ??= import('@cornerstonejs/jpeg-lossless-decoder-js').then((m) => m.Decoder as never);
    const Decoder = await losslessDecoder;
    return viewOf(
      new Decoder().decode(frame.buffer as ArrayBuffer, frame.byteOffset, frame.length, layout.bytesPerSample),
    );
  },
  photometric: asStored,
};

/**
 * A module of Cornerstone's dicom-image-loader (the viewer's own loader) that its package exports do not name: its RLE
 * decoder, plain JavaScript without imports of its own. (Its 12-bit JPEG decoder is not used: it puts every sample
 * about 15 levels above where DCMTK's dcmdjpeg and the original have it, a wrong level shift for 12-bit precision.)
 */
function cornerstoneModule<T>(path: string): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () =>
    (loaded ??= import(
      pathToFileURL(join(dirname(require.resolve('@cornerstonejs/dicom-image-loader/package.json')), path)).href
    ) as Promise<T>);
}

interface CornerstoneFrame {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  planarConfiguration: number;
  pixelRepresentation: number;
  pixelData?: ArrayBufferView;
}
const RLE_DECODER = cornerstoneModule<{
  default: (f: CornerstoneFrame, data: Uint8Array) => Promise<CornerstoneFrame>;
}>('dist/esm/shared/decoders/decodeRLE.js');
/**
 * Refuses an RLE frame whose header (PS3.5 G.5) the decoder would trust blindly: it reads as many segments as the
 * header says, each up to the offset it gives, which for a damaged or crafted frame means billions of idle steps.
 */
function checkRleHeader(frame: Buffer, layout: FrameLayout): void {
  const bad = (why: string) => new DicomError('BAD_VALUE', `the RLE frame ${why}`);
  if (layout.bitsAllocated !== 8 && layout.bitsAllocated !== 16)
    throw bad(`has ${layout.bitsAllocated}-bit samples; 8 and 16 are decoded here`);
  if (frame.length < 64) throw bad('is shorter than its 64-byte header');
  const segments = frame.readUInt32LE(0);
  if (segments !== layout.samples * layout.bytesPerSample)
    throw bad(`has ${segments} segments, not the ${layout.samples * layout.bytesPerSample} its samples need`);
  let previous = 64;
  for (let i = 1; i <= segments; i++) {
    const offset = frame.readUInt32LE(i * 4);
    if (offset < previous || offset > frame.length) throw bad(`has segment ${i} at ${offset}, outside the frame`);
    previous = offset;
  }
}

const RLE: Codec = {
  async decode(frame, layout) {
    checkRleHeader(frame, layout);
    const { default: decodeRle } = await RLE_DECODER();
    const f = await decodeRle(
      {
        rows: layout.rows,
        columns: layout.columns,
        samplesPerPixel: layout.samples,
        bitsAllocated: layout.bitsAllocated,
        // The segments are planes whatever the data set says (PS3.5 G.2); asked for by pixel, they come interleaved.
        planarConfiguration: 0,
        pixelRepresentation: layout.pixelRepresentation,
      },
      // A copy of its own: the decoder reads to the end of the view's memory, not to the end of the frame.
      new Uint8Array(frame),
    );
    if (f.pixelData === undefined) throw new DicomError('BAD_VALUE', 'the RLE frame decodes to nothing');
    return viewOf(f.pixelData);
  },
  photometric: asStored,
};

const JPEG_LS = wasmCodec(CHARLS, asStored);

const CODECS: ReadonlyMap<string, Codec> = new Map([
  [TransferSyntax.JPEGLSLossless, JPEG_LS],
  [TransferSyntax.JPEGLSNearLossless, JPEG_LS],
  [TransferSyntax.JPEG2000Lossless, wasmCodec(OPENJPEG, colourToRgb)],
  [TransferSyntax.JPEG2000, wasmCodec(OPENJPEG, colourToRgb)],
  [TransferSyntax.HTJ2KLossless, wasmCodec(OPENJPH, colourToRgb)],
  [TransferSyntax.HTJ2KLosslessRPCL, wasmCodec(OPENJPH, colourToRgb)],
  [TransferSyntax.HTJ2K, wasmCodec(OPENJPH, colourToRgb)],
  [TransferSyntax.JPEGBaseline8Bit, wasmCodec(LIBJPEG_TURBO, colourToRgb)],
  [TransferSyntax.RLELossless, RLE],
  [TransferSyntax.JPEGLossless, JPEG_LOSSLESS],
  [TransferSyntax.JPEGLosslessSV1, JPEG_LOSSLESS],
]);

/**
 * The native syntaxes (PS3.5 A.1-A.5): a data set is rewritten among them without loss, in this order of preference
 * after its own.
 */
export const NATIVE_TRANSFER_SYNTAXES: readonly string[] = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.DeflatedExplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
];

const isNative = (ts: string): boolean => NATIVE_TRANSFER_SYNTAXES.includes(ts);

/** Whether data stored in `from` can be given in `to`: the same syntax, or a native one it is rewritten or decoded into. */
export function canConvert(from: string, to: string): boolean {
  return from === to || ((isNative(from) || canDecode(from)) && isNative(to));
}

/**
 * A data set whose bytes are in `from`, ready to be written in `to` (see canConvert): compressed pixel data decoded
 * where `to` is native, everything else as it was.
 */
export async function convertedDataset(bytes: Buffer, from: string, to: string): Promise<Dataset> {
  if (!canConvert(from, to)) throw new DicomError('BAD_VALUE', `data in ${from} cannot be given in ${to} here`);
  const ds = parseDataset(bytes, from);
  if (from !== to && !isNative(from)) await decodePixelData(ds, from);
  return ds;
}

/** Whether pixel data in this transfer syntax can be decoded here. */
export function canDecode(transferSyntaxUid: string): boolean {
  return CODECS.has(transferSyntaxUid);
}

/** The geometry of one frame, as a data set describes it. */
function frameLayout(ds: Dataset): FrameLayout {
  const rows = ds.number(Tag.Rows) ?? 0;
  const columns = ds.number(Tag.Columns) ?? 0;
  const samples = ds.number(Tag.SamplesPerPixel) ?? 1;
  const bitsAllocated = ds.number(Tag.BitsAllocated) ?? 16;
  const bytesPerSample = bitsAllocated <= 8 ? 1 : 2;
  return {
    rows,
    columns,
    samples,
    bitsAllocated,
    bytesPerSample,
    pixelRepresentation: ds.number(Tag.PixelRepresentation) ?? 0,
    frameBytes: rows * columns * samples * bytesPerSample,
  };
}

/**
 * One compressed frame of a data set as native pixels, and the photometric interpretation they have (a rendered
 * frame or thumbnail of a compressed instance).
 */
export async function decodeFrame(
  ds: Dataset,
  frame: Buffer,
  transferSyntaxUid: string,
): Promise<{ pixels: Buffer; photometric: string }> {
  const codec = CODECS.get(transferSyntaxUid);
  if (codec === undefined)
    throw new DicomError('BAD_VALUE', `pixel data in ${transferSyntaxUid} cannot be decoded by this node`);
  const layout = frameLayout(ds);
  const { frameBytes } = layout;
  const pixels = await codec.decode(frame, layout);
  if (pixels.length !== frameBytes)
    throw new DicomError('BAD_VALUE', `the frame decodes to ${pixels.length} bytes, not ${frameBytes}`);
  return { pixels, photometric: codec.photometric(ds.string(Tag.PhotometricInterpretation) ?? 'MONOCHROME2') };
}

/**
 * The data set with its encapsulated pixel data decoded, every frame, as native pixels: Pixel Data OW (OB for 8-bit
 * samples), colour as RGB interleaved. Everything else stays as it is; the caller writes it in the native syntax it
 * chose. Throws a DicomError for a syntax without a codec here or pixel data a codec refuses.
 */
export async function decodePixelData(ds: Dataset, transferSyntaxUid: string): Promise<Dataset> {
  if (!CODECS.has(transferSyntaxUid))
    throw new DicomError('BAD_VALUE', `pixel data in ${transferSyntaxUid} cannot be decoded by this node`);
  const pixels = ds.get(Tag.PixelData);
  if (pixels?.fragments === undefined) return ds;
  const { samples, bytesPerSample } = frameLayout(ds);
  const frames = framesOfFragments(pixels.fragments, Math.max(1, ds.number(Tag.NumberOfFrames) ?? 1));
  const decoded: Buffer[] = [];
  let photometric = ds.string(Tag.PhotometricInterpretation) ?? 'MONOCHROME2';
  for (const [i, frame] of frames.entries()) {
    try {
      const d = await decodeFrame(ds, frame, transferSyntaxUid);
      decoded.push(d.pixels);
      photometric = d.photometric;
    } catch (err) {
      throw new DicomError('BAD_VALUE', `frame ${i + 1}: ${(err as Error).message}`);
    }
  }
  ds.setElement({ tag: Tag.PixelData, vr: bytesPerSample === 1 ? 'OB' : 'OW', bytes: Buffer.concat(decoded) });
  ds.set(Tag.PhotometricInterpretation, 'CS', photometric);
  if (samples > 1) ds.set(Tag.PlanarConfiguration, 'US', 0);
  return ds;
}

/**
 * The frames of encapsulated pixel data (PS3.5 A.4): one fragment per frame, all fragments for a single frame, or
 * grouped by the Basic Offset Table.
 */
export function framesOfFragments(fragments: readonly Buffer[], count: number): Buffer[] {
  const [offsetTable = Buffer.alloc(0), ...rest] = fragments;
  if (count === 1) return [Buffer.concat(rest)];
  if (rest.length === count) return rest;
  if (offsetTable.length !== count * 4)
    throw new DicomError('BAD_VALUE', `${count} frames in ${rest.length} fragments without a Basic Offset Table`);
  const offsets = Array.from({ length: count }, (_, i) => offsetTable.readUInt32LE(i * 4));
  const frames: Buffer[] = Array.from({ length: count }, () => Buffer.alloc(0));
  let at = 0;
  for (const fragment of rest) {
    // A fragment belongs to the last frame whose offset is at or before it (offsets count item headers too).
    let f = 0;
    while (f + 1 < count && offsets[f + 1]! <= at) f++;
    frames[f] = Buffer.concat([frames[f]!, fragment]);
    at += fragment.length + 8;
  }
  return frames;
}

/** One frame of samples: 8 or 16 bits each (16 as little-endian words), one component or three interleaved by pixel. */
export interface RawFrame {
  width: number;
  height: number;
  bitsPerSample: 8 | 16;
  components: 1 | 3;
}

/**
 * One frame as a lossless JPEG-LS stream (CharLS), every bit pattern kept: signed samples are coded as the unsigned
 * words they are stored as, and come back the same.
 */
export async function encodeJpegLsLossless(samples: Buffer, frame: RawFrame): Promise<Buffer> {
  const Encoder = await CHARLS_ENCODER();
  const e = new Encoder();
  try {
    e.getDecodedBuffer({
      width: frame.width,
      height: frame.height,
      bitsPerSample: frame.bitsPerSample,
      componentCount: frame.components,
      isSigned: false,
      isUsingColorTransform: false,
    }).set(samples);
    if (frame.components === 3) e.setInterleaveMode(2);
    e.encode();
    // Copied out of WebAssembly memory, which the next encode reuses.
    return Buffer.from(e.getEncodedBuffer());
  } finally {
    e.delete();
  }
}

/** Compiles CharLS's encoder and decoder ahead of the first frame (their WebAssembly takes some 25 ms). */
export async function loadJpegLs(): Promise<void> {
  await Promise.all([CHARLS_ENCODER(), CHARLS()]);
}

/** A JPEG-LS stream's samples, decoded by CharLS. */
export function decodeJpegLs(stream: Buffer): Promise<Buffer> {
  return wasmDecode(CHARLS, stream);
}
