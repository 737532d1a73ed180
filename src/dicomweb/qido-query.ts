import { Dataset, Tag, vrOf, type Vr } from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';

export type QidoLevel = 'STUDY' | 'SERIES' | 'IMAGE';

/** What each level answers without `includefield` (PS3.18 Table 6.7.1-2), besides the keys the query matches on. */
const DEFAULT_FIELDS: Readonly<Record<QidoLevel, readonly number[]>> = {
  STUDY: [
    Tag.StudyDate,
    Tag.StudyTime,
    Tag.AccessionNumber,
    Tag.ModalitiesInStudy,
    Tag.ReferringPhysicianName,
    Tag.PatientName,
    Tag.PatientID,
    Tag.PatientBirthDate,
    Tag.PatientSex,
    Tag.StudyInstanceUID,
    Tag.StudyID,
    Tag.StudyDescription,
    Tag.NumberOfStudyRelatedSeries,
    Tag.NumberOfStudyRelatedInstances,
  ],
  SERIES: [
    Tag.Modality,
    Tag.SeriesDescription,
    Tag.SeriesNumber,
    Tag.SeriesInstanceUID,
    Tag.BodyPartExamined,
    Tag.NumberOfSeriesRelatedInstances,
  ],
  IMAGE: [Tag.SOPClassUID, Tag.SOPInstanceUID, Tag.InstanceNumber],
};

/** Query parameters that are not attribute keys (PS3.18 8.3.4). */
const CONTROL = new Set(['limit', 'offset', 'includefield', 'fuzzymatching']);

export interface QidoQuery {
  identifier: Dataset;
  limit: number | undefined;
  offset: number;
  /** Fuzzy matching was asked for; this node matches exactly and says so in a Warning header. */
  fuzzyAsked: boolean;
}

/** An attribute named in a query: by keyword (PatientName) or as 8 hex digits (00100010). */
function tagOf(name: string): number {
  if (/^[0-9A-Fa-f]{8}$/.test(name)) return Number.parseInt(name, 16);
  const tag = (Tag as Readonly<Record<string, number>>)[name];
  if (tag === undefined)
    throw new BeeldbrugError(
      'REQUEST_INVALID',
      `${name} is not an attribute keyword or tag; use a keyword such as PatientID or a tag such as 00100020`,
    );
  return tag;
}

const number = (name: string, v: string | null, min: number): number | undefined => {
  if (v === null) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min)
    throw new BeeldbrugError('REQUEST_INVALID', `${name} must be a whole number of at least ${min}`);
  return Number(v);
};

/**
 * The C-FIND identifier a QIDO-RS request stands for: the level, the UIDs in its path, each attribute parameter as a
 * matching key (wildcards, date ranges and UID lists as C-FIND has them; a UID list in a URL is comma-separated), and
 * the level's default fields plus `includefield` as return keys.
 */
export function qidoQuery(
  level: QidoLevel,
  params: URLSearchParams,
  path: { study?: string; series?: string },
): QidoQuery {
  const identifier = new Dataset();
  identifier.set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 192');
  identifier.set(Tag.QueryRetrieveLevel, 'CS', level);
  const include = new Set<number>(DEFAULT_FIELDS[level]);
  if (level !== 'STUDY') include.add(Tag.StudyInstanceUID);
  if (level === 'IMAGE') include.add(Tag.SeriesInstanceUID);
  const matches = new Map<number, string>();
  for (const [name, value] of params) {
    if (name === 'includefield') {
      for (const field of value.split(',').map((f) => f.trim()))
        if (field === 'all')
          for (const l of ['STUDY', 'SERIES', 'IMAGE'] as const) for (const t of DEFAULT_FIELDS[l]) include.add(t);
        else if (field !== '') include.add(tagOf(field));
      continue;
    }
    if (CONTROL.has(name)) continue;
    const tag = tagOf(name);
    if (matches.has(tag)) throw new BeeldbrugError('REQUEST_INVALID', `${name} is given twice`);
    matches.set(tag, value);
  }
  if (path.study !== undefined) matches.set(Tag.StudyInstanceUID, path.study);
  if (path.series !== undefined) matches.set(Tag.SeriesInstanceUID, path.series);
  for (const tag of include) if (!matches.has(tag)) setKey(identifier, tag, '');
  for (const [tag, value] of matches) setKey(identifier, tag, value);
  return {
    identifier,
    limit: number('limit', params.get('limit'), 1),
    offset: number('offset', params.get('offset'), 0) ?? 0,
    fuzzyAsked: params.get('fuzzymatching') === 'true',
  };
}

function setKey(identifier: Dataset, tag: number, value: string): void {
  const vr: Vr = vrOf(tag) ?? 'LO';
  if (vr === 'SQ') {
    identifier.set(tag, 'SQ', []);
    return;
  }
  // A list of UIDs is comma-separated in a URL and backslash-separated in a C-FIND identifier (PS3.18 8.3.4.1).
  identifier.set(tag, vr, vr === 'UI' ? value.replaceAll(',', '\\') : value);
}
