import { Dataset, Tag, type Vr } from '../dicom/index.ts';
import type { AttributeKey, QueryLevel, QueryRow, StoredInstance } from '../store/index.ts';

/** A C-FIND key the node can match on and return (PS3.4 C.6.1.1 and C.6.2.1). */
export interface QueryKey {
  tag: number;
  vr: Vr;
  level: QueryLevel;
  /** The indexed attribute behind this key; counts have none and are computed. */
  attribute?: AttributeKey;
  /** For computed keys: the value from a query row. */
  computed?: (row: QueryRow) => string | number | readonly string[] | undefined;
  unique?: true;
}

export const queryKeys: readonly QueryKey[] = [
  { tag: Tag.PatientID, vr: 'LO', level: 'PATIENT', attribute: 'patientId', unique: true },
  { tag: Tag.IssuerOfPatientID, vr: 'LO', level: 'PATIENT', attribute: 'issuerOfPatientId' },
  { tag: Tag.PatientName, vr: 'PN', level: 'PATIENT', attribute: 'patientName' },
  { tag: Tag.PatientBirthDate, vr: 'DA', level: 'PATIENT', attribute: 'birthDate' },
  { tag: Tag.PatientSex, vr: 'CS', level: 'PATIENT', attribute: 'sex' },
  {
    tag: Tag.NumberOfPatientRelatedStudies,
    vr: 'IS',
    level: 'PATIENT',
    computed: (r) => r.numberOfPatientRelatedStudies,
  },
  {
    tag: Tag.NumberOfPatientRelatedSeries,
    vr: 'IS',
    level: 'PATIENT',
    computed: (r) => r.numberOfPatientRelatedSeries,
  },
  {
    tag: Tag.NumberOfPatientRelatedInstances,
    vr: 'IS',
    level: 'PATIENT',
    computed: (r) => r.numberOfPatientRelatedInstances,
  },
  { tag: Tag.StudyInstanceUID, vr: 'UI', level: 'STUDY', attribute: 'studyInstanceUid', unique: true },
  { tag: Tag.StudyDate, vr: 'DA', level: 'STUDY', attribute: 'studyDate' },
  { tag: Tag.StudyTime, vr: 'TM', level: 'STUDY', attribute: 'studyTime' },
  { tag: Tag.AccessionNumber, vr: 'SH', level: 'STUDY', attribute: 'accessionNumber' },
  { tag: Tag.StudyDescription, vr: 'LO', level: 'STUDY', attribute: 'studyDescription' },
  { tag: Tag.ReferringPhysicianName, vr: 'PN', level: 'STUDY', attribute: 'referringPhysicianName' },
  { tag: Tag.StudyID, vr: 'SH', level: 'STUDY', attribute: 'studyId' },
  {
    tag: Tag.ModalitiesInStudy,
    vr: 'CS',
    level: 'STUDY',
    attribute: 'modalitiesInStudy',
    computed: (r) => r.modalitiesInStudy,
  },
  { tag: Tag.SOPClassesInStudy, vr: 'UI', level: 'STUDY', computed: (r) => r.sopClassesInStudy },
  { tag: Tag.NumberOfStudyRelatedSeries, vr: 'IS', level: 'STUDY', computed: (r) => r.numberOfStudyRelatedSeries },
  {
    tag: Tag.NumberOfStudyRelatedInstances,
    vr: 'IS',
    level: 'STUDY',
    computed: (r) => r.numberOfStudyRelatedInstances,
  },
  { tag: Tag.SeriesInstanceUID, vr: 'UI', level: 'SERIES', attribute: 'seriesInstanceUid', unique: true },
  { tag: Tag.Modality, vr: 'CS', level: 'SERIES', attribute: 'modality' },
  { tag: Tag.SeriesNumber, vr: 'IS', level: 'SERIES', attribute: 'seriesNumber' },
  { tag: Tag.SeriesDescription, vr: 'LO', level: 'SERIES', attribute: 'seriesDescription' },
  { tag: Tag.BodyPartExamined, vr: 'CS', level: 'SERIES', attribute: 'bodyPartExamined' },
  {
    tag: Tag.NumberOfSeriesRelatedInstances,
    vr: 'IS',
    level: 'SERIES',
    computed: (r) => r.numberOfSeriesRelatedInstances,
  },
  { tag: Tag.SOPInstanceUID, vr: 'UI', level: 'IMAGE', attribute: 'sopInstanceUid', unique: true },
  { tag: Tag.SOPClassUID, vr: 'UI', level: 'IMAGE', attribute: 'sopClassUid' },
  { tag: Tag.InstanceNumber, vr: 'IS', level: 'IMAGE', attribute: 'instanceNumber' },
];

export const keysByTag: ReadonlyMap<number, QueryKey> = new Map(queryKeys.map((k) => [k.tag, k]));

export const levelRank: Readonly<Record<QueryLevel, number>> = { PATIENT: 0, STUDY: 1, SERIES: 2, IMAGE: 3 };

/**
 * What the index holds of one stored instance, from the patient down to `level`, as the data set a C-FIND match would
 * carry (computed keys, such as counts, left out).
 */
export function indexedAttributes(s: StoredInstance, level: QueryLevel): Dataset {
  const values: Partial<Record<AttributeKey, unknown>> = { ...s.patient, ...s.study, ...s.series, ...s.instance };
  const ds = new Dataset().set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 192');
  for (const key of queryKeys) {
    if (key.attribute === undefined || levelRank[key.level] > levelRank[level]) continue;
    const value = values[key.attribute];
    if (typeof value === 'string' || typeof value === 'number') ds.set(key.tag, key.vr, String(value));
  }
  return ds;
}
