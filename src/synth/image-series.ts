/**
 * Image series of synthetic studies: CT (PS3.3 A.3, CT Image module C.8.2.1), MR (A.4, C.8.3.1), CR (A.2) and
 * DX for presentation (A.26). Geometry is consistent: Image Position (Patient), Slice Location and Instance Number
 * advance together along the table, feet-ward from the first slice.
 */
import { join } from 'node:path';
import { type Dataset, SopClass, Tag, TransferSyntax, writePart10 } from '../dicom/index.ts';
import {
  addNoise,
  chestRadiograph,
  type CtRegion,
  ctAnatomy,
  type Ellipse,
  type Grid,
  mrHeadAnatomy,
  mrKneeAnatomy,
  paint,
  pixelBytes,
} from './phantom.ts';
import { derivedUid } from './random.ts';
import type { EvidenceSeries } from './report.ts';
import { instanceHeader, type PatientInfo, type SeriesInfo, type StudyInfo } from './study-header.ts';

export interface SeriesTarget {
  patient: PatientInfo;
  study: StudyInfo;
  series: SeriesInfo;
  dir: string;
  seed: number;
  /** Prefix for derived UIDs, unique per series within a seed. */
  label: string;
}

export interface SeriesResult {
  files: string[];
  bytes: number;
  evidence: EvidenceSeries;
}

/** Writes files with a few writes in flight, so generating the next slice overlaps the disk. */
class FileSink {
  readonly files: string[] = [];
  bytes = 0;
  readonly #inFlight = new Set<Promise<void>>();

