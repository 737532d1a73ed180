import type { AuditEvent, AuditRecord, AuditTrail } from '../audit/index.ts';
import { type Dataset, isDocumentSopClass, Tag } from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { Provenance, QueryPage, Store, StoredInstance, StudyContents } from '../store/index.ts';
import type { AccessContext, Actor } from './access-context.ts';
import type { IngestInput, IngestOutcome } from './ingest.ts';
import type { PatientSeries, PatientStudy } from './patient-studies.ts';
import type { InformationModel } from './query.ts';
import { type LocalPatient, type PurgedStudy, StudyService } from './study-service.ts';

/**
 * Why patient data is touched. Each purpose names who may ask for it, and whether the patient's consent must be
 * established first (a release to another organization rests on the registry's permit).
 */
export type AccessPurpose =
  | 'ingest'
  | 'query'
  | 'retrieve'
  | 'import'
  | 'exchange'
  | 'release'
  | 'retention'
  | 'localization'
  | 'share'
  | 'upload';

/**
 * Who touches patient data, as the node authenticated them: a DICOM peer of the allow-list, a partner hospital's
 * node (mutual TLS with its URA), a signed-in person, one of the hospital's own systems (its certificate, perhaps with
 * an assertion naming a person), the recipient of a share (its e-mailed link and the code sent to their phone), or a
 * task of the node itself (retention, the outbox worker).
 */
/**
 * Who touches patient data. A 'partner-gateway' is another community's XCA initiating gateway asking for a person its
 * identity provider vouches for (a verified XUA assertion): unlike a partner node, what it retrieves leaves in the
 * answer itself, so it may release, and only for the patient its assertion names, on that patient's consent.
 */
export type AccessorKind =
  'dicom-peer' | 'partner-node' | 'partner-gateway' | 'person' | 'own-system' | 'share-recipient' | 'node-task';

/** Which kind of accessor may touch patient data for which purpose; anything else is refused and recorded. */
const MAY: Readonly<Record<AccessPurpose, readonly AccessorKind[]>> = {
  ingest: ['dicom-peer', 'own-system', 'node-task'],
  query: ['dicom-peer', 'person', 'own-system', 'node-task'],
  retrieve: ['dicom-peer', 'person', 'own-system', 'node-task'],
  import: ['person', 'node-task'],
  exchange: ['partner-node', 'person', 'own-system', 'dicom-peer', 'node-task'],
  release: ['partner-node', 'partner-gateway'],
  retention: ['node-task'],
  localization: ['node-task'],
  share: ['person', 'share-recipient', 'node-task'],
  // Into the quarantine's own store (share/upload), never the hospital's: see hospital-node.ts.
  upload: ['share-recipient', 'node-task'],
};

/**
 * What each kind of accessor may do with patient data, whatever the purpose: a partner node's request never opens
 * image bytes itself (what it is sent leaves through the outbox, in the name of who asked), and only the node's own
 * tasks purge.
 */
type Operation = 'store' | 'query' | 'read' | 'release' | 'import' | 'purge';
const CAN: Readonly<Record<AccessorKind, readonly Operation[]>> = {
  'dicom-peer': ['store', 'query', 'read', 'release'],
  'partner-node': ['store', 'query', 'read'],
  'partner-gateway': ['query', 'read', 'release'],
  person: ['query', 'read', 'release', 'import'],
  'own-system': ['store', 'query', 'read', 'release'],
  // Only the studies of their own share, which the share's access names (see sharedStudies, openShared).
  'share-recipient': ['read'],
  'node-task': ['store', 'query', 'read', 'release', 'import', 'purge'],
};

/** Where what an accessor may do depends on the purpose too: a share's recipient stores only when uploading. */
const CAN_FOR_PURPOSE: Partial<Record<AccessorKind, Partial<Record<AccessPurpose, readonly Operation[]>>>> = {
  'share-recipient': { upload: ['store'] },
};

/** Purposes that hand patient data to another organization on the patient's consent, never without it. */
const NEEDS_CONSENT: ReadonlySet<AccessPurpose> = new Set(['release']);

/** Who, on whose behalf, why, from where and on what grounds: everything an audit record says besides the what. */
export interface AccessGrounds {
  kind: AccessorKind;
  /** The person or system that acts, as the audit trail names it. */
  user: AuditEvent['user'];
  /** The person on whose behalf the user acts, where that differs. */
  responsibleUser?: AuditEvent['responsibleUser'] | undefined;
  accessPoint: AuditEvent['accessPoint'];
  purpose: AccessPurpose;
  /** The purpose as the record names it, when more precise than the access purpose ('transfer-of-care'). */
  purposeOfUse?: string | undefined;
  /** What allowed the accessor in ('DICOM allow-list (AE title + host)', 'exchange-mtls', 'session'). */
  authorization: string;
  consentReference?: string | undefined;
  emergency?: boolean | undefined;
  /** The IHE transaction the access answers, which each of its records names (ITI-20's event type). */
  transaction?: AuditEvent['transaction'];
}

