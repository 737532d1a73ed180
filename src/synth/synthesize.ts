/**
 * Synthetic patients and studies for tests, the demo and benchmarks. Everything follows from the seed: names,
 * BSNs, dates, UIDs and pixels. Files are named by generated index under outDir, never by UIDs.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writePart10, TransferSyntax } from '../dicom/index.ts';
import { randomBsn } from '../patient/index.ts';
import { writeCtSeries, writeMrSeries, writeRadiograph, type SeriesResult, type SeriesTarget } from './image-series.ts';
import { randomName, randomPhysician } from './names.ts';
import type { CtRegion } from './phantom.ts';
import { derivedUid, type Rng, seededRng } from './random.ts';
import { basicTextSr, encapsulatedPdf, reportText } from './report.ts';
import type { PatientInfo, SeriesInfo, StudyInfo } from './study-header.ts';

export interface SynthOptions {
  outDir: string;
  patients: number;
  seed?: number;
  /** Studies per patient, inclusive range; default [1, 3]. */
  studiesPerPatient?: readonly [number, number];
  /** CT slices per series, inclusive range; default [20, 40]. */
  ctSlices?: readonly [number, number];
  /** MR slices per series, inclusive range; default [12, 20]. */
  mrSlices?: readonly [number, number];
  /** Modalities to draw from; default all four. */
  modalities?: readonly SynthModality[];
  institution?: string;
}

export type SynthModality = 'CT' | 'MR' | 'CR' | 'DX';

export interface SynthStudy {
  studyInstanceUid: string;
  accessionNumber: string;
  studyDate: string;
  modality: SynthModality;
  description: string;
  bodyPart: string;
  /** Series in the study, the report series included. */
  series: number;
  /** Instances in the study, the report included. */
  instances: number;
  bytes: number;
  files: string[];
  reportKind: 'sr' | 'pdf';
}

