import { type Dataset, Tag } from '../dicom/index.ts';
import type { AssociationInfo } from '../dimse/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { BSN_ISSUER_OID, isValidBsn } from '../patient/index.ts';
import {
  type InformationModel,
  type LocalPatient,
  parseQuery,
  type ParsedQuery,
  type PatientData,
  responseFor,
  rowMatches,
} from '../studies/index.ts';
import type { TimelineAsker, TimelineService, TimelineStudy } from '../timeline/index.ts';

export interface VirtualPacsOptions {
  /** The "external" AE title the PACS queries for the other hospitals' studies (timeline.externalAe.aeTitle). */
  aeTitle: string;
  /** The timeline, once the exchange part of the node is up. */
  timeline: () => TimelineService | undefined;
  /** The node's own index, which maps a local Patient ID to the BSN the timeline asks by. */
  patientData: PatientData;
  node: string;
  logger: Logger;
}

/** What the DIMSE handlers hand an association called with the external AE title to. */
export interface VirtualPacs {
  /** The matches of a C-FIND; a BeeldbrugError explains a refusal (the handlers answer it as a DIMSE status). */
  find(a: AssociationInfo, identifier: Dataset, model: InformationModel): Promise<Dataset[]>;
}

/** The patient a query names: by BSN (with the national issuer or none), or by a local id the node's index maps. */
interface AskedPatient {
  bsn: string;
  patientId: string;
  issuer?: string;
  local?: LocalPatient;
}

/**
 * The virtual PACS: the federated timeline as one more archive in the PACS's own query screen. A C-FIND to the
 * external AE title for one patient asks the registry where the patient is known and consent permits, asks those
 * hospitals at once (each re-checks consent), and answers each of their studies as a match, with the source hospital
 * in Institution Name and this AE title as where to retrieve it from.
 *
 * No person is known on a DICOM association (a PACS does not say who sits at it), so the question is recorded and
 * signed to the sources as the PACS's, by AE title; the sources' audit trails name it that way.
 */
export function virtualPacs(o: VirtualPacsOptions): VirtualPacs {
  const pacsOf = (a: AssociationInfo) => {
    const ae = a.callingAeTitle.trim();
    return { id: `dicom:${ae}`, name: `PACS ${ae} (DICOM)` };
  };
  const askerOf = (a: AssociationInfo): TimelineAsker => ({
    kind: 'dicom-peer',
    system: pacsOf(a),
    aeTitle: o.aeTitle,
    remoteAddress: a.remoteAddress,
  });

  /** The patient the identifier names; an explained failure when it names none, or one the node cannot map. */
  const askedPatient = (a: AssociationInfo, identifier: Dataset): AskedPatient => {
    const patientId = identifier.string(Tag.PatientID)?.trim() ?? '';
    const issuer = identifier.string(Tag.IssuerOfPatientID)?.trim() || undefined;
    if (patientId === '' || /[*?\\]/.test(patientId))
      throw new BeeldbrugError(
        'IDENTIFIER_INVALID',
        `${o.aeTitle} answers for one patient at a time: give the Patient ID (a BSN, or this hospital's own id)`,
      );
    const access = o.patientData.open({
      kind: 'dicom-peer',
      user: pacsOf(a),
      accessPoint: { node: o.node, ip: a.remoteAddress, aeTitle: o.aeTitle },
      purpose: 'query',
      authorization: 'DICOM allow-list (AE title + host)',
    });
    const named = { patientId, ...(issuer !== undefined ? { issuer } : {}) };
    // A BSN is asked by as it is; the node's index, where it knows the patient, adds the name the PACS shows.
    if ((issuer === undefined || issuer === BSN_ISSUER_OID) && isValidBsn(patientId)) {
      const local = access.localPatient({ bsn: patientId });
      return { bsn: patientId, ...named, ...(local !== undefined ? { local } : {}) };
    }
    const local = access.localPatient(named);
    if (local?.bsn === undefined)
      throw new BeeldbrugError(
        'PATIENT_UNMAPPED',
        `no BSN is known here for Patient ID ${patientId}${issuer !== undefined ? ` (${issuer})` : ''}: ask by BSN`,
      );
    return { bsn: local.bsn, ...named, local };
  };

  /** A timeline study as the row the response is written from: the patient as the PACS named them, the study as its source has it. */
  const rowOf = (patient: AskedPatient, s: TimelineStudy) => ({
    values: {
      patientId: patient.patientId,
      issuerOfPatientId: patient.issuer ?? null,
      patientName: patient.local?.name ?? null,
      birthDate: patient.local?.birthDate ?? null,
      sex: patient.local?.sex ?? null,
      studyInstanceUid: s.studyInstanceUid,
      studyDate: s.studyDate,
      studyTime: s.studyTime,
      accessionNumber: s.accessionNumber,
      studyDescription: s.description,
    },
    modalitiesInStudy: s.modalities,
    numberOfStudyRelatedSeries: s.series,
    numberOfStudyRelatedInstances: s.instances,
  });

  const studyMatches = async (a: AssociationInfo, query: ParsedQuery, identifier: Dataset): Promise<Dataset[]> => {
    const timeline = o.timeline();
    if (timeline === undefined)
      throw new BeeldbrugError('PARTNER_UNKNOWN', 'node-to-node exchange is not running: no timeline to ask');
    const patient = askedPatient(a, identifier);
    const answer = await timeline.query(
      { bsn: patient.bsn, patientId: patient.patientId, asker: askerOf(a) },
      { ip: a.remoteAddress },
    );
    const notAnswered = answer.sources.filter((s) => s.status !== 'answered');
    if (notAnswered.length > 0)
      o.logger.warn(
        { association: a.id, sources: notAnswered.map((s) => `${s.ura} ${s.status}`) },
        'virtual PACS: not every source answered; the PACS sees the studies of those that did',
      );
    // The patient is the one the PACS named; the other keys narrow the studies (date range, modality, accession).
    const studyKeys = query.matchers.filter((m) => !PATIENT_KEYS.has(m.key));
    return answer.studies.flatMap((s) => {
      const row = rowOf(patient, s);
      return rowMatches(row, studyKeys)
        ? [responseFor(query, row, o.aeTitle, [{ tag: Tag.InstitutionName, vr: 'LO', value: s.source.name }])]
        : [];
    });
  };

  return {
    async find(a, identifier, model) {
      const query = parseQuery(identifier, model);
      if (query.level !== 'STUDY')
        throw new BeeldbrugError('IDENTIFIER_INVALID', `${o.aeTitle} answers at STUDY level`);
      return studyMatches(a, query, identifier);
    },
  };
}

const PATIENT_KEYS: ReadonlySet<string> = new Set([
  'patientId',
  'issuerOfPatientId',
  'patientName',
  'birthDate',
  'sex',
]);