/** What one audit record is about; who, where and why come from the access. */
export type AuditAbout = Pick<AuditEvent, 'action' | 'outcome' | 'description' | 'patient' | 'objects'> & {
  /** A more specific consent reference for this record than the access's own (a transfer's manifest). */
  consentReference?: string | undefined;
  /** A more specific purpose for this record than the access's own (a listed transfer's purpose). */
  purposeOfUse?: string | undefined;
};

/** The registry's answer whether this patient permits release of imaging data to that organization. */
export interface ConsentDecision {
  decision: 'permit' | 'deny';
  consentReference?: string | undefined;
  reason?: string | undefined;
}

export interface ConsentDecider {
  mayRelease(bsn: string, toUra: string): Promise<ConsentDecision>;
}

/** An instance that may be sent on: its attributes, and its bytes, opened only through the access that found it. */
export interface ReleasedInstance {
  stored: StoredInstance;
  /** The whole Part 10 file (file meta included), decrypted as it streams. */
  openFile(): NodeJS.ReadableStream;
  /** The data set without its file meta, decrypted as it streams (`chunkBytes` per step: little for a header). */
  openDataset(opts?: { chunkBytes?: number }): NodeJS.ReadableStream;
  /**
   * A piece of openFile or openDataset its consumer is done with (written to its socket): its memory serves a later
   * read. The piece must not be used afterwards (its bytes are gone from it).
   */
  giveBack(piece: Buffer): void;
}

export interface PatientDataOptions {
  store: Store;
  audit: AuditTrail;
  logger: Logger;
  /** The AE title a C-FIND answer names as where to retrieve from. */
  retrieveAeTitle: string;
  /** This node's name: the access point of the node's own tasks. */
  node: string;
  /**
   * Asked before a purpose that needs consent touches a patient's data; when it gives none (no registry configured),
   * such purposes are refused.
   */
  consent?: (() => ConsentDecider | undefined) | undefined;
  /** The clock viewing windows are counted by (milliseconds since the epoch). */
  now?: () => number;
}

interface Held {
  studies: StudyService;
  audit: AuditTrail;
  logger: Logger;
  consent: () => ConsentDecider | undefined;
  /** Series a viewer is reading, by who and which series: until when its first record covers further frames. */
  viewing: Map<string, number>;
  now: () => number;
}

/**
 * How long the record of a viewer's first frame of a series covers the frames that follow (a 500-slice CT is 500
 * requests, scrolled and prefetched within seconds to minutes): one record per person, series and five minutes,
 * instead of 500 that say the same.
 */
export const VIEWING_WINDOW_MS = 5 * 60_000;

/**
 * The only holder of the study store and the audit trail for patient data. Every reader and writer (DIMSE handlers,
 * HTTP routes, the timeline source, the exchange) opens an access with its grounds and goes through it; the access
 * authorizes, establishes consent where the purpose needs it, and records the audit event, granted or denied.
 */
export class PatientData {
  readonly #o: Held;
  readonly #node: string;

