// Reading QIDO-RS answers (DICOM JSON, PS3.18 F.2): attributes by tag, values in a Value array.

export type DicomJson = Record<string, { vr: string; Value?: unknown[] }>;

export const TAG = {
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  SOPInstanceUID: '00080018',
  StudyDate: '00080020',
  StudyTime: '00080030',
  AccessionNumber: '00080050',
  ModalitiesInStudy: '00080061',
  Modality: '00080060',
  StudyDescription: '00081030',
  SeriesDescription: '0008103E',
  PatientName: '00100010',
  PatientID: '00100020',
  PatientBirthDate: '00100030',
  PatientSex: '00100040',
  NumberOfStudyRelatedSeries: '00201206',
  NumberOfStudyRelatedInstances: '00201208',
  NumberOfSeriesRelatedInstances: '00201209',
  SeriesNumber: '00200011',
  InstanceNumber: '00200013',
} as const;

export function str(d: DicomJson, tag: string): string {
  const v = d[tag]?.Value?.[0];
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  // A person name (PN) in DICOM JSON is an object with its alphabetic, ideographic and phonetic groups.
  if (typeof v === 'object' && v !== null && 'Alphabetic' in v) {
    const a = (v as { Alphabetic: unknown }).Alphabetic;
    return typeof a === 'string' ? a : '';
  }
  return '';
}

export function strs(d: DicomJson, tag: string): string[] {
  return (d[tag]?.Value ?? []).filter((v) => typeof v === 'string' || typeof v === 'number').map(String);
}

export function num(d: DicomJson, tag: string): number | undefined {
  const v = d[tag]?.Value?.[0];
  return typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : undefined;
}
