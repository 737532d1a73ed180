import { canDecode, type Dataset, decodeFrame, Tag } from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';

/** A VOI window as PS3.18 8.3.5.1.4 spells it: `window=center,width,function`. */
export interface Window {
  center: number;
  width: number;
  fn: 'linear' | 'linear-exact' | 'sigmoid';
}

export interface RenderOptions {
  window?: Window;
  /** Fit inside this many pixels, keeping the aspect ratio; never enlarged. */
  viewport?: { width: number; height: number };
  type: 'image/jpeg' | 'image/png';
  /** JPEG quality, 1..100. */
  quality?: number;
}

const BIG_ENDIAN = '1.2.840.10008.1.2.2';

/** Parses `window=c,w[,fn]`; undefined when absent, a clear error when malformed. */
export function parseWindow(v: string | undefined): Window | undefined {
  if (v === undefined) return undefined;
  const [c, w, fn = 'linear'] = v.split(',').map((s) => s.trim());
  const center = Number(c);
  const width = Number(w);
  if (
    !Number.isFinite(center) ||
    !Number.isFinite(width) ||
    width <= 0 ||
    !['linear', 'linear-exact', 'sigmoid'].includes(fn)
  )
    throw new BeeldbrugError('REQUEST_INVALID', 'window: center,width[,linear|linear-exact|sigmoid], width above 0');
  return { center, width, fn: fn as Window['fn'] };
}

/** Parses `viewport=vw,vh` (PS3.18 8.3.5.1.3; the optional source rectangle is not taken). */
export function parseViewport(v: string | undefined): { width: number; height: number } | undefined {
  if (v === undefined) return undefined;
  const [w, h] = v.split(',').map((s) => Number(s.trim()));
  if (!Number.isInteger(w) || !Number.isInteger(h) || w! < 1 || h! < 1 || w! > 8192 || h! > 8192)
    throw new BeeldbrugError('REQUEST_INVALID', 'viewport: width,height in pixels, 1 to 8192');
  return { width: w!, height: h! };
}

/**
 * The stored values of a grayscale frame as numbers after the modality LUT (rescale slope and intercept, PS3.3
 * C.11.1), honouring Bits Stored and signedness.
 */
function modalityValues(ds: Dataset, frame: Buffer, count: number): Float32Array {
  const bits = ds.number(Tag.BitsAllocated) ?? 16;
  const stored = ds.number(Tag.BitsStored) ?? bits;
  const signed = (ds.number(Tag.PixelRepresentation) ?? 0) === 1;
  const slope = ds.number(Tag.RescaleSlope) ?? 1;
  const intercept = ds.number(Tag.RescaleIntercept) ?? 0;
  const out = new Float32Array(count);
  const mask = stored >= 32 ? 0xffffffff : 2 ** stored - 1;
  const signBit = 2 ** (stored - 1);
  for (let i = 0; i < count; i++) {
    let v = bits === 8 ? frame[i]! : frame.readUInt16LE(i * 2);
    v &= mask;
    if (signed && v >= signBit) v -= 2 ** stored;
    out[i] = v * slope + intercept;
  }
  return out;
}

/** The VOI LUT functions of PS3.3 C.11.2.1.2 onto 0..255. */
function voi(w: Window): (x: number) => number {
  if (w.fn === 'sigmoid') return (x) => 255 / (1 + Math.exp((-4 * (x - w.center)) / w.width));
  if (w.fn === 'linear-exact') {
    const low = w.center - w.width / 2;
    return (x) => (x <= low ? 0 : x > w.center + w.width / 2 ? 255 : ((x - low) / w.width) * 255);
  }
  const low = w.center - 0.5 - (w.width - 1) / 2;
  const high = w.center - 0.5 + (w.width - 1) / 2;
  return (x) => (x <= low ? 0 : x > high ? 255 : ((x - (w.center - 0.5)) / (w.width - 1) + 0.5) * 255);
}

