import { type Dataset, Tag } from '../dicom/index.ts';
import { BSN_ISSUER_OID, isValidBsn } from '../patient/index.ts';
import type { NewInstance, Provenance } from '../store/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { bsnOf, integer, text } from './text.ts';

/**
 * The index record of one instance, from its header. StudyInstanceUID and SeriesInstanceUID are required (Type 1 in
 * every IOD); PatientID is Type 2, so an empty one is kept as '' rather than invented.
 */
export function instanceRecordFrom(header: Dataset, transferSyntaxUid: string, provenance: Provenance): NewInstance {
  const studyInstanceUid = text(header, Tag.StudyInstanceUID);
  const seriesInstanceUid = text(header, Tag.SeriesInstanceUID);
  const sopInstanceUid = text(header, Tag.SOPInstanceUID);
  const sopClassUid = text(header, Tag.SOPClassUID);
  const missing = [
    ['StudyInstanceUID', studyInstanceUid],
    ['SeriesInstanceUID', seriesInstanceUid],
    ['SOPInstanceUID', sopInstanceUid],
    ['SOPClassUID', sopClassUid],
  ]
    .filter(([, v]) => v === null)
    .map(([k]) => k);
  if (studyInstanceUid === null || seriesInstanceUid === null || sopInstanceUid === null || sopClassUid === null) {
    throw new BeeldbrugError('DATASET_INVALID', `the data set lacks ${missing.join(', ')}`);
  }
  return {
    patient: {
      patientId: text(header, Tag.PatientID) ?? '',
      issuerOfPatientId: text(header, Tag.IssuerOfPatientID),
      bsn: bsnOf(header, isValidBsn, BSN_ISSUER_OID),
      patientName: text(header, Tag.PatientName),
      birthDate: text(header, Tag.PatientBirthDate),
      sex: text(header, Tag.PatientSex),
    },
    study: {
      studyInstanceUid,
      studyDate: text(header, Tag.StudyDate),
      studyTime: text(header, Tag.StudyTime),
      accessionNumber: text(header, Tag.AccessionNumber),
      studyDescription: text(header, Tag.StudyDescription),
      referringPhysicianName: text(header, Tag.ReferringPhysicianName),
      studyId: text(header, Tag.StudyID),
    },
    series: {
      seriesInstanceUid,
      modality: text(header, Tag.Modality),
      seriesNumber: integer(header, Tag.SeriesNumber),
      seriesDescription: text(header, Tag.SeriesDescription),
      bodyPartExamined: text(header, Tag.BodyPartExamined),
    },
    instance: { sopInstanceUid, sopClassUid, instanceNumber: integer(header, Tag.InstanceNumber), transferSyntaxUid },
    provenance,
  };
}
