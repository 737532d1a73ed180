// The viewer that travels in a share's zip (BEKIJK-BEELDEN.html): opened from the recipient's disk, it reads the
// unpacked folder the person picks, lists the studies and series, and shows the images one by one with window and
// level. Nothing leaves the computer: the page has no server and asks for none.
import { type DicomFile, firstFrame, NotShown, readDicom } from './dicom-file.ts';

interface Instance {
  file: File;
  header: DicomFile;
}

interface Series {
  key: string;
  header: DicomFile;
  instances: Instance[];
}

const HEADER_BYTES = 256 * 1024;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const picker = $<HTMLInputElement>('folder');
const nav = $<HTMLElement>('series');
const slider = $<HTMLInputElement>('slider');
const status = $<HTMLElement>('status');
const canvas = $<HTMLCanvasElement>('image');
const context = canvas.getContext('2d')!;

let series: Series[] = [];
let current: Series | undefined;
let index = 0;
/** The window in use, and the one the image came with (Reset goes back to it). */
let window: { center: number; width: number } | undefined;
let shown: { instance: Instance; buffer: ArrayBuffer; natural: { center: number; width: number } } | undefined;

picker.addEventListener('change', () => void open([...(picker.files ?? [])]));

async function open(files: File[]): Promise<void> {
  status.textContent = `${files.length} bestanden lezen… / reading ${files.length} files…`;
  const bySeries = new Map<string, Series>();
  let skipped = 0;
  for (const file of files) {
    try {
      const header = readDicom(await file.slice(0, HEADER_BYTES).arrayBuffer());
      if (header.pixels === undefined || header.rows === 0) {
        skipped++;
        continue;
      }
      const key = `${header.studyUid}|${header.seriesUid}`;
      let s = bySeries.get(key);
      if (s === undefined) {
        s = { key, header, instances: [] };
        bySeries.set(key, s);
      }
      s.instances.push({ file, header });
    } catch (err) {
      if (!(err instanceof NotShown)) throw err;
      skipped++;
    }
  }
  series = [...bySeries.values()].sort(
    (a, b) =>
      a.header.studyDate.localeCompare(b.header.studyDate) ||
      a.header.studyUid.localeCompare(b.header.studyUid) ||
      a.header.seriesNumber - b.header.seriesNumber,
  );
  for (const s of series) s.instances.sort((a, b) => a.header.instanceNumber - b.header.instanceNumber);
  listSeries();
  const images = series.reduce((n, s) => n + s.instances.length, 0);
  status.textContent =
    images === 0
      ? 'Geen beelden gevonden in deze map. / No images found in this folder.'
      : `${images} beelden in ${series.length} series${skipped > 0 ? ` (${skipped} andere bestanden)` : ''}.`;
  if (series[0] !== undefined) await choose(series[0]);
}

function listSeries(): void {
  nav.replaceChildren();
  let study = '';
  for (const s of series) {
    if (s.header.studyUid !== study) {
      study = s.header.studyUid;
      const h = document.createElement('h2');
      h.textContent = `${s.header.patientName} · ${dicomDate(s.header.studyDate)} · ${s.header.studyDescription}`;
      nav.append(h);
    }
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset['series'] = s.key;
    b.textContent = `${s.header.modality} ${s.header.seriesNumber || ''} ${s.header.seriesDescription} (${s.instances.length})`;
    b.addEventListener('click', () => void choose(s));
    nav.append(b);
  }
}

async function choose(s: Series): Promise<void> {
  current = s;
  for (const b of nav.querySelectorAll('button')) b.setAttribute('aria-current', String(b.dataset['series'] === s.key));
  slider.max = String(s.instances.length - 1);
  window = undefined;
  await show(0);
}

async function show(i: number): Promise<void> {
  if (current === undefined) return;
  index = Math.max(0, Math.min(current.instances.length - 1, i));
  slider.value = String(index);
  const instance = current.instances[index]!;
  const buffer = await instance.file.arrayBuffer();
  const header = readDicom(buffer);
  shown = { instance, buffer, natural: header.window ?? rangeOf(header, buffer) };
  window ??= shown.natural;
  await draw();
}

