// A small reader of Part 10 files for the offline viewer: it runs from the recipient's disk (file://), with no server
// and no other files, so it carries only what showing an image needs. Little endian, explicit or implicit VR.

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
/** JPEG baseline and extended: the browser decodes these itself. */
const JPEG = new Set(['1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.4.51']);
const DIRECTORY_SOP_CLASS = '1.2.840.10008.1.3.10';
/** VRs whose explicit length has 4 bytes (after 2 reserved ones). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const UNDEFINED = 0xffffffff;

const tag = (group: number, element: number): number => group * 0x10000 + element;
const T = {
  charset: tag(0x0008, 0x0005),
  sopClass: tag(0x0008, 0x0016),
  studyDate: tag(0x0008, 0x0020),
  modality: tag(0x0008, 0x0060),
  studyDescription: tag(0x0008, 0x1030),
  seriesDescription: tag(0x0008, 0x103e),
  patientName: tag(0x0010, 0x0010),
  studyUid: tag(0x0020, 0x000d),
  seriesUid: tag(0x0020, 0x000e),
  seriesNumber: tag(0x0020, 0x0011),
  instanceNumber: tag(0x0020, 0x0013),
  samples: tag(0x0028, 0x0002),
  photometric: tag(0x0028, 0x0004),
  planar: tag(0x0028, 0x0006),
  rows: tag(0x0028, 0x0010),
  columns: tag(0x0028, 0x0011),
  bitsAllocated: tag(0x0028, 0x0100),
  pixelRepresentation: tag(0x0028, 0x0103),
  windowCenter: tag(0x0028, 0x1050),
  windowWidth: tag(0x0028, 0x1051),
  intercept: tag(0x0028, 0x1052),
  slope: tag(0x0028, 0x1053),
  pixelData: tag(0x7fe0, 0x0010),
} as const;

/** What the viewer knows of one file: who and what it shows, how its pixels are stored, and where they are. */
export interface DicomFile {
  transferSyntax: string;
  sopClass: string;
  patientName: string;
  studyUid: string;
  studyDate: string;
  studyDescription: string;
  seriesUid: string;
  seriesNumber: number;
  seriesDescription: string;
  modality: string;
  instanceNumber: number;
  rows: number;
  columns: number;
  samples: number;
  photometric: string;
  planar: number;
  bitsAllocated: number;
  signed: boolean;
  slope: number;
  intercept: number;
  window: { center: number; width: number } | undefined;
  /** Where the pixel data starts and how long it is; undefined length for encapsulated (compressed) data. */
  pixels: { offset: number; length: number } | undefined;
}

/** Why a file is not shown: said to the person in plain words. */
export class NotShown extends Error {}

interface Element {
  /** Where the element's header starts. */
  start: number;
  tag: number;
  vr: string;
  offset: number;
  length: number;
}

/** The elements of a data set at its top level, from `start`, up to and including the pixel data. */
function* elements(view: DataView, start: number, explicit: boolean): Generator<Element> {
  let at = start;
  while (at + 8 <= view.byteLength) {
    const t = tag(view.getUint16(at, true), view.getUint16(at + 2, true));
    if (explicit && at + 12 > view.byteLength) return;
    const { vr, header, length } = headerOf(view, at, explicit && t >>> 16 !== 0xfffe);
    const offset = at + header;
    yield { start: at, tag: t, vr, offset, length };
    if (t === T.pixelData) return;
    at = length === UNDEFINED ? skipUndefined(view, offset, explicit) : offset + length;
  }
}

/** Past a sequence (or item) of undefined length: to just after its delimitation, nested ones included. */
function skipUndefined(view: DataView, start: number, explicit: boolean): number {
  let depth = 1;
  let at = start;
  while (at + 8 <= view.byteLength && depth > 0) {
    const group = view.getUint16(at, true);
    const element = view.getUint16(at + 2, true);
    if (group === 0xfffe) {
      const length = view.getUint32(at + 4, true);
      at += 8;
      if (element === 0xe0dd || element === 0xe00d) depth--;
      else if (length === UNDEFINED) depth++;
      else at += length;
      continue;
    }
    const { header, length } = headerOf(view, at, explicit);
    at += header;
    if (length === UNDEFINED) depth++;
    else at += length;
  }
  return at;
}

/** An element's header size and value length, explicit VR (short or long form) or implicit. */
function headerOf(view: DataView, at: number, explicit: boolean): { vr: string; header: number; length: number } {
  if (!explicit) return { vr: '', header: 8, length: view.getUint32(at + 4, true) };
  const vr = String.fromCharCode(view.getUint8(at + 4), view.getUint8(at + 5));
  if (LONG_VRS.has(vr))
    return { vr, header: 12, length: at + 12 <= view.byteLength ? view.getUint32(at + 8, true) : 0 };
  return { vr, header: 8, length: view.getUint16(at + 6, true) };
}