  constructor(o: PatientDataOptions) {
    this.#o = {
      studies: new StudyService({ store: o.store, logger: o.logger, retrieveAeTitle: o.retrieveAeTitle }),
      audit: o.audit,
      logger: o.logger,
      consent: o.consent ?? (() => undefined),
      viewing: new Map(),
      now: o.now ?? Date.now,
    };
    this.#node = o.node;
  }

  /** An access for one request (or one association), with who acts, why, from where and on what grounds. */
  open(grounds: AccessGrounds): PatientDataAccess {
    return new PatientDataAccess(this.#o, grounds);
  }

  /** An access for a task of the node itself (retention, the outbox worker, an import), recorded as `system:<task>`. */
  openForTask(task: string, name: string, purpose: AccessPurpose, authorization: string): PatientDataAccess {
    return this.open({
      kind: 'node-task',
      user: { id: `system:${task}`, name },
      accessPoint: { node: this.#node },
      purpose,
      authorization,
    });
  }

  /** Start-up recovery of the store, before anything is accepted. */
  recover(): ReturnType<StudyService['recover']> {
    return this.#o.studies.recover();
  }

  /** Calls `listener` after each newly stored instance; it learns the patient's BSN, nothing more. */
  onStored(listener: (stored: { bsn: string | null; studyInstanceUid: string }) => void): void {
    this.#o.studies.onStored((s) => listener({ bsn: s.bsn, studyInstanceUid: s.studyInstanceUid }));
  }
}

const actorOf = (g: AccessGrounds): Actor => {
  switch (g.kind) {
    case 'dicom-peer':
      return {
        kind: 'dimse-peer',
        aeTitle: g.user.id.replace(/^dicom:/, ''),
        remoteAddress: g.accessPoint.ip ?? '',
        associationId: '',
      };
    case 'partner-node':
    case 'partner-gateway':
      return {
        kind: 'partner-node',
        ura: g.user.organizationUra ?? '',
        name: g.user.name,
        remoteAddress: g.accessPoint.ip ?? '',
      };
    case 'person':
    case 'own-system':
    case 'share-recipient':
      return { kind: 'user', id: g.user.id, name: g.user.name };
    case 'node-task':
      return { kind: 'system', task: g.user.id.replace(/^system:/, '') };
  }
};

const patientOf = (i: StoredInstance): NonNullable<AuditEvent['patient']> => ({
  ...(i.patient.bsn !== null ? { bsn: i.patient.bsn } : {}),
  patientId: i.patient.patientId,
});

/**
 * One request's (or association's) access to patient data. Each method that reads or writes records what it did;
 * a refusal is recorded too, and then thrown as a catalog error for the route or handler to answer.
 */
export class PatientDataAccess {
  readonly #o: Held;
  readonly grounds: AccessGrounds;
  readonly #ctx: AccessContext;
  /** Patients whose consent this access established: BSN → consent reference. */
  readonly #consented = new Map<string, string>();
  /** Studies whose arrival this access already recorded: a study of 500 instances is one record, not 500. */
  readonly #receivedStudies = new Set<string>();

  constructor(o: Held, grounds: AccessGrounds) {
    this.#o = o;
    this.grounds = grounds;
    this.#ctx = { actor: actorOf(grounds), purpose: contextPurpose(grounds.purpose) };
  }

  /**
   * Records one event with this access's who, where and why. Throws when the trail cannot be written; the caller must
   * then fail what it was doing, so nothing happens unrecorded.
   */
  async record(about: AuditAbout): Promise<AuditRecord> {
    return this.#o.audit.record(this.#eventOf(about));
  }

  /** Records several events in one durable write: all or none. */
  async recordAll(abouts: readonly AuditAbout[]): Promise<void> {
    if (abouts.length > 0) await this.#o.audit.recordAll(abouts.map((about) => this.#eventOf(about)));
  }

  #eventOf(about: AuditAbout): AuditEvent {
    const g = this.grounds;
    const consentReference = about.consentReference ?? this.#consentOf(about.patient) ?? g.consentReference;
    return {
      action: about.action,
      outcome: about.outcome,
      description: about.description,
      user: g.user,
      ...(g.responsibleUser !== undefined ? { responsibleUser: g.responsibleUser } : {}),
      accessPoint: g.accessPoint,
      ...(g.transaction !== undefined ? { transaction: g.transaction } : {}),
      ...(about.patient !== undefined ? { patient: about.patient } : {}),
      objects: about.objects,
      grounds: {
        purpose: about.purposeOfUse ?? g.purposeOfUse ?? g.purpose,
        authorization: g.authorization,
        ...(consentReference !== undefined ? { consentReference } : {}),
        ...(g.emergency === true ? { emergency: true } : {}),
      },
    };
  }

  /** The consent this access established for the record's patient, which the record then names as its grounds. */
  #consentOf(patient: AuditEvent['patient']): string | undefined {
    return patient?.bsn !== undefined ? this.#consented.get(patient.bsn) : undefined;
  }

  /** Refuses (recorded, then thrown) unless this accessor may act for this purpose. */
  async #authorize(
    op: Operation,
    what: string,
    about: Omit<AuditAbout, 'action' | 'outcome' | 'description'>,
    action: AuditEvent['action'],
  ): Promise<void> {
    const g = this.grounds;
    if (!MAY[g.purpose].includes(g.kind))
      await this.#refuse(action, `${what} refused: a ${g.kind} may not act for ${g.purpose}`, about);
    if (!(CAN_FOR_PURPOSE[g.kind]?.[g.purpose] ?? CAN[g.kind]).includes(op))
      await this.#refuse(action, `${what} refused: a ${g.kind} may not ${op} patient data`, about);
  }

  async #refuse(
    action: AuditEvent['action'],
    description: string,
    about: Omit<AuditAbout, 'action' | 'outcome' | 'description'>,
  ): Promise<never> {
    await this.record({
      action,
      outcome: 'failure',
      description,
      objects: about.objects,
      ...(about.patient !== undefined ? { patient: about.patient } : {}),
    });
    this.#o.logger.warn({ actor: this.grounds.user.id, purpose: this.grounds.purpose }, description);
    throw new BeeldbrugError('ACCESS_DENIED', description);
  }

  /**
   * Establishes the patient's consent for this access's purpose by asking the consent decider (the registry); the
   * answer is recorded either way. Returns the consent reference the release rests on. Throws RELEASE_REFUSED, RELEASE_WITHOUT_REGISTRY or REGISTRY_UNREACHABLE.
   */
  async establishConsent(
    bsn: string,
    toUra: string,
    about: {
      action: AuditEvent['action'];
      objects: AuditEvent['objects'];
      /** The request as a refusal names it: 'timeline request from URA 87654321'. */
      refusedAs: string;
    },
  ): Promise<string> {
    const patient = { bsn };
    const refused = async (
      code: 'RELEASE_WITHOUT_REGISTRY' | 'REGISTRY_UNREACHABLE' | 'RELEASE_REFUSED',
      description: string,
      consentReference?: string,
    ): Promise<never> => {
      await this.record({
        action: about.action,
        outcome: 'failure',
        description,
        patient,
        objects: about.objects,
        consentReference,
      });
      throw new BeeldbrugError(code, description);
    };
    await this.#authorize('query', about.refusedAs, { patient, objects: about.objects }, about.action);
    const decider = this.#o.consent();
    if (decider === undefined)
      return refused(
        'RELEASE_WITHOUT_REGISTRY',
        `${about.refusedAs} refused: this node has no registry to ask for consent`,
      );
    let answer: ConsentDecision;
    try {
      answer = await decider.mayRelease(bsn, toUra);
    } catch (err) {
      this.#o.logger.error({ err }, 'consent: the registry could not be asked');
      return refused('REGISTRY_UNREACHABLE', `${about.refusedAs} refused: the registry could not be asked`);
    }
    if (answer.decision !== 'permit' || answer.consentReference === undefined)
      return refused(
        'RELEASE_REFUSED',
        `${about.refusedAs} refused by the registry (${answer.reason ?? 'deny'})`,
        answer.consentReference,
      );
    this.#consented.set(bsn, answer.consentReference);
    return answer.consentReference;
  }

  /** For purposes that need consent: the reference established for this patient, or a recorded refusal. */
  async #consentFor(
    bsn: string,
    action: AuditEvent['action'],
    objects: AuditEvent['objects'],
  ): Promise<string | undefined> {
    if (!NEEDS_CONSENT.has(this.grounds.purpose)) return undefined;
    const ref = this.#consented.get(bsn);
    if (ref !== undefined) return ref;
    await this.record({
      action,
      outcome: 'failure',
      description: 'refused: no consent established for this patient',
      patient: { bsn },
      objects,
    });
    throw new BeeldbrugError('RELEASE_REFUSED', 'no consent was established for this patient');
  }

  /** Stores one instance (C-STORE, a C-GET sub-operation); the first instance of each study is recorded. */
  async ingest(input: IngestInput, description: string): Promise<IngestOutcome> {
    await this.#authorize('store', 'storing an instance', { objects: {} }, 'receive');
    const stored = await this.#o.studies.ingest(this.#ctx, input);
    await this.#recordReceived(stored, description);
    return stored;
  }

  /** Stores a whole Part 10 stream (file import, exchange upload); see StudyService.ingestPart10Stream. */
  async ingestPart10Stream(
    source: AsyncIterable<Buffer>,
    o: {
      provenance: Provenance;
      expect?: (instance: { sopInstanceUid: string; sopClassUid: string }) => { size: number; sha256: string };
      studyInstanceUid?: string;
    },
    description: string | undefined,
  ): Promise<IngestOutcome & { sopInstanceUid: string }> {
    // A person's upload (STOW-RS) is an import; a partner's or a peer's is storing what it sent.
    await this.#authorize(
      this.grounds.purpose === 'import' ? 'import' : 'store',
      'storing an instance',
      { objects: {} },
      'receive',
    );
    const stored = await this.#o.studies.ingestPart10Stream(this.#ctx, source, o);
    if (description !== undefined) await this.#recordReceived(stored, description);
    return stored;
  }

  /** Imports a Part 10 file from disk, recorded per study. */
  async importFile(path: string): Promise<IngestOutcome & { sopInstanceUid: string }> {
    await this.#authorize('import', 'importing a file', { objects: {} }, 'import');
    const stored = await this.#o.studies.importFile(this.#ctx, path);
    if (!this.#receivedStudies.has(stored.studyInstanceUid)) {
      this.#receivedStudies.add(stored.studyInstanceUid);
      await this.record({
        action: 'import',
        outcome: 'success',
        description: 'study imported from files',
        ...(stored.bsn !== null ? { patient: { bsn: stored.bsn } } : {}),
        objects: { studyInstanceUid: stored.studyInstanceUid },
      });
    }
    return stored;
  }

  async #recordReceived(stored: IngestOutcome, description: string): Promise<void> {
    // Marked before the record is written: instances of the study stored meanwhile must not record it again.
    if (this.#receivedStudies.has(stored.studyInstanceUid)) return;
    this.#receivedStudies.add(stored.studyInstanceUid);
    try {
      await this.record({
        action: 'receive',
        outcome: 'success',
        description,
        ...(stored.bsn !== null ? { patient: { bsn: stored.bsn } } : {}),
        objects: { studyInstanceUid: stored.studyInstanceUid },
      });
    } catch (err) {
      this.#receivedStudies.delete(stored.studyInstanceUid);
      throw err;
    }
  }

  /**
   * C-FIND: the response identifiers for the matches, recorded as one query naming the patient asked for (when the
   * identifier names one) and the study (when the answer is one study).
   */
  async find(
    identifier: Dataset,
    model: InformationModel,
    description: (matches: number) => string,
    asked: AuditEvent['patient'],
    /** QIDO-RS paging (limit/offset); C-FIND answers every match. */
    page?: QueryPage,
  ): Promise<Dataset[]> {
    await this.#authorize(
      'query',
      'query',
      { ...(asked !== undefined ? { patient: asked } : {}), objects: {} },
      'query',
    );
    const { matches, patients } = await this.#o.studies.find(this.#ctx, identifier, model, page);
    const studyUids = new Set<string>();
    for (const m of matches) {
      const uid = m.string(Tag.StudyInstanceUID);
      if (uid !== undefined) studyUids.add(uid);
    }
    const only = studyUids.size === 1 ? [...studyUids][0] : undefined;
    const about = (patient: AuditEvent['patient']): AuditAbout => ({
      action: 'query',
      outcome: 'success',
      description: description(matches.length),
      ...(patient !== undefined ? { patient } : {}),
      objects: only !== undefined ? { studyInstanceUid: only } : {},
    });
    // One record per patient whose data the answer showed, so each patient's log has it; none shown: the one asked for.
    await this.recordAll(patients.length > 0 ? patients.map(about) : [about(asked)]);
    return matches;
  }

  /**
   * A search another system answered for this access (the hospital's PACS, asked by C-FIND): authorized as a query of
   * this node, and recorded once per study the answer showed (so each patient's log names what was seen), or once for
   * the question when it showed nothing.
   */
  async recordSearchElsewhere(
    description: string,
    shown: readonly { patient: NonNullable<AuditEvent['patient']>; studyInstanceUid: string }[],
  ): Promise<void> {
    await this.#authorize('query', 'searching the PACS', { objects: {} }, 'query');
    const records: AuditAbout[] = shown.map((s) => ({
      action: 'query',
      outcome: 'success',
      description,
      patient: s.patient,
      objects: { studyInstanceUid: s.studyInstanceUid },
    }));
    await this.recordAll(
      records.length > 0 ? records : [{ action: 'query', outcome: 'success', description, objects: {} }],
    );
  }

  /**
   * C-MOVE / C-GET / WADO-RS: every instance the identifier names by unique key, recorded per study, bytes opened
   * through here. `viewing`: a viewer's frame of one series, whose first record covers this person's further frames of
   * that series for VIEWING_WINDOW_MS (the record says so); everything else is recorded every time.
   */
  async retrieve(
    identifier: Dataset,
    model: InformationModel,
    description: string,
    o: { viewing?: boolean } = {},
  ): Promise<ReleasedInstance[]> {
    await this.#authorize('release', 'retrieve', { objects: {} }, 'retrieve');
    const instances = await this.#o.studies.instancesToRetrieve(this.#ctx, identifier, model);
    const series = new Set(instances.map((i) => i.series.seriesInstanceUid));
    const key =
      o.viewing === true && series.size === 1
        ? `${this.grounds.user.id}|${this.grounds.accessPoint.ip ?? ''}|${[...series][0]}`
        : undefined;
    const now = this.#o.now();
    if (key === undefined || (this.#o.viewing.get(key) ?? 0) <= now) {
      await this.#recordRetrieved(
        instances,
        description,
        undefined,
        key !== undefined
          ? `; viewing: this record covers this person's further frames of the series for ${VIEWING_WINDOW_MS / 60_000} minutes`
          : '',
      );
      if (key !== undefined) this.#remember(key, now + VIEWING_WINDOW_MS, now);
    }
    return instances.map((i) => this.#released(i));
  }

  /** Keeps the viewing windows that have not ended, so the map stays as small as the series being read. */
  #remember(key: string, until: number, now: number): void {
    const viewing = this.#o.viewing;
    if (viewing.size > 1000) for (const [k, end] of viewing) if (end <= now) viewing.delete(k);
    viewing.set(key, until);
  }

  async #recordRetrieved(
    instances: readonly StoredInstance[],
    description: string,
    extra?: AuditEvent['objects'],
    note = '',
  ): Promise<void> {
    const byStudy = new Map<string, StoredInstance[]>();
    for (const i of instances) {
      const list = byStudy.get(i.study.studyInstanceUid);
      if (list !== undefined) list.push(i);
      else byStudy.set(i.study.studyInstanceUid, [i]);
    }
    await this.recordAll(
      [...byStudy].map(([uid, list]) => ({
        action: 'retrieve' as const,
        outcome: 'success' as const,
        description: `${description}: ${list.length} instances${note}`,
        patient: patientOf(list[0]!),
        objects: { ...extra, studyInstanceUid: uid, sopInstanceUids: list.map((i) => i.instance.sopInstanceUid) },
      })),
    );
  }

  #released(i: StoredInstance): ReleasedInstance {
    return {
      stored: i,
      openFile: () => this.#o.studies.openFile(i),
      openDataset: (opts) => this.#o.studies.openDataset(i, opts),
      giveBack: (piece) => this.#o.studies.giveBack(piece),
    };
  }

  /**
   * The instances of one study that leave the node (sent to a partner), recorded as one retrieve naming each instance,
   * or, without a description, by the caller through this access with the outcome (a send delivered or given up);
   * their bytes open only through what this returns.
   */
  async releaseStudy(
    studyInstanceUid: string,
    description: string | undefined,
    objects?: AuditEvent['objects'],
  ): Promise<ReleasedInstance[]> {
    await this.#authorize('release', 'sending a study', { objects: { ...objects, studyInstanceUid } }, 'retrieve');
    const instances = await this.#o.studies.studyInstances(this.#ctx, studyInstanceUid);
    const bsn = instances[0]?.patient.bsn;
    if (bsn !== null && bsn !== undefined) await this.#consentFor(bsn, 'retrieve', { ...objects, studyInstanceUid });
    if (instances.length > 0 && description !== undefined) await this.#recordRetrieved(instances, description, objects);
    return instances.map((i) => this.#released(i));
  }

  /**
   * Named instances leaving the node (forwarded into the PACS after a transfer): recorded per study with the
   * description, or, without one, by the caller through this access once the import is settled.
   */
  async releaseInstances(
    sopInstanceUids: readonly string[],
    description: string | undefined,
    objects?: AuditEvent['objects'],
  ): Promise<ReleasedInstance[]> {
    await this.#authorize('release', 'sending instances', { objects: { ...objects } }, 'retrieve');
    const found: StoredInstance[] = [];
    for (const uid of sopInstanceUids) {
      const instance = await this.#o.studies.instance(this.#ctx, uid);
      if (instance !== undefined) found.push(instance);
    }
    if (found.length > 0 && description !== undefined) await this.#recordRetrieved(found, description, objects);
    return found.map((i) => this.#released(i));
  }

  /**
   * What the node holds of a study, without its bytes: how many instances and whose. Used to decide whether to fetch
   * from the PACS; not recorded, since nothing of the patient leaves and no person sees it.
   */
  async studySummary(studyInstanceUid: string): Promise<{ instances: number; patient?: AuditEvent['patient'] }> {
    await this.#authorize('read', 'looking up a study', { objects: { studyInstanceUid } }, 'read');
    const contents = await this.#o.studies.studyContents(this.#ctx, studyInstanceUid);
    if (contents === undefined) return { instances: 0 };
    return { instances: countOf(contents.kinds), patient: patientOf(contents.first) };
  }

  /** Which of these instances the node holds with exactly these bytes; see StudyService.heldWithDigest. */
  async heldWithDigest(instances: readonly { sopInstanceUid: string; sha256: string }[]): Promise<Set<string>> {
    await this.#authorize('read', 'checking held instances', { objects: {} }, 'read');
    return this.#o.studies.heldWithDigest(this.#ctx, instances);
  }

  /**
   * A person shares studies with someone outside the hospital (a patient, a doctor elsewhere): what each study is, one
   * 'share' record per study naming the recipient. Throws NOT_FOUND (recorded) when the node does not hold a study.
   */
  async shareStudies(
    studyInstanceUids: readonly string[],
    description: string,
    shareId: string,
  ): Promise<SharedStudy[]> {
    await this.#authorize('release', 'sharing studies', { objects: {} }, 'share');
    const studies = await this.#shared(studyInstanceUids, 'share');
    await this.recordAll(studies.map((s) => sharedAbout(s, 'share', description, shareId)));
    return studies.map((s) => s.study);
  }

  /** What a share's recipient sees of its studies, recorded as read (their own share's studies only: the caller's). */
  async sharedStudies(
    studyInstanceUids: readonly string[],
    description: string,
    shareId?: string,
  ): Promise<SharedStudy[]> {
    await this.#authorize('read', 'showing shared studies', { objects: {} }, 'read');
    const studies = await this.#shared(studyInstanceUids, 'read');
    await this.recordAll(studies.map((s) => sharedAbout(s, 'read', description, shareId)));
    return studies.map((s) => s.study);
  }

  /**
   * Who accessed a patient's data on this node, newest first, for the patient themselves (NEN 7513: a patient may see
   * the records about them): only a share's recipient may ask, and the share decides that its recipient is the patient.
   * The reading is itself recorded.
   */
  async accessHistory(patient: { bsn: string }, shareId: string, limit = 1000): Promise<AuditRecord[]> {
    const about = { patient, objects: { shareId } };
    await this.#authorize('read', 'showing a patient who accessed their data', about, 'audit-read');
    if (this.grounds.kind !== 'share-recipient')
      await this.#refuse(
        'audit-read',
        'access history refused: it is shown to the patient, through their share',
        about,
      );
    const records = (await this.#o.audit.list({ bsn: patient.bsn, limit: 100_000 })).slice(-limit).reverse();
    await this.record({
      action: 'audit-read',
      outcome: 'success',
      description: 'the patient read who accessed their data',
      ...about,
    });
    return records;
  }

  /**
   * A share's studies opened by its recipient, their bytes through here: downloaded (one 'download' record per study),
   * or `viewing` in the browser, where a viewer asks for every image on its own: one 'read' record per study covers
   * this recipient's further images of it for VIEWING_WINDOW_MS (the record says so).
   */
  async openShared(
    studyInstanceUids: readonly string[],
    description: string,
    shareId: string,
    o: { viewing?: boolean } = {},
  ): Promise<ReleasedInstance[]> {
    const action = o.viewing === true ? 'read' : 'download';
    await this.#authorize(
      'read',
      o.viewing === true ? 'viewing shared studies' : 'downloading shared studies',
      { objects: {} },
      action,
    );
    const studies = await this.#shared(studyInstanceUids, action);
    if (o.viewing !== true) await this.recordAll(studies.map((s) => sharedAbout(s, action, description, shareId)));
    else {
      const now = this.#o.now();
      const keyOf = (s: { study: SharedStudy }): string =>
        `${this.grounds.user.id}|${this.grounds.accessPoint.ip ?? ''}|${s.study.studyInstanceUid}`;
      const due = studies.filter((s) => (this.#o.viewing.get(keyOf(s)) ?? 0) <= now);
      const covers = `; viewing: this record covers their further images of the study for ${VIEWING_WINDOW_MS / 60_000} minutes`;
      await this.recordAll(due.map((s) => sharedAbout(s, action, description, shareId, covers)));
      for (const s of due) this.#remember(keyOf(s), now + VIEWING_WINDOW_MS, now);
    }
    const released: ReleasedInstance[] = [];
    for (const s of studies)
      for (const i of await this.#o.studies.studyInstances(this.#ctx, s.study.studyInstanceUid))
        released.push(this.#released(i));
    return released;
  }

  async #shared(studyInstanceUids: readonly string[], action: AuditEvent['action']): Promise<Shared[]> {
    const shared: Shared[] = [];
    for (const uid of studyInstanceUids) {
      const contents = await this.#o.studies.studyContents(this.#ctx, uid);
      if (contents === undefined) {
        await this.record({
          action,
          outcome: 'failure',
          description: 'refused: the node holds no such study',
          objects: { studyInstanceUid: uid },
        });
        throw new BeeldbrugError('NOT_FOUND', `this node holds no study ${uid}`);
      }
      shared.push({ study: sharedStudyOf(contents), first: contents.first });
    }
    return shared;
  }

  /**
   * Every study the node holds of this patient, newest first. For a release, consent must have been established; the
   * listing itself is recorded by the caller with what it showed (reports included or not).
   */
  async patientStudies(bsn: string): Promise<PatientStudy[]> {
    await this.#authorize('query', 'listing studies', { patient: { bsn }, objects: {} }, 'query');
    await this.#consentFor(bsn, 'query', {});
    return this.#o.studies.patientStudies(this.#ctx, bsn);
  }

  /**
   * The patient the node's index knows by this Patient ID (with their BSN where known: how a local id is mapped to the
   * BSN a timeline asks by) or BSN. The caller records the question it serves (the timeline query names the patient).
   */
  async localPatient(
    by: { patientId: string; issuer?: string | undefined } | { bsn: string },
  ): Promise<LocalPatient | undefined> {
    await this.#authorize('query', 'looking up a patient', { patient: by, objects: {} }, 'query');
    return this.#o.studies.localPatient(this.#ctx, by);
  }

  /** The series the node holds of a study of this patient (consent as for patientStudies; recorded by the caller). */
  async studySeries(bsn: string, studyInstanceUid: string): Promise<PatientSeries[]> {
    await this.#authorize('query', 'listing series', { patient: { bsn }, objects: { studyInstanceUid } }, 'query');
    await this.#consentFor(bsn, 'query', { studyInstanceUid });
    return this.#o.studies.studySeries(this.#ctx, bsn, studyInstanceUid);
  }

  /** The text of a study's structured reports (consent as for patientStudies). */
  async reportText(bsn: string, studyInstanceUid: string): Promise<string | undefined> {
    await this.#authorize('read', 'reading reports', { patient: { bsn }, objects: { studyInstanceUid } }, 'read');
    await this.#consentFor(bsn, 'read', { studyInstanceUid });
    const held = await this.#o.studies.studyInstances(this.#ctx, studyInstanceUid);
    if (held.some((i) => i.patient.bsn !== bsn)) return undefined;
    return this.#o.studies.reportText(this.#ctx, studyInstanceUid);
  }

  /** Every patient with a BSN the node holds studies of (for the localization registry). */
  async patientBsns(): Promise<string[]> {
    await this.#authorize('query', 'listing patients', { objects: {} }, 'query');
    return this.#o.studies.patientBsns();
  }

  /**
   * Retention: removes every instance received before `cutoff`, except those of the `kept` studies (shared, until the
   * share ends), each study recorded as purged.
   */
  async purgeReceivedBefore(
    cutoff: Date,
    description: (s: PurgedStudy) => string,
    kept: readonly string[] = [],
  ): Promise<PurgedStudy[]> {
    await this.#authorize('purge', 'retention', { objects: {} }, 'purge');
    const purged = await this.#o.studies.purgeReceivedBefore(this.#ctx, cutoff, kept);
    return this.#recordPurged(purged, description);
  }

  /** Removes these instances (a rejected transfer's copy), each study recorded as purged. */
  async purgeInstances(
    sopInstanceUids: readonly string[],
    description: (s: PurgedStudy) => string,
  ): Promise<PurgedStudy[]> {
    await this.#authorize('purge', 'removing instances', { objects: {} }, 'purge');
    const purged = await this.#o.studies.purgeInstances(this.#ctx, sopInstanceUids);
    return this.#recordPurged(purged, description);
  }

  /** One record per study, written in one durable append. */
  async #recordPurged(purged: PurgedStudy[], description: (s: PurgedStudy) => string): Promise<PurgedStudy[]> {
    await this.recordAll(
      purged.map((s) => ({
        action: 'purge' as const,
        outcome: 'success' as const,
        description: description(s),
        patient: s.patient,
        objects: { studyInstanceUid: s.studyInstanceUid },
      })),
    );
    return purged;
  }
}

function contextPurpose(p: AccessPurpose): AccessContext['purpose'] {
  switch (p) {
    case 'release':
      return 'retrieve';
    case 'localization':
      return 'retention';
    case 'share':
      return 'retrieve';
    case 'upload':
      return 'ingest';
    default:
      return p;
  }
}

/** A shared study as its sender and its recipient see it: whose, when, what, and how much. */
export interface SharedStudy {
  studyInstanceUid: string;
  patient: { bsn: string | null; patientId: string; name: string | null; birthDate: string | null };
  studyDate: string | null;
  description: string | null;
  modalities: string[];
  instances: number;
  /** Of the instances, the reports and documents (a de-identified share leaves them out). */
  documents: number;
  bytes: number;
}

interface Shared {
  study: SharedStudy;
  first: StoredInstance;
}

const countOf = (kinds: StudyContents['kinds']): number => kinds.reduce((n, k) => n + k.instances, 0);

function sharedStudyOf({ first, kinds }: StudyContents): SharedStudy {
  return {
    studyInstanceUid: first.study.studyInstanceUid,
    patient: {
      bsn: first.patient.bsn,
      patientId: first.patient.patientId,
      name: first.patient.patientName,
      birthDate: first.patient.birthDate,
    },
    studyDate: first.study.studyDate,
    description: first.study.studyDescription,
    modalities: [...new Set(kinds.flatMap((k) => k.modality ?? []))],
    instances: countOf(kinds),
    documents: countOf(kinds.filter((k) => isDocumentSopClass(k.sopClassUid))),
    bytes: kinds.reduce((n, k) => n + k.bytes, 0),
  };
}

function sharedAbout(
  s: Shared,
  action: AuditEvent['action'],
  description: string,
  shareId: string | undefined,
  more = '',
): AuditAbout {
  return {
    action,
    outcome: 'success',
    description: `${description}: ${s.study.instances} instances${more}`,
    patient: patientOf(s.first),
    objects: { studyInstanceUid: s.study.studyInstanceUid, ...(shareId !== undefined ? { shareId } : {}) },
  };
}
