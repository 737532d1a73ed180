import { Dataset, Tag } from '../dicom/index.ts';
import type { AssociationInfo, OutgoingInstance } from '../dimse/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { BSN_ISSUER_OID, isValidBsn } from '../patient/index.ts';
import {
  type InformationModel,
  type LocalPatient,
  matchersAt,
  parseQuery,
  type ParsedQuery,
  type PatientData,
  type PatientDataAccess,
  type ReleasedInstance,
  requireUniqueKey,
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
  /** Where a study retrieved from its source is watched arriving, instance by instance (the exchange's inbox). */
  arrivals: { watch(transferId: string, o: { idleMs: number; signal: AbortSignal }): Promise<IncomingStudy> };
  /** A retrieve whose source sends nothing for this long gives up what has not arrived. */
  retrieveIdleMs: number;
  node: string;
  logger: Logger;
}

/** A study coming from its source over the exchange, as a retrieve waits for it. */
export interface IncomingStudy {
  readonly manifest: Promise<{
    instances: readonly { sopInstanceUid: string; sopClassUid: string; transferSyntaxUid: string }[];
  }>;
  arrived(sopInstanceUid: string): Promise<void>;
}

/** What the DIMSE handlers hand an association called with the external AE title to. */
export interface VirtualPacs {
  /** The matches of a C-FIND; a BeeldbrugError explains a refusal (the handlers answer it as a DIMSE status). */
  find(a: AssociationInfo, identifier: Dataset, model: InformationModel): Promise<Dataset[]>;
  /**
   * The instances of a C-MOVE or C-GET of whole studies: from the node's copy when it holds the study, otherwise asked
   * of the source hospital over the exchange, each instance ready to send as soon as it has arrived here verified.
   */
  retrieve(
    a: AssociationInfo,
    identifier: Dataset,
    model: InformationModel,
    o: { signal: AbortSignal; what: string },
  ): Promise<OutgoingInstance[]>;
}

/** Where a study of a recent answer is: who holds it, for which patient, how many instances. */
interface Located {
  bsn: string;
  /** The patient as the PACS named them. */
  patient: { patientId: string; issuer?: string };
  source: { ura: string; name: string };
  instances: number;
  until: number;
}