/**
 * Reads what the viewer needs from the start of a file (its first 64 KiB do for a header; the whole file for its
 * pixels). Throws NotShown for a file that is not a DICOM image this viewer can show.
 */
export function readDicom(buffer: ArrayBuffer): DicomFile {
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 132 || String.fromCharCode(...bytes.subarray(128, 132)) !== 'DICM')
    throw new NotShown('not a DICOM file');
  const latin1 = new TextDecoder('latin1');
  let transferSyntax = '';
  let datasetStart = 132;
  for (const e of elements(view, 132, true)) {
    if (e.tag >>> 16 !== 0x0002) {
      datasetStart = e.start;
      break;
    }
    if (e.tag === tag(0x0002, 0x0010)) transferSyntax = text(latin1, bytes, e);
  }
  if (transferSyntax !== IMPLICIT_LE && transferSyntax !== EXPLICIT_LE && !JPEG.has(transferSyntax))
    throw new NotShown(`stored as ${transferSyntax}, which this viewer does not show; open it in a DICOM viewer`);
  const found = new Map<number, Element>();
  for (const e of elements(view, datasetStart, transferSyntax !== IMPLICIT_LE)) found.set(e.tag, e);
  const charset = found.has(T.charset) ? text(latin1, bytes, found.get(T.charset)!) : '';
  const decoder = charset.includes('ISO_IR 192') ? new TextDecoder('utf-8') : latin1;
  const str = (t: number): string => {
    const e = found.get(t);
    return e !== undefined ? text(decoder, bytes, e) : '';
  };
  const num = (t: number, fallback: number): number => {
    const first = str(t).split('\\')[0]?.trim() ?? '';
    const n = Number(first);
    return first !== '' && Number.isFinite(n) ? n : fallback;
  };
  const us = (t: number, fallback: number): number => {
    const e = found.get(t);
    return e !== undefined && e.length >= 2 && e.offset + 2 <= view.byteLength
      ? view.getUint16(e.offset, true)
      : fallback;
  };
  const sopClass = str(T.sopClass);
  if (sopClass === DIRECTORY_SOP_CLASS) throw new NotShown('the DICOMDIR: it lists the files');
  const pixel = found.get(T.pixelData);
  const center = num(T.windowCenter, NaN);
  const width = num(T.windowWidth, NaN);
  return {
    transferSyntax,
    sopClass,
    patientName: personName(str(T.patientName)),
    studyUid: str(T.studyUid),
    studyDate: str(T.studyDate),
    studyDescription: str(T.studyDescription),
    seriesUid: str(T.seriesUid),
    seriesNumber: num(T.seriesNumber, 0),
    seriesDescription: str(T.seriesDescription),
    modality: str(T.modality),
    instanceNumber: num(T.instanceNumber, 0),
    rows: us(T.rows, 0),
    columns: us(T.columns, 0),
    samples: us(T.samples, 1),
    photometric: str(T.photometric),
    planar: us(T.planar, 0),
    bitsAllocated: us(T.bitsAllocated, 16),
    signed: us(T.pixelRepresentation, 0) === 1,
    slope: num(T.slope, 1),
    intercept: num(T.intercept, 0),
    window: Number.isFinite(center) && Number.isFinite(width) && width > 0 ? { center, width } : undefined,
    pixels: pixel !== undefined ? { offset: pixel.offset, length: pixel.length } : undefined,
  };
}

/** A DICOM person name as people write it: family name, then given names ("Kok^Sem" is "Kok, Sem"). */
function personName(pn: string): string {
  const [family = '', given = '', middle = ''] = (pn.split('=')[0] ?? '').split('^');
  const rest = [given, middle].filter((x) => x !== '').join(' ');
  return rest !== '' ? `${family}, ${rest}` : family;
}

function text(decoder: TextDecoder, bytes: Uint8Array, e: Element): string {
  const end = Math.min(bytes.length, e.offset + e.length);
  return decoder
    .decode(bytes.subarray(e.offset, end))
    .replace(/[\0\s]+$/, '')
    .trim();
}

/** The first frame of encapsulated pixel data: its fragments after the offset table, joined. */
export function firstFrame(buffer: ArrayBuffer, offset: number): Uint8Array<ArrayBuffer> {
  const view = new DataView(buffer);
  const parts: Uint8Array<ArrayBuffer>[] = [];
  let at = offset;
  let item = 0;
  while (at + 8 <= view.byteLength) {
    const group = view.getUint16(at, true);
    const element = view.getUint16(at + 2, true);
    const length = view.getUint32(at + 4, true);
    at += 8;
    if (group !== 0xfffe || element !== 0xe000) break;
    // The first item is the basic offset table; a single-frame image's fragments follow it.
    if (item++ > 0) parts.push(new Uint8Array(buffer, at, Math.min(length, view.byteLength - at)));
    at += length;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let n = 0;
  for (const p of parts) {
    out.set(p, n);
    n += p.length;
  }
  return out;
}