export interface SynthPatient {
  bsn: string;
  patientId: string;
  /** DICOM PN (family^given). */
  name: string;
  birthDate: string;
  sex: 'M' | 'F';
  studies: SynthStudy[];
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

function randomDate(rng: Rng, fromYear: number, toYear: number): string {
  const start = Date.UTC(fromYear, 0, 1);
  const end = Date.UTC(toYear, 11, 31);
  const d = new Date(start + Math.floor((rng.next() * (end - start)) / 86_400_000) * 86_400_000);
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCDate(), 2)}`;
}

function randomTime(rng: Rng): string {
  return `${pad(rng.int(7, 18), 2)}${pad(rng.int(0, 59), 2)}${pad(rng.int(0, 59), 2)}`;
}

interface StudyPlan {
  modality: SynthModality;
  description: string;
  bodyPart: string;
  region?: CtRegion;
  mrAnatomy?: 'HEAD' | 'KNEE';
}

const PLANS: Record<SynthModality, readonly StudyPlan[]> = {
  CT: [
    { modality: 'CT', description: 'CT thorax', bodyPart: 'CHEST', region: 'CHEST' },
    { modality: 'CT', description: 'CT abdomen', bodyPart: 'ABDOMEN', region: 'ABDOMEN' },
    { modality: 'CT', description: 'CT hersenen', bodyPart: 'HEAD', region: 'HEAD' },
  ],
  MR: [
    { modality: 'MR', description: 'MRI hersenen', bodyPart: 'HEAD', mrAnatomy: 'HEAD' },
    { modality: 'MR', description: 'MRI knie', bodyPart: 'KNEE', mrAnatomy: 'KNEE' },
  ],
  CR: [{ modality: 'CR', description: 'X-thorax', bodyPart: 'CHEST' }],
  DX: [{ modality: 'DX', description: 'X-thorax digitaal', bodyPart: 'CHEST' }],
};

export async function synthesize(
  opts: SynthOptions,
): Promise<{ patients: SynthPatient[]; files: number; bytes: number }> {
  const seed = opts.seed ?? 1;
  const [minStudies, maxStudies] = opts.studiesPerPatient ?? [1, 3];
  const modalities = opts.modalities ?? (['CT', 'MR', 'CR', 'DX'] as const);
  const patients: SynthPatient[] = [];
  let files = 0;
  let bytes = 0;
  for (let pi = 0; pi < opts.patients; pi++) {
    const rng = seededRng(seed, `patient/${pi}`);
    const sex = rng.next() < 0.5 ? 'F' : 'M';
    const name = randomName(rng, sex);
    const patient: PatientInfo = {
      bsn: randomBsn(() => rng.next()),
      name: name.dicom,
      birthDate: randomDate(rng, 1935, 2015),
      sex,
      localId: `ZH${pad(rng.int(0, 9_999_999), 7)}`,
    };
    const studies: SynthStudy[] = [];
    const count = rng.int(minStudies, maxStudies);
    const birthYear = Number(patient.birthDate.slice(0, 4));
    for (let si = 0; si < count; si++) {
      const studyRng = rng.fork(`study/${si}`);
      const plan = studyRng.pick(PLANS[studyRng.pick(modalities)]);
      const dir = join(opts.outDir, `patient-${pad(pi + 1, 3)}`, `study-${pad(si + 1, 2)}`);
      const study = await writeStudy({
        seed,
        label: `p${pi}/s${si}`,
        rng: studyRng,
        patient,
        plan,
        dir,
        opts,
        birthYear,
      });
      studies.push(study);
      files += study.files.length;
      bytes += study.bytes;
    }
    studies.sort((a, b) => a.studyDate.localeCompare(b.studyDate));
    patients.push({
      bsn: patient.bsn,
      patientId: patient.bsn,
      name: patient.name,
      birthDate: patient.birthDate,
      sex,
      studies,
    });
  }
  return { patients, files, bytes };
}

interface StudyJob {
  seed: number;
  label: string;
  rng: Rng;
  patient: PatientInfo;
  plan: StudyPlan;
  dir: string;
  opts: SynthOptions;
  birthYear: number;
}

async function writeStudy(job: StudyJob): Promise<SynthStudy> {
  const { rng, plan, seed, label } = job;
  const study: StudyInfo = {
    studyInstanceUid: derivedUid(seed, `${label}/study`),
    accessionNumber: `BB${pad(rng.int(0, 99_999_999), 8)}`,
    studyId: String(rng.int(1000, 9999)),
    studyDate: randomDate(rng, Math.max(2012, job.birthYear + 1), 2025),
    studyTime: randomTime(rng),
    description: plan.description,
    referringPhysician: randomPhysician(rng),
    institution: job.opts.institution ?? 'Beeldbrug Synthetisch Ziekenhuis',
  };
  const frameOfReferenceUid = derivedUid(seed, `${label}/frame`);
  const results: SeriesResult[] = [];
  let seriesNumber = 0;
  const seriesTarget = (description: string, modality: string, bodyPart?: string): SeriesTarget => {
    seriesNumber++;
    const series: SeriesInfo = {
      seriesInstanceUid: derivedUid(seed, `${label}/series/${seriesNumber}`),
      seriesNumber: modality === 'SR' || modality === 'DOC' ? 900 + seriesNumber : seriesNumber,
      modality,
      description,
      seriesTime: study.studyTime,
      ...(bodyPart === undefined ? {} : { bodyPart }),
    };
    return {
      patient: job.patient,
      study,
      series,
      dir: join(job.dir, `series-${pad(seriesNumber, 2)}`),
      seed,
      label: `${label}/series/${seriesNumber}`,
    };
  };
  const mkdirFor = async (t: SeriesTarget): Promise<SeriesTarget> => {
    await mkdir(t.dir, { recursive: true });
    return t;
  };

  if (plan.modality === 'CT' && plan.region !== undefined) {
    const [lo, hi] = job.opts.ctSlices ?? [20, 40];
    const t = await mkdirFor(seriesTarget(`${plan.description} axiaal`, 'CT', plan.bodyPart));
    results.push(await writeCtSeries(t, { instances: rng.int(lo, hi), region: plan.region, frameOfReferenceUid }));
  } else if (plan.modality === 'MR' && plan.mrAnatomy !== undefined) {
    const [lo, hi] = job.opts.mrSlices ?? [12, 20];
    const slices = rng.int(lo, hi);
    for (const weighting of ['T1', 'T2'] as const) {
      const t = await mkdirFor(seriesTarget(`${weighting} axiaal`, 'MR', plan.bodyPart));
      results.push(
        await writeMrSeries(t, { instances: slices, anatomy: plan.mrAnatomy, weighting, frameOfReferenceUid }),
      );
    }
  } else {
    const views: ('PA' | 'LL')[] = rng.next() < 0.6 ? ['PA', 'LL'] : ['PA'];
    for (const view of views) {
      const t = await mkdirFor(seriesTarget(`Thorax ${view}`, plan.modality, plan.bodyPart));
      results.push(await writeRadiograph(t, { kind: plan.modality === 'DX' ? 'DX' : 'CR', view }));
    }
  }

  const reportKind = rng.next() < 0.5 ? 'sr' : 'pdf';
  const text = reportText(rng, plan.modality, plan.description, randomPhysician(rng));
  const reportTarget = await mkdirFor(
    seriesTarget(
      reportKind === 'sr' ? 'Radiologieverslag' : 'Radiologieverslag (PDF)',
      reportKind === 'sr' ? 'SR' : 'DOC',
    ),
  );
  const reportUid = derivedUid(seed, `${label}/report`);
  const report =
    reportKind === 'sr'
      ? basicTextSr(
          job.patient,
          study,
          reportTarget.series,
          reportUid,
          text,
          results.map((r) => r.evidence),
        )
      : encapsulatedPdf(job.patient, study, reportTarget.series, reportUid, text);
  const reportFile = join(reportTarget.dir, '00001.dcm');
  const reportBytes = await writePart10(reportFile, report, TransferSyntax.ExplicitVRLittleEndian);

  const files = [...results.flatMap((r) => r.files), reportFile];
  return {
    studyInstanceUid: study.studyInstanceUid,
    accessionNumber: study.accessionNumber,
    studyDate: study.studyDate,
    modality: plan.modality,
    description: plan.description,
    bodyPart: plan.bodyPart,
    series: results.length + 1,
    instances: files.length,
    bytes: results.reduce((n, r) => n + r.bytes, reportBytes),
    files,
    reportKind,
  };
}

/**
 * One CT series of `instances` 512x512 slices (about 525 KB each) for benchmarks: 500 slices make about 262 MB.
 * Files are outDir/00001.dcm and up.
 */
export async function writeCtStudy(opts: {
  outDir: string;
  instances: number;
  seed?: number;
}): Promise<{ files: string[]; bytes: number; studyInstanceUid: string }> {
  const seed = opts.seed ?? 1;
  const rng = seededRng(seed, 'ct-study');
  await mkdir(opts.outDir, { recursive: true });
  const sex = rng.next() < 0.5 ? 'F' : 'M';
  const patient: PatientInfo = {
    bsn: randomBsn(() => rng.next()),
    name: randomName(rng, sex).dicom,
    birthDate: randomDate(rng, 1940, 2000),
    sex,
    localId: `ZH${pad(rng.int(0, 9_999_999), 7)}`,
  };
  const study: StudyInfo = {
    studyInstanceUid: derivedUid(seed, 'ct-study/study'),
    accessionNumber: `BB${pad(rng.int(0, 99_999_999), 8)}`,
    studyId: String(rng.int(1000, 9999)),
    studyDate: randomDate(rng, 2020, 2025),
    studyTime: randomTime(rng),
    description: 'CT thorax',
    referringPhysician: randomPhysician(rng),
    institution: 'Beeldbrug Synthetisch Ziekenhuis',
  };
  const series: SeriesInfo = {
    seriesInstanceUid: derivedUid(seed, 'ct-study/series'),
    seriesNumber: 1,
    modality: 'CT',
    description: 'CT thorax axiaal',
    bodyPart: 'CHEST',
    seriesTime: study.studyTime,
  };
  const result = await writeCtSeries(
    { patient, study, series, dir: opts.outDir, seed, label: 'ct-study/series' },
    { instances: opts.instances, region: 'CHEST', frameOfReferenceUid: derivedUid(seed, 'ct-study/frame') },
  );
  return { files: result.files, bytes: result.bytes, studyInstanceUid: study.studyInstanceUid };
}