/** How long an answered study can be retrieved without asking the timeline again: a radiologist's reading session. */
const LOCATED_MS = 60 * 60_000;
const LOCATED_KEPT = 10_000;

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

  const accessOf = (a: AssociationInfo, purpose: 'query' | 'retrieve'): PatientDataAccess =>
    o.patientData.open({
      kind: 'dicom-peer',
      user: pacsOf(a),
      accessPoint: { node: o.node, ip: a.remoteAddress, aeTitle: o.aeTitle },
      purpose,
      authorization: 'DICOM allow-list (AE title + host)',
    });
  const located = new Map<string, Located>();
  const remember = (uid: string, where: Located): void => {
    if (located.size >= LOCATED_KEPT) {
      const now = Date.now();
      for (const [k, v] of located) if (v.until <= now || located.size >= LOCATED_KEPT) located.delete(k);
    }
    located.set(uid, where);
  };

  /** The patient the identifier names; an explained failure when it names none, or one the node cannot map. */
  const askedPatient = async (a: AssociationInfo, identifier: Dataset): Promise<AskedPatient> => {
    const patientId = identifier.string(Tag.PatientID)?.trim() ?? '';
    const issuer = identifier.string(Tag.IssuerOfPatientID)?.trim() || undefined;
    if (patientId === '' || /[*?\\]/.test(patientId))
      throw new BeeldbrugError(
        'IDENTIFIER_INVALID',
        `${o.aeTitle} answers for one patient at a time: give the Patient ID (a BSN, or this hospital's own id)`,
      );
    const access = accessOf(a, 'query');
    const named = { patientId, ...(issuer !== undefined ? { issuer } : {}) };
    // A BSN is asked by as it is; the node's index, where it knows the patient, adds the name the PACS shows.
    if ((issuer === undefined || issuer === BSN_ISSUER_OID) && isValidBsn(patientId)) {
      const local = await access.localPatient({ bsn: patientId });
      return { bsn: patientId, ...named, ...(local !== undefined ? { local } : {}) };
    }
    const local = await access.localPatient(named);
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

  const theTimeline = (): TimelineService => {
    const timeline = o.timeline();
    if (timeline === undefined)
      throw new BeeldbrugError('PARTNER_UNKNOWN', 'node-to-node exchange is not running: no timeline to ask');
    return timeline;
  };

  const studyMatches = async (a: AssociationInfo, query: ParsedQuery, identifier: Dataset): Promise<Dataset[]> => {
    const timeline = theTimeline();
    const patient = await askedPatient(a, identifier);
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
    const until = Date.now() + LOCATED_MS;
    for (const s of answer.studies)
      remember(s.studyInstanceUid, {
        bsn: patient.bsn,
        patient: { patientId: patient.patientId, ...(patient.issuer !== undefined ? { issuer: patient.issuer } : {}) },
        source: s.source,
        instances: s.instances,
        until,
      });
    // The patient is the one the PACS named; the other keys narrow the studies (date range, modality, accession).
    const studyKeys = matchersAt(query, 'STUDY');
    return answer.studies.flatMap((s) => {
      const row = rowOf(patient, s);
      return rowMatches(row, studyKeys)
        ? [responseFor(query, row, o.aeTitle, [{ tag: Tag.InstitutionName, vr: 'LO', value: s.source.name }])]
        : [];
    });
  };

  const seriesMatches = async (a: AssociationInfo, query: ParsedQuery, identifier: Dataset): Promise<Dataset[]> => {
    const uids = identifier.strings(Tag.StudyInstanceUID).map((u) => u.trim());
    const uid = uids.length === 1 ? uids[0] : undefined;
    if (uid === undefined || uid === '' || /[*?]/.test(uid))
      throw new BeeldbrugError('IDENTIFIER_INVALID', `a SERIES-level query of ${o.aeTitle} names one study`);
    const where = await locate(a, uid, identifier);
    const answer = await theTimeline().series(
      { bsn: where.bsn, sourceUra: where.source.ura, studyInstanceUid: uid, asker: askerOf(a) },
      { ip: a.remoteAddress },
    );
    const seriesKeys = matchersAt(query, 'SERIES');
    return answer.series.flatMap((s) => {
      const row = {
        values: {
          patientId: where.patient.patientId,
          issuerOfPatientId: where.patient.issuer ?? null,
          studyInstanceUid: uid,
          seriesInstanceUid: s.seriesInstanceUid,
          modality: s.modality,
          seriesNumber: s.seriesNumber,
          seriesDescription: s.description,
          bodyPartExamined: s.bodyPart,
        },
        numberOfSeriesRelatedInstances: s.instances,
      };
      return rowMatches(row, seriesKeys)
        ? [responseFor(query, row, o.aeTitle, [{ tag: Tag.InstitutionName, vr: 'LO', value: where.source.name }])]
        : [];
    });
  };

  /** Where a study is: from a recent answer, or by asking the timeline for the patient the identifier names. */
  const locate = async (a: AssociationInfo, uid: string, identifier: Dataset): Promise<Located> => {
    const known = located.get(uid);
    if (known !== undefined && known.until > Date.now()) return known;
    if ((identifier.string(Tag.PatientID)?.trim() ?? '') === '')
      throw new BeeldbrugError(
        'NOT_FOUND',
        `study ${uid} was not in a recent answer of ${o.aeTitle}: query first, or name the Patient ID`,
      );
    const query = parseQuery(studyQuery(uid, identifier), 'study-root');
    await studyMatches(a, query, identifier);
    const found = located.get(uid);
    if (found === undefined)
      throw new BeeldbrugError('NOT_FOUND', `no hospital of the timeline lists study ${uid} for this patient`);
    return found;
  };

  const studyInstances = async (
    a: AssociationInfo,
    uid: string,
    identifier: Dataset,
    r: { signal: AbortSignal; what: string },
  ): Promise<OutgoingInstance[]> => {
    const where = await locate(a, uid, identifier);
    const access = accessOf(a, 'retrieve');
    const held = (await access.studySummary(uid)).instances;
    if (held > 0 && held >= where.instances) {
      // Retrieved before and still in the node's cache: no need to ask the source again.
      return (
        await access.retrieve(studyQuery(uid), 'study-root', `${r.what} through ${o.aeTitle}, from the node's copy`)
      ).map(outgoingInstance);
    }
    const community = theTimeline().community(where.source.ura);
    if (community !== undefined) {
      // An XCA community's study comes whole into the node (RAD-75), then goes on from the node's copy.
      await theTimeline().retrieveFromCommunity(
        { bsn: where.bsn, community, studyInstanceUid: uid, asker: askerOf(a) },
        { ip: a.remoteAddress },
        { destination: null },
      );
      return (
        await access.retrieve(
          studyQuery(uid),
          'study-root',
          `${r.what} through ${o.aeTitle}, from ${community.name} (XCA)`,
        )
      ).map(outgoingInstance);
    }
    const asked = await theTimeline().retrieve(
      { bsn: where.bsn, sourceUra: where.source.ura, studyInstanceUid: uid, asker: askerOf(a) },
      { ip: a.remoteAddress },
    );
    const incoming = await o.arrivals.watch(asked.transferId, { idleMs: o.retrieveIdleMs, signal: r.signal });
    let manifest: Awaited<IncomingStudy['manifest']>;
    try {
      manifest = await incoming.manifest;
      // The sub-association to the PACS opens once there is something to send: a PACS closes an idle one.
      const first = manifest.instances[0];
      if (first !== undefined) await incoming.arrived(first.sopInstanceUid);
    } catch (err) {
      throw new BeeldbrugError(
        'PARTNER_UNREACHABLE',
        `${where.source.name} did not start sending study ${uid}: ${(err as Error).message}`,
      );
    }
    await access.record({
      action: 'retrieve',
      outcome: 'success',
      description: `${r.what} through ${o.aeTitle}: study from ${where.source.name}, ${manifest.instances.length} instances, each sent on as it arrives`,
      patient: { bsn: where.bsn },
      objects: { studyInstanceUid: uid, transferId: asked.transferId },
    });
    return manifest.instances.map((i) => ({
      sopClassUid: i.sopClassUid,
      sopInstanceUid: i.sopInstanceUid,
      transferSyntaxUid: i.transferSyntaxUid,
      open: async () => {
        await incoming.arrived(i.sopInstanceUid);
        // Recorded once above, for the whole study; each instance is only opened here.
        const [released] = await access.releaseInstances([i.sopInstanceUid], undefined);
        if (released === undefined) throw new Error(`instance ${i.sopInstanceUid} arrived but is not held`);
        return released.openDataset();
      },
    }));
  };

  return {
    async find(a, identifier, model) {
      const query = parseQuery(identifier, model);
      if (query.level === 'STUDY') return studyMatches(a, query, identifier);
      if (query.level === 'SERIES') return seriesMatches(a, query, identifier);
      throw new BeeldbrugError('IDENTIFIER_INVALID', `${o.aeTitle} answers at STUDY and SERIES level`);
    },

    async retrieve(a, identifier, model, r) {
      const query = parseQuery(identifier, model);
      if (query.level !== 'STUDY')
        throw new BeeldbrugError('IDENTIFIER_INVALID', `${o.aeTitle} retrieves whole studies: ask at STUDY level`);
      requireUniqueKey(query);
      const uids = identifier
        .strings(Tag.StudyInstanceUID)
        .map((u) => u.trim())
        .filter((u) => u !== '');
      const out: OutgoingInstance[] = [];
      for (const uid of uids) out.push(...(await studyInstances(a, uid, identifier, r)));
      return out;
    },
  };
}

/** An instance the access layer released, as the DIMSE layer sends it (C-STORE sub-operations, C-GET). */
export function outgoingInstance(i: ReleasedInstance): OutgoingInstance {
  return {
    sopClassUid: i.stored.instance.sopClassUid,
    sopInstanceUid: i.stored.instance.sopInstanceUid,
    transferSyntaxUid: i.stored.instance.transferSyntaxUid,
    open: async () => i.openDataset(),
  };
}

/** A study-level identifier for one study (the patient's keys kept, to ask the timeline by). */
function studyQuery(uid: string, named?: Dataset): Dataset {
  const d = new Dataset();
  d.set(Tag.QueryRetrieveLevel, 'CS', 'STUDY');
  d.set(Tag.StudyInstanceUID, 'UI', uid);
  for (const tag of [Tag.PatientID, Tag.IssuerOfPatientID]) {
    const v = named?.string(tag)?.trim();
    if (v !== undefined && v !== '') d.set(tag, 'LO', v);
  }
  return d;
}
