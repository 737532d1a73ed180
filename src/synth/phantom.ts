/**
 * Synthetic anatomy painted slice by slice: ellipses filled row by row in painter's order (later shapes cover
 * earlier ones), then a little noise. Filling spans instead of testing every pixel against every shape keeps a
 * 512x512 slice at about a millisecond, so a 500-slice CT is generated in seconds.
 */
import { endianness } from 'node:os';

export interface Ellipse {
  /** Centre and half-axes in millimetres; x to the patient's left, y to posterior (PS3.3 C.7.6.2.1.1). */
  cx: number;
  cy: number;
  a: number;
  b: number;
  value: number;
}

export interface Grid {
  rows: number;
  columns: number;
  /** Millimetres per pixel. */
  spacing: number;
}

export function paint(grid: Grid, background: number, shapes: readonly Ellipse[], out: Int16Array | Uint16Array): void {
  const { rows, columns, spacing } = grid;
  out.fill(background);
  const x0 = -(columns - 1) * spacing * 0.5;
  const y0 = -(rows - 1) * spacing * 0.5;
  for (let r = 0; r < rows; r++) {
    const y = y0 + r * spacing;
    const rowStart = r * columns;
    for (const s of shapes) {
      const dy = (y - s.cy) / s.b;
      if (dy <= -1 || dy >= 1) continue;
      const half = s.a * Math.sqrt(1 - dy * dy);
      const c0 = Math.max(0, Math.ceil((s.cx - half - x0) / spacing));
      const c1 = Math.min(columns - 1, Math.floor((s.cx + half - x0) / spacing));
      if (c1 >= c0) out.fill(s.value, rowStart + c0, rowStart + c1 + 1);
    }
  }
}

/** Adds uniform-sum noise of about +-amplitude (triangular distribution) with a fast xorshift generator. */
export function addNoise(
  out: Int16Array | Uint16Array,
  amplitude: number,
  seed: number,
  min: number,
  max: number,
): void {
  let x = seed | 0 || 0x9e3779b9;
  const scale = amplitude / 2147483648;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const a = x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const v = (out[i] ?? 0) + Math.round((a + x) * 0.5 * scale);
    out[i] = v < min ? min : v > max ? max : v;
  }
}

/** Little-endian bytes of a 16-bit pixel array, without copying on little-endian hosts (PS3.5 8.1.1). */
export function pixelBytes(px: Int16Array | Uint16Array): Buffer {
  const buf = Buffer.from(px.buffer, px.byteOffset, px.byteLength);
  return endianness() === 'LE' ? buf : Buffer.from(buf).swap16();
}

export type CtRegion = 'HEAD' | 'CHEST' | 'ABDOMEN';

const ring = (cx: number, cy: number, a: number, b: number, t: number, outer: number, inner: number): Ellipse[] => [
  { cx, cy, a, b, value: outer },
  { cx, cy, a: a - t, b: b - t, value: inner },
];

/**
 * CT anatomy in Hounsfield units for a slice at fraction `t` (0 = top, 1 = bottom) through `region`, `z` in mm for
 * structures that repeat along the body (ribs). Air -1000, fat about -100, soft tissue 30..60, bone 700..1000.
 */
export function ctAnatomy(region: CtRegion, t: number, z: number): Ellipse[] {
  if (region === 'HEAD') {
    const w = Math.sqrt(Math.max(0.15, 1 - (2 * t - 1) ** 2 * 0.75));
    const shapes = [
      { cx: 0, cy: 0, a: 78 * w, b: 98 * w, value: 20 },
      ...ring(0, 0, 74 * w, 94 * w, 7, 950, 35),
      { cx: 0, cy: 0, a: 55 * w, b: 75 * w, value: 28 },
    ];
    if (t > 0.3 && t < 0.7)
      shapes.push({ cx: -9, cy: -5, a: 5, b: 22 * w, value: 5 }, { cx: 9, cy: -5, a: 5, b: 22 * w, value: 5 });
    if (t > 0.75)
      shapes.push({ cx: 0, cy: -70 * w, a: 18, b: 12, value: -1000 }, { cx: 0, cy: 35, a: 14, b: 14, value: 800 });
    return shapes;
  }
  const spine: Ellipse[] = [
    ...ring(0, 75, 20, 19, 3, 1000, 260),
    { cx: 0, cy: 104, a: 8, b: 7, value: 15 },
    { cx: 0, cy: 118, a: 7, b: 9, value: 850 },
  ];
  if (region === 'CHEST') {
    const lung = Math.sin(Math.PI * Math.min(1, 0.15 + t));
    const shapes: Ellipse[] = [
      { cx: 0, cy: 0, a: 175, b: 125, value: -100 },
      { cx: 0, cy: 0, a: 160, b: 110, value: 45 },
      { cx: -78, cy: -5, a: 62 * lung + 8, b: 88 * lung + 8, value: -860 },
      { cx: 78, cy: -5, a: 58 * lung + 8, b: 86 * lung + 8, value: -860 },
    ];
    if (t > 0.3)
      shapes.push({ cx: 18, cy: -5, a: 58 * Math.sin(Math.PI * t), b: 50 * Math.sin(Math.PI * t), value: 40 });
    shapes.push({ cx: -12, cy: 50, a: 14, b: 14, value: 45 }, { cx: 0, cy: -112, a: 16, b: 7, value: 750 }, ...spine);
    // Ribs come and go along z: a rib roughly every 25 mm, cut obliquely.
    if (Math.sin((z * 2 * Math.PI) / 25) > 0.2) {
      for (const angle of [0.35, 0.75, 1.15, 1.6, 2.0, 2.4, 2.8]) {
        for (const side of [-1, 1]) {
          shapes.push({ cx: side * 152 * Math.sin(angle), cy: -102 * Math.cos(angle), a: 6, b: 5, value: 800 });
        }
      }
    }
    return shapes;
  }
  const shapes: Ellipse[] = [
    { cx: 0, cy: 0, a: 165, b: 118, value: -100 },
    { cx: 0, cy: 0, a: 145, b: 100, value: 40 },
  ];
  if (t < 0.6) shapes.push({ cx: -65, cy: -5, a: 80 * (1 - t), b: 70 * (1 - t * 0.8), value: 60 });
  if (t > 0.25 && t < 0.8)
    shapes.push({ cx: -72, cy: 48, a: 24, b: 34, value: 30 }, { cx: 72, cy: 48, a: 24, b: 34, value: 30 });
  shapes.push({ cx: 45, cy: -30, a: 22, b: 14, value: -950 }, { cx: 10, cy: -55, a: 12, b: 9, value: -950 });
  shapes.push({ cx: 12, cy: 45, a: 12, b: 12, value: 180 });
  if (t > 0.7) shapes.push(...ring(-105, 40, 40, 55, 5, 900, 300), ...ring(105, 40, 40, 55, 5, 900, 300));
  shapes.push(...spine);
  return shapes;
}

