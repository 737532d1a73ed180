/**
 * The attributes every instance of a synthetic study shares: SOP Common, Patient, General Study, General Series
 * and General Equipment modules (PS3.3 C.12.1, C.7.1.1, C.7.2.1, C.7.3.1, C.7.5.1).
 */
import { Dataset, Tag } from '../dicom/index.ts';
import { BSN_ISSUER_OID } from '../patient/index.ts';

export interface PatientInfo {
  bsn: string;
  /** DICOM PN, family^given. */
  name: string;
  birthDate: string;
  sex: 'M' | 'F';
  /** The hospital's own number for the patient, kept as an other patient ID. */
  localId: string;
}

export interface StudyInfo {
  studyInstanceUid: string;
  accessionNumber: string;
  studyId: string;
  studyDate: string;
  studyTime: string;
  description: string;
  referringPhysician: string;
  institution: string;
}

export interface SeriesInfo {
  seriesInstanceUid: string;
  seriesNumber: number;
  modality: string;
  description: string;
  bodyPart?: string;
  seriesTime: string;
}

export const LOCAL_ISSUER = 'BEELDBRUG-SYNTH';
const MANUFACTURER = 'Beeldbrug Synthetic';

export function instanceHeader(
  p: PatientInfo,
  s: StudyInfo,
  series: SeriesInfo,
  sopClassUid: string,
  sopInstanceUid: string,
): Dataset {
  const ds = new Dataset()
    .set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 100')
    .set(Tag.InstanceCreationDate, 'DA', s.studyDate)
    .set(Tag.InstanceCreationTime, 'TM', series.seriesTime)
    .set(Tag.SOPClassUID, 'UI', sopClassUid)
    .set(Tag.SOPInstanceUID, 'UI', sopInstanceUid)
    .set(Tag.StudyDate, 'DA', s.studyDate)
    .set(Tag.SeriesDate, 'DA', s.studyDate)
    .set(Tag.ContentDate, 'DA', s.studyDate)
    .set(Tag.StudyTime, 'TM', s.studyTime)
    .set(Tag.SeriesTime, 'TM', series.seriesTime)
    .set(Tag.ContentTime, 'TM', series.seriesTime)
    .set(Tag.AccessionNumber, 'SH', s.accessionNumber)
    .set(Tag.Modality, 'CS', series.modality)
    .set(Tag.Manufacturer, 'LO', MANUFACTURER)
    .set(Tag.InstitutionName, 'LO', s.institution)
    .set(Tag.ReferringPhysicianName, 'PN', s.referringPhysician)
    .set(Tag.StudyDescription, 'LO', s.description)
    .set(Tag.SeriesDescription, 'LO', series.description)
    .set(Tag.ManufacturerModelName, 'LO', 'Synth 1')
    .set(Tag.PatientName, 'PN', p.name)
    .set(Tag.PatientID, 'LO', p.bsn)
    .set(Tag.IssuerOfPatientID, 'LO', BSN_ISSUER_OID)
    .set(Tag.IssuerOfPatientIDQualifiersSequence, 'SQ', [
      new Dataset()
        .set(Tag.UniversalEntityID, 'UT', BSN_ISSUER_OID)
        .set(Tag.UniversalEntityIDType, 'CS', 'ISO')
        .set(Tag.IdentifierTypeCode, 'CS', 'NNNLD'),
    ])
    .set(Tag.PatientBirthDate, 'DA', p.birthDate)
    .set(Tag.PatientSex, 'CS', p.sex)
    .set(Tag.OtherPatientIDsSequence, 'SQ', [
      new Dataset()
        .set(Tag.PatientID, 'LO', p.localId)
        .set(Tag.IssuerOfPatientID, 'LO', LOCAL_ISSUER)
        .set(Tag.TypeOfPatientID, 'CS', 'TEXT'),
    ])
    .set(Tag.StudyInstanceUID, 'UI', s.studyInstanceUid)
    .set(Tag.SeriesInstanceUID, 'UI', series.seriesInstanceUid)
    .set(Tag.StudyID, 'SH', s.studyId)
    .set(Tag.SeriesNumber, 'IS', series.seriesNumber);
  if (series.bodyPart !== undefined) ds.set(Tag.BodyPartExamined, 'CS', series.bodyPart);
  return ds;
}
