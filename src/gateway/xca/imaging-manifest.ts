import { createHash } from 'node:crypto';
import {
  codeItem,
  Dataset,
  newUid,
  SopClass,
  sopReference,
  studyEvidence,
  Tag,
  uidFromBytes,
} from '../../dicom/index.ts';

/** What a manifest lists of a study: its patient, its attributes, and every instance by series. */
export interface ManifestStudy {
  patient: { patientId: string; issuer?: string; name?: string; birthDate?: string; sex?: string };
  studyInstanceUid: string;
  studyDate?: string;
  studyTime?: string;
  accessionNumber?: string;
  description?: string;
  series: { seriesInstanceUid: string; instances: { sopClassUid: string; sopInstanceUid: string }[] }[];
}

/** Where a consumer retrieves the instances: this community's imaging document source (RAD-69 / RAD-75). */
export interface ManifestSource {
  /** The Retrieve Location UID (0040,E011): the imaging document source's OID (XDS-I.b). */
  repositoryUniqueId: string;
  /** Retrieve AE Title (0008,0054) too, for a consumer in the same hospital that retrieves by DIMSE. */
  retrieveAeTitle?: string;
  /** The manifest's author: our organization (Institution Name). */
  institution: string;
}

/** SOP classes a KOS references as IMAGE; everything else (reports, presentation states) as COMPOSITE. */
const NOT_IMAGES = /^1\.2\.840\.10008\.5\.1\.4\.1\.1\.(88\.|104\.|11\.|66|481)/;

/**
 * The imaging manifest of IHE XDS-I.b (RAD-68, and what ITI-38/39 find and return in XCA-I): a DICOM Key Object
 * Selection document (PS3.3 A.35.4, TID 2010) in the study it lists, titled "Manifest" (113030, DCM), whose Current
 * Requested Procedure Evidence Sequence names every instance with the Retrieve Location UID of this community's imaging
 * document source, and whose content tree references each instance once. Patient and study attributes are the study's
 * own, so a consumer files the manifest with the images it lists.
 */
export function imagingManifest(
  study: ManifestStudy,
  source: ManifestSource,
  o: {
    /** The manifest's own UID (its XDS document uniqueId), when it must be the same each time it is made. */
    sopInstanceUid?: string;
    now?: Date;
  } = {},
): Dataset {
  const now = o.now ?? new Date();
  const date = now.toISOString().slice(0, 10).replaceAll('-', '');
  const time = now.toISOString().slice(11, 19).replaceAll(':', '');
  const uid = o.sopInstanceUid ?? newUid();
  const p = study.patient;
  const references = study.series.flatMap((s) => s.instances);
  return (
    new Dataset()
      .set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 192')
      .set(Tag.SOPClassUID, 'UI', SopClass.KeyObjectSelectionDocumentStorage)
      .set(Tag.SOPInstanceUID, 'UI', uid)
      .set(Tag.StudyDate, 'DA', study.studyDate ?? '')
      .set(Tag.ContentDate, 'DA', date)
      .set(Tag.StudyTime, 'TM', study.studyTime ?? '')
      .set(Tag.ContentTime, 'TM', time)
      .set(Tag.AccessionNumber, 'SH', study.accessionNumber ?? '')
      .set(Tag.Modality, 'CS', 'KO')
      .set(Tag.Manufacturer, 'LO', 'Beeldbrug')
      .set(Tag.InstitutionName, 'LO', source.institution)
      .set(Tag.ReferringPhysicianName, 'PN', '')
      .set(Tag.StudyDescription, 'LO', study.description ?? '')
      .set(Tag.SeriesDescription, 'LO', 'Imaging manifest (XDS-I)')
      .set(Tag.ReferencedPerformedProcedureStepSequence, 'SQ', [])
      .set(Tag.PatientName, 'PN', p.name ?? '')
      .set(Tag.PatientID, 'LO', p.patientId)
      .set(Tag.IssuerOfPatientID, 'LO', p.issuer ?? '')
      .set(Tag.PatientBirthDate, 'DA', p.birthDate ?? '')
      .set(Tag.PatientSex, 'CS', p.sex ?? '')
      .set(Tag.StudyInstanceUID, 'UI', study.studyInstanceUid)
      // The manifest's series follows from its UID, so that a manifest made again files into the same series.
      .set(
        Tag.SeriesInstanceUID,
        'UI',
        o.sopInstanceUid !== undefined
          ? uidFromBytes(createHash('sha256').update(`series of ${uid}`).digest())
          : newUid(),
      )
      .set(Tag.StudyID, 'SH', '')
      .set(Tag.SeriesNumber, 'IS', '999')
      .set(Tag.InstanceNumber, 'IS', '1')
      .set(Tag.ValueType, 'CS', 'CONTAINER')
      .set(Tag.ConceptNameCodeSequence, 'SQ', [codeItem('113030', 'DCM', 'Manifest')])
      .set(Tag.ContinuityOfContent, 'CS', 'SEPARATE')
      .set(Tag.ContentTemplateSequence, 'SQ', [
        new Dataset().set(Tag.MappingResource, 'CS', 'DCMR').set(Tag.TemplateIdentifier, 'CS', '2010'),
      ])
      .set(Tag.CurrentRequestedProcedureEvidenceSequence, 'SQ', [
        studyEvidence(study.studyInstanceUid, study.series, {
          aeTitle: source.retrieveAeTitle,
          locationUid: source.repositoryUniqueId,
        }),
      ])
      .set(
        Tag.ContentSequence,
        'SQ',
        references.map((i) =>
          new Dataset()
            .set(Tag.RelationshipType, 'CS', 'CONTAINS')
            .set(Tag.ValueType, 'CS', NOT_IMAGES.test(i.sopClassUid) ? 'COMPOSITE' : 'IMAGE')
            .set(Tag.ReferencedSOPSequence, 'SQ', [sopReference(i)]),
        ),
      )
  );
}