  async write(path: string, ds: Dataset): Promise<void> {
    while (this.#inFlight.size >= 4) await Promise.race(this.#inFlight);
    this.files.push(path);
    const p: Promise<void> = writePart10(path, ds, TransferSyntax.ExplicitVRLittleEndian).then((n) => {
      this.bytes += n;
      this.#inFlight.delete(p);
    });
    this.#inFlight.add(p);
  }

  async drain(): Promise<void> {
    await Promise.all(this.#inFlight);
  }
}

function fileName(dir: string, index: number): string {
  return join(dir, `${String(index + 1).padStart(5, '0')}.dcm`);
}

function ds(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}

const CT_FOV: Record<CtRegion, number> = { HEAD: 250, CHEST: 500, ABDOMEN: 500 };
const CT_LENGTH: Record<CtRegion, number> = { HEAD: 180, CHEST: 300, ABDOMEN: 350 };
const CT_START: Record<CtRegion, number> = { HEAD: 0, CHEST: -150, ABDOMEN: -450 };

export async function writeCtSeries(
  target: SeriesTarget,
  o: { instances: number; region: CtRegion; frameOfReferenceUid: string },
): Promise<SeriesResult> {
  const grid: Grid = { rows: 512, columns: 512, spacing: CT_FOV[o.region] / 512 };
  const spacing = Math.max(0.625, Math.round((CT_LENGTH[o.region] / o.instances) * 1000) / 1000);
  const sink = new FileSink();
  const evidence: EvidenceSeries = { seriesInstanceUid: target.series.seriesInstanceUid, instances: [] };
  const origin = -(grid.columns - 1) * grid.spacing * 0.5;
  for (let i = 0; i < o.instances; i++) {
    const z = CT_START[o.region] - i * spacing;
    const t = o.instances === 1 ? 0.5 : i / (o.instances - 1);
    const px = new Int16Array(grid.rows * grid.columns);
    // Stored value = HU - intercept (-1024), so air (-1000 HU) is stored as 24.
    const shapes = ctAnatomy(o.region, t, z).map((s): Ellipse => ({ ...s, value: s.value + 1024 }));
    paint(grid, 24, shapes, px);
    addNoise(px, 8, target.seed * 7919 + i * 104729 + 1, 0, 4095);
    const uid = derivedUid(target.seed, `${target.label}/${i}`);
    evidence.instances.push({ sopClassUid: SopClass.CTImageStorage, sopInstanceUid: uid });
    const d = instanceHeader(target.patient, target.study, target.series, SopClass.CTImageStorage, uid)
      .set(Tag.ImageType, 'CS', ['ORIGINAL', 'PRIMARY', 'AXIAL'])
      .set(Tag.AcquisitionTime, 'TM', target.series.seriesTime)
      .set(Tag.SliceThickness, 'DS', ds(spacing))
      .set(Tag.KVP, 'DS', 120)
      .set(Tag.DataCollectionDiameter, 'DS', CT_FOV[o.region])
      .set(Tag.ReconstructionDiameter, 'DS', CT_FOV[o.region])
      .set(Tag.GantryDetectorTilt, 'DS', 0)
      .set(Tag.XRayTubeCurrent, 'IS', 200)
      .set(Tag.ConvolutionKernel, 'SH', o.region === 'CHEST' ? 'B70f' : 'B30f')
      .set(Tag.PatientPosition, 'CS', 'HFS')
      .set(Tag.AcquisitionNumber, 'IS', 1)
      .set(Tag.InstanceNumber, 'IS', i + 1)
      .set(Tag.WindowCenter, 'DS', o.region === 'HEAD' ? 40 : o.region === 'CHEST' ? -600 : 50)
      .set(Tag.WindowWidth, 'DS', o.region === 'HEAD' ? 80 : o.region === 'CHEST' ? 1500 : 400)
      .set(Tag.RescaleIntercept, 'DS', -1024)
      .set(Tag.RescaleSlope, 'DS', 1)
      .set(Tag.RescaleType, 'LO', 'HU')
      .set(Tag.PixelData, 'OW', pixelBytes(px));
    setAxialPlane(d, grid, { origin, z, frameOfReferenceUid: o.frameOfReferenceUid });
    setGrayscalePixelModule(d, grid, { bitsStored: 16, signed: true });
    await sink.write(fileName(target.dir, i), d);
  }
  await sink.drain();
  return { files: sink.files, bytes: sink.bytes, evidence };
}

export async function writeMrSeries(
  target: SeriesTarget,
  o: { instances: number; anatomy: 'HEAD' | 'KNEE'; weighting: 'T1' | 'T2'; frameOfReferenceUid: string },
): Promise<SeriesResult> {
  const grid: Grid = { rows: 256, columns: 256, spacing: o.anatomy === 'HEAD' ? 0.9375 : 0.625 };
  const spacing = o.anatomy === 'HEAD' ? 5 : 3.5;
  const sink = new FileSink();
  const evidence: EvidenceSeries = { seriesInstanceUid: target.series.seriesInstanceUid, instances: [] };
  const origin = -(grid.columns - 1) * grid.spacing * 0.5;
  for (let i = 0; i < o.instances; i++) {
    const z = (o.anatomy === 'HEAD' ? 10 : -560) - i * spacing;
    const t = o.instances === 1 ? 0.5 : i / (o.instances - 1);
    const px = new Uint16Array(grid.rows * grid.columns);
    let shapes = o.anatomy === 'HEAD' ? mrHeadAnatomy(t) : mrKneeAnatomy(t);
    // T2: fluid bright, fat a little darker; a crude inversion of the T1 contrast that still looks plausible.
    if (o.weighting === 'T2')
      shapes = shapes.map((s) => ({ ...s, value: s.value === 150 ? 1900 : s.value > 1000 ? 800 : s.value }));
    paint(grid, 0, shapes, px);
    addNoise(px, 30, target.seed * 31 + i * 7 + 3, 0, 4095);
    const uid = derivedUid(target.seed, `${target.label}/${i}`);
    evidence.instances.push({ sopClassUid: SopClass.MRImageStorage, sopInstanceUid: uid });
    const d = instanceHeader(target.patient, target.study, target.series, SopClass.MRImageStorage, uid)
      .set(Tag.ImageType, 'CS', ['ORIGINAL', 'PRIMARY', 'M', 'ND'])
      .set(Tag.ScanningSequence, 'CS', 'SE')
      .set(Tag.SequenceVariant, 'CS', 'NONE')
      .set(Tag.ScanOptions, 'CS', '')
      .set(Tag.MRAcquisitionType, 'CS', '2D')
      .set(Tag.SliceThickness, 'DS', spacing - 0.5)
      .set(Tag.RepetitionTime, 'DS', o.weighting === 'T1' ? 500 : 4000)
      .set(Tag.EchoTime, 'DS', o.weighting === 'T1' ? 12 : 95)
      .set(Tag.EchoTrainLength, 'IS', o.weighting === 'T1' ? 1 : 16)
      .set(Tag.ImagingFrequency, 'DS', 63.87)
      .set(Tag.ImagedNucleus, 'SH', '1H')
      .set(Tag.MagneticFieldStrength, 'DS', 1.5)
      .set(Tag.SpacingBetweenSlices, 'DS', spacing)
      .set(Tag.PatientPosition, 'CS', o.anatomy === 'HEAD' ? 'HFS' : 'FFS')
      .set(Tag.AcquisitionNumber, 'IS', 1)
      .set(Tag.InstanceNumber, 'IS', i + 1)
      .set(Tag.WindowCenter, 'DS', 700)
      .set(Tag.WindowWidth, 'DS', 1400)
      .set(Tag.PixelData, 'OW', pixelBytes(px));
    setAxialPlane(d, grid, { origin, z, frameOfReferenceUid: o.frameOfReferenceUid });
    setGrayscalePixelModule(d, grid, { bitsStored: 12, signed: false });
    await sink.write(fileName(target.dir, i), d);
  }
  await sink.drain();
  return { files: sink.files, bytes: sink.bytes, evidence };
}

/** One chest radiograph (PA) as CR or DX for presentation. */
export async function writeRadiograph(
  target: SeriesTarget,
  o: { kind: 'CR' | 'DX'; view: 'PA' | 'LL' },
): Promise<SeriesResult> {
  const grid: Grid =
    o.kind === 'CR' ? { rows: 1248, columns: 1024, spacing: 0.35 } : { rows: 1500, columns: 1200, spacing: 0.3 };
  const px = new Uint16Array(grid.rows * grid.columns);
  chestRadiograph(grid, px, target.seed * 13 + (o.view === 'PA' ? 1 : 2));
  const sopClassUid =
    o.kind === 'CR' ? SopClass.ComputedRadiographyImageStorage : SopClass.DigitalXRayImageStorageForPresentation;
  const uid = derivedUid(target.seed, `${target.label}/0`);
  const d = instanceHeader(target.patient, target.study, target.series, sopClassUid, uid)
    .set(Tag.ImageType, 'CS', ['ORIGINAL', 'PRIMARY'])
    .set(Tag.KVP, 'DS', o.view === 'PA' ? 125 : 110)
    .set(Tag.ExposureTime, 'IS', 10)
    .set(Tag.Exposure, 'IS', 3)
    .set(Tag.DistanceSourceToDetector, 'DS', 1800)
    .set(Tag.ImagerPixelSpacing, 'DS', [grid.spacing, grid.spacing])
    .set(Tag.ViewPosition, 'CS', o.view)
    .set(Tag.PatientOrientation, 'CS', o.view === 'PA' ? ['L', 'F'] : ['A', 'F'])
    .set(Tag.InstanceNumber, 'IS', 1)
    .set(Tag.SamplesPerPixel, 'US', 1)
    .set(Tag.PhotometricInterpretation, 'CS', 'MONOCHROME2')
    .set(Tag.Rows, 'US', grid.rows)
    .set(Tag.Columns, 'US', grid.columns)
    .set(Tag.BitsAllocated, 'US', 16)
    .set(Tag.BitsStored, 'US', 12)
    .set(Tag.HighBit, 'US', 11)
    .set(Tag.PixelRepresentation, 'US', 0)
    .set(Tag.WindowCenter, 'DS', 1500)
    .set(Tag.WindowWidth, 'DS', 3000)
    .set(Tag.LossyImageCompression, 'CS', '00');
  if (o.kind === 'DX') {
    d.set(Tag.PresentationIntentType, 'CS', 'FOR PRESENTATION')
      .set(Tag.RescaleIntercept, 'DS', 0)
      .set(Tag.RescaleSlope, 'DS', 1)
      .set(Tag.RescaleType, 'LO', 'US')
      .set(Tag.BurnedInAnnotation, 'CS', 'NO');
  }
  d.set(Tag.PixelData, 'OW', pixelBytes(px));
  const sink = new FileSink();
  await sink.write(fileName(target.dir, 0), d);
  await sink.drain();
  return {
    files: sink.files,
    bytes: sink.bytes,
    evidence: { seriesInstanceUid: target.series.seriesInstanceUid, instances: [{ sopClassUid, sopInstanceUid: uid }] },
  };
}

/** Image Plane module (PS3.3 C.7.6.2) of an axial slice centred on the patient axis. */
function setAxialPlane(d: Dataset, grid: Grid, at: { origin: number; z: number; frameOfReferenceUid: string }): void {
  d.set(Tag.ImagePositionPatient, 'DS', [ds(at.origin), ds(at.origin), ds(at.z)])
    .set(Tag.ImageOrientationPatient, 'DS', [1, 0, 0, 0, 1, 0])
    .set(Tag.FrameOfReferenceUID, 'UI', at.frameOfReferenceUid)
    .set(Tag.PositionReferenceIndicator, 'LO', '')
    .set(Tag.SliceLocation, 'DS', ds(at.z))
    .set(Tag.PixelSpacing, 'DS', [grid.spacing, grid.spacing]);
}

/** Image Pixel module (PS3.3 C.7.6.3) for one 16-bit allocated grayscale frame. */
function setGrayscalePixelModule(d: Dataset, grid: Grid, p: { bitsStored: number; signed: boolean }): void {
  d.set(Tag.SamplesPerPixel, 'US', 1)
    .set(Tag.PhotometricInterpretation, 'CS', 'MONOCHROME2')
    .set(Tag.Rows, 'US', grid.rows)
    .set(Tag.Columns, 'US', grid.columns)
    .set(Tag.BitsAllocated, 'US', 16)
    .set(Tag.BitsStored, 'US', p.bitsStored)
    .set(Tag.HighBit, 'US', p.bitsStored - 1)
    .set(Tag.PixelRepresentation, 'US', p.signed ? 1 : 0);
}
