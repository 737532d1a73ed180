/**
 * Compressed pixel data decoded into native (uncompressed little endian) pixels, for a requestor that does not accept
 * the syntax an instance is stored in (PS3.5 8.2, A.4). The codecs are maintained WebAssembly builds from npm, the same
 * the web app's viewer decodes with: CharLS (JPEG-LS), OpenJPEG (JPEG 2000), OpenJPH (HTJ2K), libjpeg-turbo (8-bit
 * JPEG baseline) and jpeg-lossless-decoder-js (JPEG lossless). Nothing is decoded by code written here.
 */
import { createRequire } from 'node:module';
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

interface Codec {
  decode(frame: Buffer, bytesPerSample: 1 | 2): Promise<Buffer>;
  /** The photometric interpretation the decoded pixels have, from the stored one (colour JPEG comes out RGB). */
  photometric(stored: string): string;
}

const asStored = (p: string): string => p;
const colourToRgb = (p: string): string => (/^YBR_(FULL|FULL_422|ICT|RCT)$/.test(p) ? 'RGB' : p);

function wasmCodec(load: () => Promise<new () => WasmDecoder>, photometric: (p: string) => string): Codec {
  return {
    async decode(frame) {
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
    },
    photometric,
  };
}

let losslessDecoder: Promise<new () => { decode(b: ArrayBuffer, o: number, l: number, n: number): ArrayBufferView }>;
const JPEG_LOSSLESS: Codec = {
  async decode(frame, bytesPerSample) {
    losslessDecoder ??= import('@cornerstonejs/jpeg-lossless-decoder-js').then((m) => m.Decoder as never);
    const Decoder = await losslessDecoder;
    const out = new Decoder().decode(frame.buffer as ArrayBuffer, frame.byteOffset, frame.length, bytesPerSample);
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
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
function frameLayout(ds: Dataset): { samples: number; bytesPerSample: 1 | 2; frameBytes: number } {
  const rows = ds.number(Tag.Rows) ?? 0;
  const columns = ds.number(Tag.Columns) ?? 0;
  const samples = ds.number(Tag.SamplesPerPixel) ?? 1;
  const bytesPerSample = (ds.number(Tag.BitsAllocated) ?? 16) <= 8 ? 1 : 2;
  return { samples, bytesPerSample, frameBytes: rows * columns * samples * bytesPerSample };
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
  const { bytesPerSample, frameBytes } = frameLayout(ds);
  const pixels = await codec.decode(frame, bytesPerSample);
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

/** A JPEG-LS stream's samples, decoded by CharLS. */
export function decodeJpegLs(stream: Buffer): Promise<Buffer> {
  return JPEG_LS.decode(stream, 2);
}
