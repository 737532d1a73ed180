import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { type Dataset, Tag } from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { Provenance, QueryPage, RecoveryReport, Store, StoredInstance, StudyContents } from '../store/index.ts';
import { type AccessContext, describeActor } from './access-context.ts';
import { ingestInstance, type IngestInput, type IngestOutcome, patientOfBlob, reindexBlob } from './ingest.ts';
import { splitPart10 } from './part10-stream.ts';
import {
  type PatientSeries,
  type PatientStudy,
  REPORT_SOP_CLASSES,
  reportTextOf,
  seriesOf,
  summarizeStudies,
} from './patient-studies.ts';
import { type InformationModel, parseQuery, requireUniqueKey, responseFor } from './query.ts';

/** A structured report is text; anything larger is not one a timeline should read into memory. */
const MAX_REPORT_BYTES = 4 * 1024 * 1024;

export interface PurgedStudy {
  studyInstanceUid: string;
  patient: { bsn?: string; patientId: string };
  instances: number;
  bytes: number;
}

export interface StudyServiceOptions {
  store: Store;
  logger: Logger;
  /** The AE title a C-FIND answer names as where to retrieve from. */
  retrieveAeTitle: string;
}

/**
 * The one way in to stored studies. DIMSE handlers (and later HTTP routes) call this with an access context; none of
 * them reaches the store itself, so access decisions and the audit trail have a single place to live.
 */
/** A patient as the node's index knows them. */
export interface LocalPatient {
  patientId: string;
  bsn?: string;
  name?: string;
  birthDate?: string;
  sex?: string;
}

export class StudyService {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #retrieveAeTitle: string;
  readonly #storedListeners: ((stored: IngestOutcome) => void)[] = [];

  constructor(o: StudyServiceOptions) {
    this.#store = o.store;
    this.#log = o.logger;
    this.#retrieveAeTitle = o.retrieveAeTitle;
  }

