import { type Dataset, readPart10, SopClass, Tag } from '../dicom/index.ts';
import type { QueryRow } from '../store/index.ts';

/** One study of a patient as a timeline shows it: what, when, how much, and whether a report exists. */
export interface PatientStudy {
  studyInstanceUid: string;
  /** YYYYMMDD as in DICOM, or null when the study has no date. */
  studyDate: string | null;
  studyTime: string | null;
  accessionNumber: string | null;
  description: string | null;
  modalities: string[];
  bodyParts: string[];
  series: number;
  instances: number;
  /** A structured report or an encapsulated PDF is part of the study. */
  hasReport: boolean;
}

/** One series of a study as a timeline shows it (a PACS's series-level query of the other hospitals' studies). */
export interface PatientSeries {
  seriesInstanceUid: string;
  modality: string | null;
  seriesNumber: number | null;
  description: string | null;
  bodyPart: string | null;
  instances: number;
}

/** Series-level rows as series summaries, in series number order. */
export function seriesOf(rows: readonly QueryRow[]): PatientSeries[] {
  const str = (v: string | number | null | undefined): string | null => (typeof v === 'string' ? v : null);
  return rows
    .map((r) => ({
      seriesInstanceUid: String(r.values.seriesInstanceUid),
      modality: str(r.values.modality),
      seriesNumber: typeof r.values.seriesNumber === 'number' ? r.values.seriesNumber : null,
      description: str(r.values.seriesDescription),
      bodyPart: str(r.values.bodyPartExamined),
      instances: r.numberOfSeriesRelatedInstances ?? 0,
    }))
    .sort((a, b) => (a.seriesNumber ?? 0) - (b.seriesNumber ?? 0));
}

const REPORT_MODALITIES: ReadonlySet<string> = new Set(['SR', 'DOC']);

/** A series of this modality is a report (structured report or encapsulated document). */
export function isReportModality(modality: string): boolean {
  return REPORT_MODALITIES.has(modality);
}

/** Folds series-level rows (each carrying its study's attributes) into one summary per study. */
export function summarizeStudies(rows: readonly QueryRow[]): PatientStudy[] {
  const studies = new Map<string, PatientStudy>();
  for (const r of rows) {
    const v = r.values;
    const uid = String(v.studyInstanceUid);
    let s = studies.get(uid);
    if (s === undefined) {
      s = {
        studyInstanceUid: uid,
        studyDate: (v.studyDate as string | null) ?? null,
        studyTime: (v.studyTime as string | null) ?? null,
        accessionNumber: (v.accessionNumber as string | null) ?? null,
        description: (v.studyDescription as string | null) ?? null,
        modalities: [],
        bodyParts: [],
        series: 0,
        instances: 0,
        hasReport: false,
      };
      studies.set(uid, s);
    }
    const modality = (v.modality as string | null) ?? null;
    const bodyPart = (v.bodyPartExamined as string | null) ?? null;
    if (modality !== null && !s.modalities.includes(modality)) s.modalities.push(modality);
    if (bodyPart !== null && !s.bodyParts.includes(bodyPart)) s.bodyParts.push(bodyPart);
    if (modality !== null && isReportModality(modality)) s.hasReport = true;
    s.series += 1;
    s.instances += r.numberOfSeriesRelatedInstances ?? 0;
  }
  return [...studies.values()];
}

export const REPORT_SOP_CLASSES: ReadonlySet<string> = new Set([
  SopClass.BasicTextSRStorage,
  SopClass.EnhancedSRStorage,
  SopClass.ComprehensiveSRStorage,
]);

/**
 * The readable text of a structured report (PS3.3 C.17.3): the content tree walked depth first, each TEXT item as
 * "Concept: value", headings from CONTAINER items. Nesting is bounded by the parser's limits.
 */
export function reportTextOf(part10: Buffer): string {
  return reportLinesOf(readPart10(part10).dataset).join('\n');
}

/** The lines of reportTextOf, from the report's data set. */
export function reportLinesOf(ds: Dataset): string[] {
  const lines: string[] = [];
  const walk = (items: readonly Dataset[]): void => {
    for (const item of items) {
      const concept = item.items(Tag.ConceptNameCodeSequence)[0]?.string(Tag.CodeMeaning)?.trim();
      const type = item.string(Tag.ValueType)?.trim();
      const value = item.string(Tag.TextValue)?.trim();
      if (type === 'TEXT' && value !== undefined && value !== '')
        lines.push(concept !== undefined && concept !== '' ? `${concept}: ${value}` : value);
      else if (type === 'CONTAINER' && concept !== undefined && concept !== '') lines.push(`${concept}`);
      walk(item.items(Tag.ContentSequence));
    }
  };
  walk(ds.items(Tag.ContentSequence));
  return lines;
}
