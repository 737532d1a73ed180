import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BeeldbrugError } from '../../errors/index.ts';
import type { Logger } from '../../log/index.ts';
import type { AccessGrounds, PatientData, ReleasedInstance, SharedStudy } from '../../studies/index.ts';
import { IncomingFile } from './incoming-file.ts';
import { DEFAULT_ZIP_LIMITS, type Inspected, inspect, type RefusalKind, type ZipLimits } from './intake.ts';
import type { QuarantinedStudy, Upload, Uploader, UploadStore } from './upload-store.ts';

/** Someone who uploads (a share's recipient): who, and the grounds their access to the quarantine rests on. */
export interface UploadActor {
  uploader: Uploader;
  grounds: AccessGrounds;
}

/** What a record about an upload names: the study, and the share its uploader came through (a partner has none). */
const objectsOf = (u: Uploader, studyInstanceUid?: string): { studyInstanceUid?: string; shareId?: string } => ({
  ...(studyInstanceUid !== undefined ? { studyInstanceUid } : {}),
  ...(u.shareId !== undefined ? { shareId: u.shareId } : {}),
});

/** A file arriving whole, piece by piece (see Quarantine.receive). */
export interface IncomingUpload {
  /**
   * Takes the next piece (its memory may be reused once this returns); a promise when the sender should wait before the
   * next. Throws UPLOAD_TOO_LARGE past the largest upload, or what failed to be written.
   */
  write(piece: Buffer): Promise<void> | undefined;
  /** The file is complete: answers the upload, being taken in, or refused. */
  end(): Promise<Upload>;
  /** The put was cut off or failed: nothing of it is kept. */
  abort(): Promise<void>;
}

/** A person who reviews the quarantine: the grounds of their access (purpose import). */
export interface ReviewActor {
  grounds: AccessGrounds;
  user: { id: string; name: string };
}

/** The PACS an import goes to: its AE title, and how instances get there, filed under the local patient by BSN. */
export interface PacsImport {
  destination: string;
  /** Resolves once every instance is in or has failed, with how many failed. */
  send(instances: readonly ReleasedInstance[], fileAs: { bsn: string }): Promise<{ failed: number }>;
}

export interface QuarantineOptions {
  store: UploadStore;
  /** The quarantine's own study store, behind its own access layer: uploads never reach the hospital's studies. */
  patientData: PatientData;
  /** Where arriving files are kept, encrypted, until they are complete. */
  incomingDir: string;
  /** The node's key; each incoming file's key is derived from it. */
  nodeKey: Buffer;
  maxUploadBytes: number;
  zipLimits?: ZipLimits;
  logger: Logger;
  /** This node's name: the access point of the quarantine's own records. */
  node: string;
  now?: () => number;
}

/** A held study as staff review it: what it is (as uploaded), who sent it and when, and what was decided. */
export interface QuarantineView extends QuarantinedStudy {
  study: SharedStudy | null;
}

/**
 * The quarantine: files uploaded by a share's recipient arrive resumably (tus), encrypted, and once complete are taken
 * in (DICOM checked, zips checked for bombs and path escapes) into a study store of their own. Staff review each
 * study and import it into the PACS under the local patient (by BSN), or reject it; either way the copy goes.
 */
export class Quarantine {
  readonly #o: QuarantineOptions;
  readonly #now: () => number;
  /** Appends in progress, per upload: a second PATCH while one runs is refused, not interleaved. */
  readonly #busy = new Set<string>();
  /** Uploads being taken in, by id; stop() waits for them. */
  readonly #intakes = new Map<string, Promise<Upload>>();
  /** Aborted at stop(): an intake stops between files and is taken up again at the next start. */
  readonly #stopping = new AbortController();