/** The window the request names, else the instance's first one, else the frame's own range. */
function windowOf(ds: Dataset, values: Float32Array, asked: Window | undefined): Window {
  if (asked !== undefined) return asked;
  const center = ds.numbers(Tag.WindowCenter, 1)[0];
  const width = ds.numbers(Tag.WindowWidth, 1)[0];
  if (center !== undefined && width !== undefined && width > 0) return { center, width, fn: 'linear' };
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { center: (min + max) / 2, width: Math.max(1, max - min), fn: 'linear-exact' };
}

/**
 * One frame as JPEG or PNG for a person to look at (PS3.18 rendered resources): grayscale through the modality LUT and
 * a VOI window (MONOCHROME1 inverted), RGB as it is. A compressed frame is decoded first (dicom/pixel-codecs.ts).
 */
export async function renderFrame(
  ds: Dataset,
  stored: Buffer,
  transferSyntaxUid: string,
  encapsulated: boolean,
  o: RenderOptions,
): Promise<Buffer> {
  if ((encapsulated && !canDecode(transferSyntaxUid)) || transferSyntaxUid === BIG_ENDIAN)
    throw new BeeldbrugError(
      'RENDERING_UNSUPPORTED',
      `the pixel data is in transfer syntax ${transferSyntaxUid}, which this node does not render`,
    );
  let frame = stored;
  let photometric = ds.string(Tag.PhotometricInterpretation) ?? 'MONOCHROME2';
  if (encapsulated) {
    try {
      ({ pixels: frame, photometric } = await decodeFrame(ds, stored, transferSyntaxUid));
    } catch (err) {
      throw new BeeldbrugError('RENDERING_UNSUPPORTED', `the frame cannot be decoded: ${(err as Error).message}`);
    }
  }
  const rows = ds.number(Tag.Rows) ?? 0;
  const columns = ds.number(Tag.Columns) ?? 0;
  const bits = ds.number(Tag.BitsAllocated) ?? 16;
  const count = rows * columns;
  let raw: Buffer;
  let channels: 1 | 3;
  if ((photometric === 'MONOCHROME1' || photometric === 'MONOCHROME2') && (bits === 8 || bits === 16)) {
    const values = modalityValues(ds, frame, count);
    const f = voi(windowOf(ds, values, o.window));
    raw = Buffer.alloc(count);
    const invert = photometric === 'MONOCHROME1';
    for (let i = 0; i < count; i++) {
      const g = Math.round(f(values[i]!));
      raw[i] = invert ? 255 - g : g;
    }
    channels = 1;
  } else if (photometric === 'RGB' && bits === 8) {
    // Decoded frames come interleaved, whatever the data set says of the stored ones.
    if (!encapsulated && (ds.number(Tag.PlanarConfiguration) ?? 0) === 1) {
      raw = Buffer.alloc(count * 3);
      for (let i = 0; i < count; i++) for (let c = 0; c < 3; c++) raw[i * 3 + c] = frame[c * count + i]!;
    } else raw = frame.subarray(0, count * 3);
    channels = 3;
  } else
    throw new BeeldbrugError(
      'RENDERING_UNSUPPORTED',
      `a ${photometric} image of ${bits} bits allocated is not rendered by this node yet`,
    );
  // sharp (libvips) loads at the first rendered frame: most nodes never render (viewers ask for the stored pixels), and
  // loading it at start cost every start and every command some 80 ms and the node's memory its library.
  const { default: sharp } = await import('sharp');
  let image = sharp(raw, { raw: { width: columns, height: rows, channels } });
  if (o.viewport !== undefined)
    image = image.resize(o.viewport.width, o.viewport.height, { fit: 'inside', withoutEnlargement: true });
  return o.type === 'image/png'
    ? image.png({ compressionLevel: 6 }).toBuffer()
    : image.jpeg({ quality: o.quality ?? 90 }).toBuffer();
}