  /**
   * Start-up recovery, before any association or upload is accepted: the store settles what an earlier run left, then
   * every durable blob the index lost is indexed again from its own content, so no acknowledged instance is lost.
   * A blob that can no longer be indexed (its patient now conflicts) is removed and logged; one that cannot be read is
   * left in place and reported.
   */
  async recover(): Promise<
    RecoveryReport & { reindexed: number; refused: number; unreadable: string[]; patientsRestored: number }
  > {
    const report = await this.#store.recover();
    let reindexed = 0;
    let refused = 0;
    const unreadable: string[] = [];
    for (const blobId of report.unindexedBlobs) {
      try {
        const r = await reindexBlob(this.#store, blobId);
        if (r.outcome === 'created') reindexed += 1;
      } catch (err) {
        if (
          err instanceof BeeldbrugError &&
          (err.code === 'PATIENT_BSN_CONFLICT' || err.code === 'STUDY_PATIENT_CONFLICT')
        ) {
          refused += 1;
          this.#log.warn({ blobId, code: err.code }, `a recovered instance was not indexed: ${err.message}`);
          await this.#store.blobs.delete(blobId);
        } else {
          unreadable.push(blobId);
          this.#log.error({ blobId, err }, 'a blob could not be indexed again; it is left in place');
        }
      }
    }
    return { ...report, reindexed, refused, unreadable, patientsRestored: await this.#restorePatients() };
  }

  /**
   * Patients split apart by the index migration that stopped joining studies on an empty Patient ID get their own
   * attributes back from a file of their study. One that cannot be read keeps empty attributes (never another
   * person's) and is tried again at the next start.
   */
  async #restorePatients(): Promise<number> {
    let restored = 0;
    for (const { patientKey, blobId } of await this.#store.index.patientsAwaitingAttributes()) {
      try {
        await this.#store.index.restorePatientAttributes(patientKey, await patientOfBlob(this.#store, blobId));
        restored += 1;
      } catch (err) {
        this.#log.error(
          { blobId, err },
          'the patient attributes of a study could not be read again from its file; they stay empty',
        );
      }
    }
    if (restored > 0)
      this.#log.info(
        { restored },
        'patients with an empty Patient ID, once filed together, each have their own attributes again',
      );
    return restored;
  }

  /**
   * Retention: removes every instance received before `cutoff` (the node keeps transient copies, not an archive), in
   * batches, each removal durable before its file is deleted. Returns what went, per study, for the log and the audit
   * trail; audit records themselves are never purged here.
   */
  async purgeReceivedBefore(ctx: AccessContext, cutoff: Date, kept: readonly string[] = []): Promise<PurgedStudy[]> {
    const purged = await this.#purge(async function* (index) {
      for (;;) {
        const batch = await index.receivedBefore(cutoff.toISOString(), 500, kept);
        if (batch.length === 0) return;
        for (const i of batch) yield i.instance.sopInstanceUid;
      }
    });
    if (purged.length > 0)
      this.#log.info(
        {
          actor: describeActor(ctx.actor),
          studies: purged.length,
          instances: purged.reduce((n, s) => n + s.instances, 0),
        },
        'retention purge',
      );
    return purged;
  }

  /** Removes these instances (those the node holds), e.g. a rejected transfer's; each study's share is answered. */
  async purgeInstances(ctx: AccessContext, sopInstanceUids: readonly string[]): Promise<PurgedStudy[]> {
    const purged = await this.#purge(() => sopInstanceUids.values());
    this.#log.info(
      { actor: describeActor(ctx.actor), instances: purged.reduce((n, s) => n + s.instances, 0) },
      'instances purged',
    );
    return purged;
  }

  /** Index first (durable, remembered as removed), then the blob: a crash between the two never re-indexes it. */
  async #purge(uids: (index: Store['index']) => AsyncIterable<string> | Iterable<string>): Promise<PurgedStudy[]> {
    const byStudy = new Map<string, PurgedStudy>();
    for await (const uid of uids(this.#store.index)) {
      const removed = await this.#store.index.removeInstance(uid);
      if (removed === undefined) continue;
      await this.#store.blobs.delete(removed.blob.blobId);
      const s = byStudy.get(removed.study.studyInstanceUid) ?? {
        studyInstanceUid: removed.study.studyInstanceUid,
        patient: {
          ...(removed.patient.bsn !== null ? { bsn: removed.patient.bsn } : {}),
          patientId: removed.patient.patientId,
        },
        instances: 0,
        bytes: 0,
      };
      s.instances += 1;
      s.bytes += removed.blob.size;
      byStudy.set(s.studyInstanceUid, s);
    }
    return [...byStudy.values()];
  }

  /** Calls `listener` after each newly stored instance (not after duplicates), e.g. to tell the registry. */
  onStored(listener: (stored: IngestOutcome) => void): void {
    this.#storedListeners.push(listener);
  }

  /** Every patient with a BSN the node holds studies of. */
  async patientBsns(): Promise<string[]> {
    const rows = await this.#store.index.query('PATIENT', []);
    return [
      ...new Set(rows.flatMap((r) => (typeof r.values.bsn === 'string' && r.values.bsn !== '' ? [r.values.bsn] : []))),
    ];
  }

  async ingest(ctx: AccessContext, input: IngestInput): Promise<IngestOutcome> {
    const result = await ingestInstance(this.#store, input);
    if (result.outcome === 'created') {
      for (const listener of this.#storedListeners) {
        try {
          listener(result);
        } catch (err) {
          this.#log.error({ err }, 'a stored-instance listener failed');
        }
      }
    }
    this.#log.debug(
      { actor: describeActor(ctx.actor), outcome: result.outcome, bytes: result.bytes, sopClassUid: input.sopClassUid },
      'instance stored',
    );
    return result;
  }

  /** Stores a Part 10 file as it is (its own file meta included), read once as a stream, the same way as a C-STORE. */
  async importFile(ctx: AccessContext, path: string): Promise<IngestOutcome & { sopInstanceUid: string }> {
    return this.ingestPart10Stream(ctx, createReadStream(path, { highWaterMark: 256 * 1024 }), {
      provenance: { receivedAt: new Date().toISOString(), via: 'import', callingAeTitle: null, remoteAddress: null },
    });
  }

  /**
   * Stores a whole Part 10 file arriving as a stream (a file import, an exchange upload), its own file meta kept. When
   * given, `expect` names the size and SHA-256 the sender announced for the instance the meta names (or throws when it
   * announced none); a file that does not match is refused after its last byte and before it is stored.
   */
  async ingestPart10Stream(
    ctx: AccessContext,
    source: AsyncIterable<Buffer>,
    o: {
      provenance: Provenance;
      expect?: (instance: { sopInstanceUid: string; sopClassUid: string }) => { size: number; sha256: string };
      /** The study the instance must belong to (STOW-RS to one study); another is refused before it is stored. */
      studyInstanceUid?: string;
    },
  ): Promise<IngestOutcome & { sopInstanceUid: string }> {
    const part10 = await splitPart10(source);
    const sopInstanceUid = part10.meta.string(Tag.MediaStorageSOPInstanceUID) ?? '';
    const sopClassUid = part10.meta.string(Tag.MediaStorageSOPClassUID) ?? '';
    const expected = o.expect?.({ sopInstanceUid, sopClassUid });
    const fileMeta = part10.fileMeta;
    const hash = createHash('sha256').update(fileMeta);
    let size = fileMeta.length;
    const checked = async function* (): AsyncIterable<Buffer> {
      for await (const b of part10.dataset) {
        if (expected !== undefined) {
          hash.update(b);
          size += b.length;
          if (size > expected.size)
            throw new BeeldbrugError(
              'DIGEST_MISMATCH',
              `${sopInstanceUid} is larger than the ${expected.size} bytes announced`,
            );
        }
        yield b;
      }
      if (expected === undefined) return;
      const digest = hash.digest('hex');
      if (size !== expected.size || digest !== expected.sha256) {
        throw new BeeldbrugError(
          'DIGEST_MISMATCH',
          `${sopInstanceUid}: ${size} bytes with SHA-256 ${digest.slice(0, 12)}…, announced ${expected.size} bytes ${expected.sha256.slice(0, 12)}…`,
        );
      }
    };
    const result = await this.ingest(ctx, {
      sopClassUid,
      sopInstanceUid,
      transferSyntaxUid: part10.transferSyntaxUid,
      fileMeta,
      data: checked(),
      provenance: o.provenance,
      ...(o.studyInstanceUid !== undefined ? { studyInstanceUid: o.studyInstanceUid } : {}),
    });
    return { ...result, sopInstanceUid };
  }

  /**
   * C-FIND: the response identifiers for the matches, in the order the index gives them, and the patients they are of
   * (for the audit trail, which names whose data a search showed even when the answer does not carry it).
   */
  async find(
    ctx: AccessContext,
    identifier: Dataset,
    model: InformationModel,
    page?: QueryPage,
  ): Promise<{ matches: Dataset[]; patients: { bsn?: string; patientId: string }[] }> {
    const query = parseQuery(identifier, model);
    const rows = await this.#store.index.query(query.level, query.matchers, page);
    this.#log.debug(
      { actor: describeActor(ctx.actor), level: query.level, keys: query.matchers.length, matches: rows.length },
      'query',
    );
    const patients = new Map<string, { bsn?: string; patientId: string }>();
    for (const row of rows) {
      const patientId = typeof row.values.patientId === 'string' ? row.values.patientId : '';
      const bsn = typeof row.values.bsn === 'string' && row.values.bsn !== '' ? row.values.bsn : undefined;
      patients.set(`${bsn ?? ''}|${patientId}`, { ...(bsn !== undefined ? { bsn } : {}), patientId });
    }
    return {
      matches: rows.map((row) => responseFor(query, row, this.#retrieveAeTitle)),
      patients: [...patients.values()],
    };
  }

  /** C-MOVE / C-GET: every instance under the entities the identifier names by unique key. */
  async instancesToRetrieve(
    ctx: AccessContext,
    identifier: Dataset,
    model: InformationModel,
  ): Promise<StoredInstance[]> {
    const query = parseQuery(identifier, model);
    requireUniqueKey(query);
    const instances = await this.#store.index.instancesMatching(query.level, query.matchers);
    this.#log.debug({ actor: describeActor(ctx.actor), level: query.level, instances: instances.length }, 'retrieve');
    return instances;
  }

  /**
   * Which of these instances the node already holds with exactly these bytes (the SHA-256 of the stored Part 10 file),
   * so an exchange does not move them again. A different digest under the same UID counts as not held.
   */
  async heldWithDigest(
    ctx: AccessContext,
    instances: readonly { sopInstanceUid: string; sha256: string }[],
  ): Promise<Set<string>> {
    const held = new Set<string>();
    for (const i of instances) {
      if ((await this.#store.index.getInstance(i.sopInstanceUid))?.blob.sha256 === i.sha256) held.add(i.sopInstanceUid);
    }
    this.#log.debug({ actor: describeActor(ctx.actor), asked: instances.length, held: held.size }, 'held instances');
    return held;
  }

  /** One stored instance by its SOP Instance UID. */
  async instance(ctx: AccessContext, sopInstanceUid: string): Promise<StoredInstance | undefined> {
    const found = await this.#store.index.getInstance(sopInstanceUid);
    this.#log.debug({ actor: describeActor(ctx.actor), found: found !== undefined }, 'instance');
    return found;
  }

  /** Every stored instance of one study, for sending it on (issue 3): attributes, size and SHA-256 of each file. */
  async studyInstances(ctx: AccessContext, studyInstanceUid: string): Promise<StoredInstance[]> {
    const instances = await this.#store.index.instancesMatching('STUDY', [
      { key: 'studyInstanceUid', kind: 'single', value: studyInstanceUid },
    ]);
    this.#log.debug({ actor: describeActor(ctx.actor), instances: instances.length }, 'study for exchange');
    return instances;
  }

  /** What a study holds, counted rather than listed (a summary of a CD's worth of images is two small queries). */
  async studyContents(ctx: AccessContext, studyInstanceUid: string): Promise<StudyContents | undefined> {
    const contents = await this.#store.index.studyContents(studyInstanceUid);
    this.#log.debug({ actor: describeActor(ctx.actor), found: contents !== undefined }, 'study contents');
    return contents;
  }

  /**
   * The patient the node knows by this Patient ID (and issuer, when given) or BSN: BSN, name, birth date and sex as
   * indexed. Undefined when the node holds no studies of such a patient, or several patients answer (other issuers).
   */
  async localPatient(
    ctx: AccessContext,
    by: { patientId: string; issuer?: string | undefined } | { bsn: string },
  ): Promise<LocalPatient | undefined> {
    const rows = await this.#store.index.query(
      'PATIENT',
      'bsn' in by
        ? [{ key: 'bsn', kind: 'single', value: by.bsn }]
        : [
            { key: 'patientId', kind: 'single', value: by.patientId },
            ...(by.issuer !== undefined
              ? [{ key: 'issuerOfPatientId' as const, kind: 'single' as const, value: by.issuer }]
              : []),
          ],
    );
    this.#log.debug({ actor: describeActor(ctx.actor), patients: rows.length }, 'local patient');
    const only = rows.length === 1 ? rows[0] : undefined;
    if (only === undefined) return undefined;
    const text = (v: string | number | null | undefined): string | undefined =>
      typeof v === 'string' && v !== '' ? v : undefined;
    const v = only.values;
    return {
      patientId: String(v.patientId ?? ''),
      ...(text(v.bsn) !== undefined ? { bsn: String(v.bsn) } : {}),
      ...(text(v.patientName) !== undefined ? { name: String(v.patientName) } : {}),
      ...(text(v.birthDate) !== undefined ? { birthDate: String(v.birthDate) } : {}),
      ...(text(v.sex) !== undefined ? { sex: String(v.sex) } : {}),
    };
  }

  /** The series the node holds of this study of the patient with this BSN (none when the study is another's). */
  async studySeries(ctx: AccessContext, bsn: string, studyInstanceUid: string): Promise<PatientSeries[]> {
    const rows = await this.#store.index.query('SERIES', [
      { key: 'bsn', kind: 'single', value: bsn },
      { key: 'studyInstanceUid', kind: 'single', value: studyInstanceUid },
    ]);
    this.#log.debug({ actor: describeActor(ctx.actor), series: rows.length }, 'study series');
    return seriesOf(rows);
  }

  /** Every study the node holds of the patient with this BSN, summarized for a timeline, newest first. */
  async patientStudies(ctx: AccessContext, bsn: string): Promise<PatientStudy[]> {
    // One series-level query: each row carries its study's attributes, so counts, modalities and body parts need no more.
    const rows = await this.#store.index.query('SERIES', [{ key: 'bsn', kind: 'single', value: bsn }]);
    const studies = summarizeStudies(rows);
    this.#log.debug({ actor: describeActor(ctx.actor), studies: studies.length }, 'patient studies');
    return studies.sort((a, b) =>
      `${b.studyDate ?? ''}${b.studyTime ?? ''}`.localeCompare(`${a.studyDate ?? ''}${a.studyTime ?? ''}`),
    );
  }

  /** The text of the study's structured reports, or undefined when it has none (a PDF report has no text here). */
  async reportText(ctx: AccessContext, studyInstanceUid: string): Promise<string | undefined> {
    const reports = (await this.studyInstances(ctx, studyInstanceUid)).filter(
      (i) => REPORT_SOP_CLASSES.has(i.instance.sopClassUid) && i.blob.size <= MAX_REPORT_BYTES,
    );
    if (reports.length === 0) return undefined;
    const texts: string[] = [];
    for (const r of reports) {
      const chunks: Buffer[] = [];
      for await (const chunk of this.openFile(r)) chunks.push(chunk as Buffer);
      texts.push(reportTextOf(Buffer.concat(chunks)));
    }
    return texts.join('\n\n');
  }

  /** The whole stored Part 10 file of an instance (file meta included), decrypted as it streams. */
  openFile(instance: StoredInstance): NodeJS.ReadableStream {
    return this.#store.blobs.open(instance.blob.blobId);
  }

  /** A piece of openFile or openDataset its consumer has written out: the store may fill its memory again. */
  giveBack(piece: Buffer): void {
    this.#store.blobs.giveBack(piece);
  }

  /** The data set bytes of a stored instance (without its file meta), decrypted as they stream. */
  openDataset(instance: StoredInstance, opts?: { chunkBytes?: number }): NodeJS.ReadableStream {
    return this.#store.blobs.open(instance.blob.blobId, { start: instance.datasetOffset, ...opts });
  }
}