/** MR (T1-like, arbitrary units 0..4095): a head with skull, grey and white matter, CSF. */
export function mrHeadAnatomy(t: number): Ellipse[] {
  const w = Math.sqrt(Math.max(0.15, 1 - (2 * t - 1) ** 2 * 0.75));
  const shapes: Ellipse[] = [
    { cx: 0, cy: 0, a: 80 * w, b: 100 * w, value: 1100 },
    ...ring(0, 0, 75 * w, 95 * w, 6, 60, 450),
    { cx: 0, cy: 0, a: 58 * w, b: 76 * w, value: 650 },
  ];
  if (t > 0.3 && t < 0.7)
    shapes.push({ cx: -9, cy: -5, a: 5, b: 22 * w, value: 150 }, { cx: 9, cy: -5, a: 5, b: 22 * w, value: 150 });
  return shapes;
}

/** MR knee: fat, muscle, femur/tibia marrow (bright on T1), cartilage. */
export function mrKneeAnatomy(t: number): Ellipse[] {
  return [
    { cx: 0, cy: 0, a: 60, b: 55, value: 1200 },
    { cx: 0, cy: 0, a: 52, b: 47, value: 380 },
    ...ring(0, 0, 32 - 8 * t, 28 - 6 * t, 3, 40, 1300),
    { cx: 0, cy: -34, a: 14, b: 6, value: 1300 },
  ];
}

/**
 * Projection radiograph of a chest, PA (MONOCHROME2, 12 bit): bright where attenuation is high (bone,
 * mediastinum), dark over the lungs and outside the body.
 */
export function chestRadiograph(grid: Grid, out: Uint16Array, seed: number): void {
  const h = grid.rows * grid.spacing;
  const shapes: Ellipse[] = [
    { cx: 0, cy: 0.05 * h, a: 0.42 * grid.columns * grid.spacing, b: 0.55 * h, value: 1900 },
    {
      cx: -0.16 * grid.columns * grid.spacing,
      cy: -0.02 * h,
      a: 0.13 * grid.columns * grid.spacing,
      b: 0.27 * h,
      value: 700,
    },
    {
      cx: 0.16 * grid.columns * grid.spacing,
      cy: -0.02 * h,
      a: 0.13 * grid.columns * grid.spacing,
      b: 0.27 * h,
      value: 700,
    },
    {
      cx: 0.03 * grid.columns * grid.spacing,
      cy: 0.12 * h,
      a: 0.11 * grid.columns * grid.spacing,
      b: 0.12 * h,
      value: 2100,
    },
    { cx: 0, cy: 0, a: 0.025 * grid.columns * grid.spacing, b: 0.5 * h, value: 2700 },
  ];
  paint(grid, 150, shapes, out);
  // Ribs: bright bands curving over the lung fields.
  const { rows, columns, spacing } = grid;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) {
      const i = r * columns + c;
      const v = out[i] ?? 0;
      if (v !== 700) continue;
      const x = (c - columns / 2) * spacing;
      const y = (r - rows / 2) * spacing + 0.0009 * x * x;
      if (((y % 32) + 32) % 32 < 9) out[i] = 1350;
    }
  }
  addNoise(out, 25, seed, 0, 4095);
}