  constructor(o: QuarantineOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  get maxUploadBytes(): number {
    return this.#o.maxUploadBytes;
  }

  /**
   * Makes the incoming folder (0700), removes files in it whose upload is no longer known (a crash between file and
   * record), and goes on taking in the uploads a stop or a crash interrupted (those already stored count as duplicates).
   */
  async start(): Promise<void> {
    await mkdir(this.#o.incomingDir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.#o.incomingDir)) {
      if ((await this.#o.store.getUpload(name)) === undefined)
        await rm(join(this.#o.incomingDir, name), { force: true });
    }
    for (const { upload, grounds } of await this.#o.store.uploadsChecking()) {
      this.#o.logger.info({ uploadId: upload.uploadId }, 'quarantine: taking in an upload interrupted before');
      await this.#check({ uploader: upload.uploader, grounds }, upload, this.#file(upload.uploadId));
    }
  }

  /** Stops taking uploads in (between two files) and waits for that; the next start goes on with them. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.settled();
  }

  /** Resolves once no upload is being taken in. */
  async settled(): Promise<void> {
    await Promise.allSettled(this.#intakes.values());
  }

  /** A new upload of `size` bytes (tus creation); nothing is stored until its last byte arrives. */
  async create(by: UploadActor, o: { fileName: string; size: number }): Promise<Upload> {
    if (o.size > this.#o.maxUploadBytes)
      throw new BeeldbrugError(
        'UPLOAD_TOO_LARGE',
        `${o.fileName} has ${o.size} bytes; this node takes at most ${this.#o.maxUploadBytes} per file`,
      );
    const upload: Upload = {
      uploadId: randomUUID(),
      uploader: by.uploader,
      fileName: o.fileName,
      size: o.size,
      state: 'receiving',
      createdAt: new Date(this.#now()).toISOString(),
      result: null,
      problem: null,
    };
    await this.#file(upload.uploadId).create();
    await this.#o.store.insertUpload(upload);
    return upload;
  }

  /** How far an upload of this uploader has come (tus HEAD); another uploader's upload is not found. */
  async progress(by: UploadActor, uploadId: string): Promise<{ upload: Upload; offset: number }> {
    const upload = await this.#uploadOf(by, uploadId);
    const offset = upload.state === 'receiving' ? await this.#file(uploadId).size() : upload.size;
    return { upload, offset };
  }

  /**
   * Appends the bytes of a PATCH at `offset` (which must be where the upload stands); once the last byte is in, the
   * file is taken in before this resolves. Answers the new offset and, when complete, the upload as taken in.
   */
  async append(
    by: UploadActor,
    uploadId: string,
    offset: number,
    body: Readable,
  ): Promise<{ offset: number; upload: Upload }> {
    const { upload, offset: at } = await this.progress(by, uploadId);
    if (upload.state !== 'receiving' || offset !== at || this.#busy.has(uploadId))
      throw new BeeldbrugError('UPLOAD_OFFSET_CONFLICT', `the upload stands at ${at}, not ${offset}`, {
        members: { offset: at },
      });
    this.#busy.add(uploadId);
    try {
      const file = this.#file(uploadId);
      // The size the file has now, every byte of it written: no need to ask the file system.
      const now = await file.append(offset, body, upload.size - offset).catch((err: unknown) => {
        // A client that sends more than it announced, or whose connection drops, is told so (or nobody is listening):
        // what arrived is kept, and a HEAD says where to go on from.
        throw new BeeldbrugError(
          'REQUEST_INVALID',
          err instanceof RangeError
            ? `more bytes than the ${upload.size} announced`
            : 'the upload was cut off; ask where it stands (HEAD) and go on from there',
          { cause: err },
        );
      });
      if (now < upload.size) return { offset: now, upload };
      // The browser's page shows what came of the file once this answers.
      return { offset: now, upload: await (await this.#check(by, upload, file)).taken };
    } finally {
      this.#busy.delete(uploadId);
    }
  }

  /**
   * A whole file whose size is known only when it ends (an SFTP client's put), taken piece by piece: kept encrypted as
   * it arrives, capped at the largest upload, and once it ends made durable and looked at (a DICOM file, or a zip with
   * a sound directory). `end()` answers then, with the upload being taken in or refused: its instances are stored
   * after, as an SFTP client gives up on a close that goes unanswered for 15 or 20 seconds (WinSCP, FileZilla), which
   * storing a DVD's worth takes. A put that fails or is cut off leaves nothing behind: there is no resuming, the client
   * sends the file again.
   */
  async receive(by: UploadActor, fileName: string): Promise<IncomingUpload> {
    const uploadId = randomUUID();
    const file = this.#file(uploadId);
    await file.create();
    const writer = file.writer(0, this.#o.maxUploadBytes);
    const max = this.#o.maxUploadBytes;
    return {
      write(piece) {
        try {
          return writer.write(piece);
        } catch (err) {
          if (!(err instanceof RangeError)) throw err;
          throw new BeeldbrugError(
            'UPLOAD_TOO_LARGE',
            `${fileName} is larger than the ${max} bytes this node takes per file`,
          );
        }
      },
      abort: async () => {
        await writer.end().catch(() => undefined);
        await file.remove();
      },
      end: async () => {
        try {
          await writer.end();
        } catch (err) {
          await file.remove();
          throw err;
        }
        const upload: Upload = {
          uploadId,
          uploader: by.uploader,
          fileName,
          size: writer.size,
          state: 'checking',
          createdAt: new Date(this.#now()).toISOString(),
          result: null,
          problem: null,
        };
        // Recorded complete at once: one commit for each of a CD's thousands of files, not two.
        await this.#o.store.insertUpload(upload, by.grounds);
        return (await this.#check(by, upload, file)).upload;
      },
    };
  }

  /** The uploads of one uploader, newest first, with what came of each. */
  async uploadsOf(by: UploadActor): Promise<Upload[]> {
    return this.#o.store.uploadsOf(by.uploader.id);
  }

  /** The studies waiting for a person (and those on their way into the PACS), each shown recorded as read. */
  async held(by: ReviewActor): Promise<QuarantineView[]> {
    const studies = await this.#o.store.studies({ states: ['held', 'importing', 'failed'] });
    const access = this.#o.patientData.open(by.grounds);
    const views: QuarantineView[] = [];
    for (const q of studies) {
      try {
        const [study] = await access.sharedStudies(
          [q.studyInstanceUid],
          'uploaded study shown for review',
          q.uploader.shareId,
        );
        views.push({ ...q, study: study ?? null });
      } catch (err) {
        // A copy gone (purged by retention) while its bookkeeping stays: shown as empty rather than failing the list.
        if (err instanceof BeeldbrugError && err.code === 'NOT_FOUND') views.push({ ...q, study: null });
        else throw err;
      }
    }
    return views;
  }

  /**
   * Imports a held study into the PACS, filed under the local patient with this BSN (the person checked it against
   * what was uploaded): its instances go through `forward`; when all are in, the quarantine's copy is removed.
   */
  async import(
    by: ReviewActor,
    studyInstanceUid: string,
    fileAs: { bsn: string },
    pacs: PacsImport | undefined,
  ): Promise<NonNullable<QuarantinedStudy['decision']>> {
    if (pacs === undefined)
      throw new BeeldbrugError('PACS_NOT_CONFIGURED', 'no PACS to import into: configure a forward destination');
    const held = await this.#heldStudy(studyInstanceUid);
    const decision = {
      by: by.user,
      at: new Date(this.#now()).toISOString(),
      bsn: fileAs.bsn,
      destination: pacs.destination,
    };
    if (!(await this.#o.store.decide(studyInstanceUid, ['held', 'failed'], 'importing', decision)))
      throw new BeeldbrugError('NOT_FOUND', 'this study is no longer held: someone else decided first');
    const access = this.#o.patientData.open(by.grounds);
    const instances = await access.releaseStudy(studyInstanceUid, undefined, objectsOf(held.uploader));
    // The person's decision is recorded before anything leaves: an acceptance the trail cannot hold imports nothing.
    await access.record({
      action: 'import',
      outcome: 'success',
      description: `uploaded study accepted for import into ${pacs.destination} as BSN ${fileAs.bsn}`,
      patient: { bsn: fileAs.bsn },
      objects: objectsOf(held.uploader, studyInstanceUid),
    });
    void pacs.send(instances, fileAs).then(
      (s) => this.#imported(access, held, s.failed, decision),
      (err: unknown) => this.#o.logger.error({ err, studyInstanceUid }, 'quarantine: the import failed'),
    );
    return decision;
  }

  /** Rejects a held study: its copy is removed, and the reason kept. */
  async reject(by: ReviewActor, studyInstanceUid: string, reason: string): Promise<void> {
    const held = await this.#heldStudy(studyInstanceUid);
    const decision = { by: by.user, at: new Date(this.#now()).toISOString(), reason };
    if (!(await this.#o.store.decide(studyInstanceUid, ['held', 'failed'], 'rejected', decision)))
      throw new BeeldbrugError('NOT_FOUND', 'this study is no longer held: someone else decided first');
    const access = this.#o.patientData.open(by.grounds);
    const instances = await access.releaseStudy(studyInstanceUid, undefined, objectsOf(held.uploader));
    const bsn = instances[0]?.stored.patient.bsn ?? null;
    await access.record({
      action: 'import',
      outcome: 'failure',
      description: `uploaded study rejected: ${reason}`,
      ...(bsn !== null ? { patient: { bsn } } : {}),
      objects: objectsOf(held.uploader, studyInstanceUid),
    });
    await this.#purge(
      instances.map((i) => i.stored.instance.sopInstanceUid),
      `from quarantine, uploaded by ${held.uploader.name}, rejected: ${reason}`,
      by.user,
    );
  }

  /** Retention: uploads older than `cutoff` go (bookkeeping and any file never completed), and held copies with them. */
  async purgeBefore(cutoff: Date): Promise<number> {
    const iso = cutoff.toISOString();
    const stale = (await this.#o.store.studies({ states: ['held', 'failed'] })).filter((s) => s.receivedAt < iso);
    for (const s of stale) {
      await this.#o.store.decide(s.studyInstanceUid, ['held', 'failed'], 'rejected', {
        by: { id: 'system:retention', name: 'retention' },
        at: new Date(this.#now()).toISOString(),
        reason: 'not reviewed within the retention period',
      });
    }
    const task = this.#o.patientData.openForTask('retention', 'retention', 'retention', 'node task');
    await task.purgeReceivedBefore(cutoff, () => `from quarantine, not reviewed within the retention period`);
    for (const uploadId of await this.#o.store.removeBefore(iso)) await this.#file(uploadId).remove();
    return stale.length;
  }

  /**
   * Looks at a complete upload (durable by now) and starts taking it in: answers the upload as being taken in, or as
   * refused when it is no DICOM file or an unsafe zip, and `taken` for when it is done.
   */
  async #check(
    by: UploadActor,
    upload: Upload,
    file: IncomingFile,
  ): Promise<{ upload: Upload; taken: Promise<Upload> }> {
    let inspected: Inspected;
    try {
      inspected = await inspect(file, upload.size, upload.fileName, this.#o.zipLimits ?? DEFAULT_ZIP_LIMITS);
    } catch (err) {
      const refused = await this.#failed(by, upload, file, err);
      return { upload: refused, taken: Promise.resolve(refused) };
    }
    if (upload.state !== 'checking') await this.#o.store.checkUpload(upload.uploadId, by.grounds);
    const checking: Upload = { ...upload, state: 'checking' };
    const taken = this.#takeIn(by, checking, file, inspected);
    this.#intakes.set(upload.uploadId, taken);
    void taken.finally(() => this.#intakes.delete(upload.uploadId));
    return { upload: checking, taken };
  }

  async #takeIn(by: UploadActor, upload: Upload, file: IncomingFile, inspected: Inspected): Promise<Upload> {
    const access = this.#o.patientData.open(by.grounds);
    const receivedAt = new Date(this.#now()).toISOString();
    const recorded = new Set<string>();
    try {
      const result = await inspected.takeIn(async (source) => {
        const stored = await access.ingestPart10Stream(
          source,
          {
            provenance: {
              receivedAt,
              via: 'upload',
              callingAeTitle: null,
              remoteAddress: by.grounds.accessPoint.ip ?? null,
            },
          },
          undefined,
        );
        if (!recorded.has(stored.studyInstanceUid)) {
          recorded.add(stored.studyInstanceUid);
          await access.record({
            action: 'upload',
            outcome: 'success',
            description: `study uploaded by ${by.uploader.name} into quarantine (${upload.fileName})`,
            ...(stored.bsn !== null ? { patient: { bsn: stored.bsn } } : {}),
            objects: objectsOf(by.uploader, stored.studyInstanceUid),
          });
          await this.#o.store.holdStudy({
            studyInstanceUid: stored.studyInstanceUid,
            uploader: by.uploader,
            receivedAt,
          });
        }
        return stored;
      }, this.#stopping.signal);
      await this.#o.store.finishUpload(upload.uploadId, { result });
      await file.remove();
      return { ...upload, state: 'done', result };
    } catch (err) {
      if (this.#stopping.signal.aborted) {
        this.#o.logger.info(
          { uploadId: upload.uploadId },
          'quarantine: an upload is taken in further at the next start',
        );
        return upload;
      }
      return this.#failed(by, upload, file, err);
    }
  }

  /**
   * Refused, or the node could not take it in (a full disk): either way the upload ends with a reason, and what it
   * stored before stays in quarantine for staff to see; nothing is left half-open for the client to resume.
   */
  async #failed(by: UploadActor, upload: Upload, file: IncomingFile, err: unknown): Promise<Upload> {
    const refused = err instanceof BeeldbrugError && err.code === 'UPLOAD_REFUSED';
    if (!refused)
      this.#o.logger.error({ err, uploadId: upload.uploadId }, 'quarantine: an upload could not be taken in');
    const problem = refused
      ? { kind: (err.members?.['kind'] ?? 'not-stored') as RefusalKind, detail: err.message }
      : { kind: 'not-stored' as const, detail: 'the node could not take the file in; try again later' };
    await this.#o.patientData.open(by.grounds).record({
      action: 'upload',
      outcome: 'failure',
      description: `upload by ${by.uploader.name} ${refused ? 'refused' : 'failed'}: ${problem.detail}`,
      objects: objectsOf(by.uploader),
    });
    await this.#o.store.finishUpload(upload.uploadId, { problem });
    await file.remove();
    return { ...upload, state: 'refused', problem };
  }

  async #imported(
    access: ReturnType<PatientData['open']>,
    held: QuarantinedStudy,
    failed: number,
    decision: NonNullable<QuarantinedStudy['decision']>,
  ): Promise<void> {
    const uid = held.studyInstanceUid;
    await access.record({
      action: 'import',
      outcome: failed === 0 ? 'success' : 'failure',
      description:
        failed === 0
          ? `uploaded study imported into ${decision.destination ?? 'the PACS'}: all instances in`
          : `uploaded study not wholly imported into ${decision.destination ?? 'the PACS'}: ${failed} instances failed`,
      ...(decision.bsn !== undefined ? { patient: { bsn: decision.bsn } } : {}),
      objects: objectsOf(held.uploader, uid),
    });
    await this.#o.store.decide(uid, ['importing'], failed === 0 ? 'imported' : 'failed', decision);
    if (failed > 0) return;
    const instances = await access.releaseStudy(uid, undefined, objectsOf(held.uploader));
    await this.#purge(
      instances.map((i) => i.stored.instance.sopInstanceUid),
      `from quarantine, imported into ${decision.destination ?? 'the PACS'}`,
      decision.by,
    );
  }

  /** Removes a decided study's copy, in the name of the person whose decision it follows. */
  async #purge(sopInstanceUids: readonly string[], description: string, decidedBy: Uploader | ReviewActor['user']) {
    const task = this.#o.patientData.open({
      kind: 'node-task',
      user: { id: 'system:quarantine', name: 'quarantine' },
      responsibleUser: { id: decidedBy.id, name: decidedBy.name },
      accessPoint: { node: this.#o.node },
      purpose: 'retention',
      authorization: 'decided by a person',
    });
    await task.purgeInstances(sopInstanceUids, () => description);
  }

  async #heldStudy(studyInstanceUid: string): Promise<QuarantinedStudy> {
    const held = await this.#o.store.getStudy(studyInstanceUid);
    if (held === undefined || !['held', 'failed'].includes(held.state))
      throw new BeeldbrugError('NOT_FOUND', 'no such study held in quarantine');
    return held;
  }

  async #uploadOf(by: UploadActor, uploadId: string): Promise<Upload> {
    const upload = /^[0-9a-f-]{36}$/.test(uploadId) ? await this.#o.store.getUpload(uploadId) : undefined;
    if (upload === undefined || upload.uploader.id !== by.uploader.id)
      throw new BeeldbrugError('NOT_FOUND', 'no such upload');
    return upload;
  }

  #file(uploadId: string): IncomingFile {
    return new IncomingFile(join(this.#o.incomingDir, uploadId), this.#o.nodeKey, uploadId);
  }
}