async function draw(): Promise<void> {
  if (shown === undefined || current === undefined || window === undefined) return;
  const header = readDicom(shown.buffer);
  const pixels = header.pixels!;
  canvas.width = header.columns;
  canvas.height = header.rows;
  const where = `Beeld ${index + 1} van ${current.instances.length}`;
  if (header.pixels!.length === 0xffffffff) {
    // JPEG: the browser decodes it; window and level are the encoder's.
    const bitmap = await createImageBitmap(new Blob([firstFrame(shown.buffer, pixels.offset)], { type: 'image/jpeg' }));
    context.drawImage(bitmap, 0, 0);
    status.textContent = `${where} (JPEG)`;
    return;
  }
  const image = context.createImageData(header.columns, header.rows);
  const out = image.data;
  const count = header.rows * header.columns;
  if (header.samples === 3 && header.bitsAllocated === 8) {
    const rgb = new Uint8Array(shown.buffer, pixels.offset, Math.min(pixels.length, count * 3));
    for (let p = 0; p < count; p++) {
      const [r, g, b] =
        header.planar === 1
          ? [rgb[p] ?? 0, rgb[p + count] ?? 0, rgb[p + 2 * count] ?? 0]
          : [rgb[3 * p] ?? 0, rgb[3 * p + 1] ?? 0, rgb[3 * p + 2] ?? 0];
      out.set([r, g, b, 255], 4 * p);
    }
  } else {
    const value = sampler(header, shown.buffer);
    const low = window.center - window.width / 2;
    const invert = header.photometric === 'MONOCHROME1';
    for (let p = 0; p < count; p++) {
      const v = value(p) * header.slope + header.intercept;
      let g = Math.round(((v - low) / window.width) * 255);
      g = g < 0 ? 0 : g > 255 ? 255 : g;
      if (invert) g = 255 - g;
      out[4 * p] = out[4 * p + 1] = out[4 * p + 2] = g;
      out[4 * p + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
  status.textContent = `${where} · W ${Math.round(window.width)} L ${Math.round(window.center)}`;
}

/** The stored value of pixel `p` of a monochrome image, as its bits and sign say. */
function sampler(header: DicomFile, buffer: ArrayBuffer): (p: number) => number {
  const view = new DataView(buffer, header.pixels!.offset);
  if (header.bitsAllocated === 8) return (p) => (header.signed ? view.getInt8(p) : view.getUint8(p));
  return (p) => (header.signed ? view.getInt16(2 * p, true) : view.getUint16(2 * p, true));
}

/** Without a window in the file: the image's own range of values. */
function rangeOf(header: DicomFile, buffer: ArrayBuffer): { center: number; width: number } {
  if (header.pixels === undefined || header.pixels.length === 0xffffffff || header.samples !== 1)
    return { center: 127, width: 256 };
  const value = sampler(header, buffer);
  let min = Infinity;
  let max = -Infinity;
  for (let p = 0; p < header.rows * header.columns; p++) {
    const v = value(p) * header.slope + header.intercept;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { center: (min + max) / 2, width: Math.max(1, max - min) };
}

function dicomDate(d: string): string {
  return /^\d{8}$/.test(d) ? `${d.slice(6, 8)}-${d.slice(4, 6)}-${d.slice(0, 4)}` : d;
}

slider.addEventListener('input', () => void show(Number(slider.value)));
$('prev').addEventListener('click', () => void show(index - 1));
$('next').addEventListener('click', () => void show(index + 1));
$('reset').addEventListener('click', () => {
  window = shown?.natural;
  void draw();
});
canvas.addEventListener('wheel', (e) => {
  e.preventDefault();
  void show(index + Math.sign(e.deltaY));
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'ArrowDown' || e.key === 'ArrowRight') void show(index + 1);
  if (e.key === 'ArrowUp' || e.key === 'ArrowLeft') void show(index - 1);
});
// Dragging sets the window: sideways its width, up and down its level.
let drag: { x: number; y: number; from: { center: number; width: number } } | undefined;
canvas.addEventListener('pointerdown', (e) => {
  if (window !== undefined) drag = { x: e.clientX, y: e.clientY, from: window };
});
addEventListener('pointerup', () => (drag = undefined));
canvas.addEventListener('pointermove', (e) => {
  if (drag === undefined) return;
  const scale = drag.from.width / 256;
  window = {
    width: Math.max(1, drag.from.width + (e.clientX - drag.x) * scale),
    center: drag.from.center + (e.clientY - drag.y) * scale,
  };
  void draw();
});
