import {
  addMissingColumns,
  openPostgresStore,
  openSqliteStore,
  type PostgresPool,
  type SqlDatabase,
} from '../../database/index.ts';
import type { AccessGrounds } from '../../studies/index.ts';
import type { RefusalKind } from './intake.ts';

/** Who sent an upload: a share's recipient (later also a partner account), as staff see it in the quarantine. */
export interface Uploader {
  /** The audit trail's user id: `share:<id>` for a share's recipient, the account's id for a partner. */
  id: string;
  name: string;
  /** The share whose recipient uploads; absent for a partner's account. */
  shareId?: string;
}

/** What taking in a complete file came to: instances stored in quarantine, and files left out with the reason. */
export interface IntakeResult {
  stored: number;
  duplicates: number;
  studies: string[];
  /** Left out (not DICOM, a DICOMDIR, a viewer on a CD): the first ones by name, and how many in all. */
  skipped: { name: string; reason: string }[];
  skippedCount: number;
}

/**
 * receiving: bytes still coming; checking: all there, kept durably and looked at, its instances being stored; done:
 * taken in (see result); refused: the whole file refused (problem says why).
 */
export type UploadState = 'receiving' | 'checking' | 'done' | 'refused';

export interface Upload {
  uploadId: string;
  uploader: Uploader;
  fileName: string;
  /** Announced by the client (tus Upload-Length). */
  size: number;
  state: UploadState;
  createdAt: string;
  result: IntakeResult | null;
  /** Why the whole file was refused: a kind the uploader's page words in their language, and the details. */
  problem: { kind: RefusalKind; detail: string } | null;
}

/** held: waiting for a person; importing: on its way into the PACS; imported; rejected (and purged); failed. */
export type QuarantinedState = 'held' | 'importing' | 'imported' | 'rejected' | 'failed';

/** A study in quarantine: who uploaded it and when, and what a person decided. */
export interface QuarantinedStudy {
  studyInstanceUid: string;
  uploader: Uploader;
  receivedAt: string;
  state: QuarantinedState;
  decision: {
    by: { id: string; name: string };
    at: string;
    bsn?: string;
    destination?: string;
    reason?: string;
  } | null;
}

/**
 * The quarantine's bookkeeping: uploads as they arrive (tus), and the studies they brought, until a person imports or
 * rejects them: in the embedded `quarantine/uploads.sqlite`, or on the PostgreSQL server beside the quarantine's index.
 */
export interface UploadStore {
  /** A new upload; one that arrives complete ('checking') comes with its uploader's grounds (see checkUpload). */
  insertUpload(u: Upload, grounds?: AccessGrounds): Promise<void>;
  getUpload(uploadId: string): Promise<Upload | undefined>;
  /** The uploads of one sender (what their page lists), newest first. */
  uploadsOf(uploaderId: string): Promise<Upload[]>;
  /**
   * Marks a complete upload as being taken in, with the grounds its uploader had: a node that stops before it is done
   * takes it in with those at its next start.
   */
  checkUpload(uploadId: string, grounds: AccessGrounds): Promise<void>;
  /** The uploads being taken in, oldest first, with their uploader's grounds. */
  uploadsChecking(): Promise<{ upload: Upload; grounds: AccessGrounds }[]>;
  finishUpload(
    uploadId: string,
    outcome: { result: IntakeResult } | { problem: NonNullable<Upload['problem']> },
  ): Promise<void>;
  /** Records that an upload brought this study (the first upload that did stays its sender). */
  holdStudy(s: { studyInstanceUid: string; uploader: Uploader; receivedAt: string }): Promise<void>;
  studies(o?: { states?: readonly QuarantinedState[] }): Promise<QuarantinedStudy[]>;
  getStudy(studyInstanceUid: string): Promise<QuarantinedStudy | undefined>;
  /** Moves a study from one state to another; false when it was not in `from` (someone else decided first). */
  decide(
    studyInstanceUid: string,
    from: readonly QuarantinedState[],
    to: QuarantinedState,
    decision: QuarantinedStudy['decision'],
  ): Promise<boolean>;
  /** Uploads and decided studies older than `cutoff`, removed (retention): answers the upload ids removed. */
  removeBefore(cutoff: string): Promise<string[]>;
  close(): Promise<void>;
}

interface UploadRow {
  upload_id: string;
  uploader_json: string;
  file_name: string;
  size: number;
  state: UploadState;
  created_at: string;
  result_json: string | null;
  problem: string | null;
  grounds_json: string | null;
}

interface StudyRow {
  study_instance_uid: string;
  uploader_json: string;
  received_at: string;
  state: QuarantinedState;
  decision_json: string | null;
}

const uploadOf = (r: UploadRow): Upload => ({
  uploadId: r.upload_id,
  uploader: JSON.parse(r.uploader_json) as Uploader,
  fileName: r.file_name,
  size: r.size,
  state: r.state,
  createdAt: r.created_at,
  result: r.result_json !== null ? (JSON.parse(r.result_json) as IntakeResult) : null,
  problem: r.problem !== null ? (JSON.parse(r.problem) as Upload['problem']) : null,
});

const studyOf = (r: StudyRow): QuarantinedStudy => ({
  studyInstanceUid: r.study_instance_uid,
  uploader: JSON.parse(r.uploader_json) as Uploader,
  receivedAt: r.received_at,
  state: r.state,
  decision: r.decision_json !== null ? (JSON.parse(r.decision_json) as QuarantinedStudy['decision']) : null,
});

/** The tables, as a new database gets them (PostgreSQL's first migration; an embedded file's first open). */
const TABLES = `
  CREATE TABLE IF NOT EXISTS upload (
    upload_id TEXT PRIMARY KEY,
    uploader_id TEXT NOT NULL,
    uploader_json TEXT NOT NULL,
    file_name TEXT NOT NULL,
    size BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    result_json TEXT,
    problem TEXT,
    grounds_json TEXT
  );
  CREATE INDEX IF NOT EXISTS upload_by_uploader ON upload (uploader_id, created_at);
  CREATE TABLE IF NOT EXISTS quarantined_study (
    study_instance_uid TEXT PRIMARY KEY,
    uploader_json TEXT NOT NULL,
    received_at TEXT NOT NULL,
    state TEXT NOT NULL,
    decision_json TEXT
  );`;

/** PostgreSQL's schema, each migration applied once. */
const POSTGRES_MIGRATIONS = [TABLES];

/** The embedded upload store: `<dataDir>/quarantine/uploads.sqlite`, made or brought up to date. */
export function openSqliteUploadStore(path: string): UploadStore {
  return new SqlUploadStore(
    openSqliteStore(path, (db) => {
      db.exec(TABLES);
      // Added with uploads taken in again after a restart; files from before have none waiting.
      addMissingColumns(db, 'upload', ['grounds_json TEXT']);
    }),
  );
}

/** The uploads on PostgreSQL (a pool in the quarantine's schema), migrated; `ownsPool`: closing ends the pool. */
export async function openPostgresUploadStore(
  pool: PostgresPool,
  o: { ownsPool: boolean; schema?: string },
): Promise<UploadStore> {
  return new SqlUploadStore(await openPostgresStore(pool, 'uploads', POSTGRES_MIGRATIONS, o));
}

/** The upload store on either database: one SQL for both, each change durable when it answers. */
class SqlUploadStore implements UploadStore {
  readonly #db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  async insertUpload(u: Upload, grounds?: AccessGrounds): Promise<void> {
    await this.#db.write((q) =>
      q.run(
        `INSERT INTO upload (upload_id, uploader_id, uploader_json, file_name, size, state, created_at, grounds_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          u.uploadId,
          u.uploader.id,
          JSON.stringify(u.uploader),
          u.fileName,
          u.size,
          u.state,
          u.createdAt,
          grounds !== undefined ? JSON.stringify(grounds) : null,
        ],
      ),
    );
  }

  async getUpload(uploadId: string): Promise<Upload | undefined> {
    const r = await this.#db.read((q) => q.one<UploadRow>('SELECT * FROM upload WHERE upload_id = ?', [uploadId]));
    return r !== undefined ? uploadOf(r) : undefined;
  }

  async uploadsOf(uploaderId: string): Promise<Upload[]> {
    const rows = await this.#db.read((q) =>
      q.all<UploadRow>('SELECT * FROM upload WHERE uploader_id = ? ORDER BY created_at DESC, upload_id LIMIT 1000', [
        uploaderId,
      ]),
    );
    return rows.map(uploadOf);
  }

  async checkUpload(uploadId: string, grounds: AccessGrounds): Promise<void> {
    await this.#db.write((q) =>
      q.run("UPDATE upload SET state = 'checking', grounds_json = ? WHERE upload_id = ?", [
        JSON.stringify(grounds),
        uploadId,
      ]),
    );
  }

  async uploadsChecking(): Promise<{ upload: Upload; grounds: AccessGrounds }[]> {
    const rows = await this.#db.read((q) =>
      q.all<UploadRow>("SELECT * FROM upload WHERE state = 'checking' ORDER BY created_at, upload_id"),
    );
    return rows.map((r) => ({ upload: uploadOf(r), grounds: JSON.parse(r.grounds_json ?? '{}') as AccessGrounds }));
  }

  async finishUpload(
    uploadId: string,
    outcome: { result: IntakeResult } | { problem: NonNullable<Upload['problem']> },
  ): Promise<void> {
    await this.#db.write((q) =>
      'result' in outcome
        ? q.run("UPDATE upload SET state = 'done', result_json = ?, grounds_json = NULL WHERE upload_id = ?", [
            JSON.stringify(outcome.result),
            uploadId,
          ])
        : q.run("UPDATE upload SET state = 'refused', problem = ?, grounds_json = NULL WHERE upload_id = ?", [
            JSON.stringify(outcome.problem),
            uploadId,
          ]),
    );
  }

  async holdStudy(s: { studyInstanceUid: string; uploader: Uploader; receivedAt: string }): Promise<void> {
    // A study rejected or imported before and uploaded again is held again, for a person to look at anew.
    await this.#db.write((q) =>
      q.run(
        `INSERT INTO quarantined_study (study_instance_uid, uploader_json, received_at, state) VALUES (?, ?, ?, 'held')
         ON CONFLICT (study_instance_uid) DO UPDATE SET state = 'held', decision_json = NULL, received_at = excluded.received_at
         WHERE quarantined_study.state IN ('rejected', 'imported', 'failed')`,
        [s.studyInstanceUid, JSON.stringify(s.uploader), s.receivedAt],
      ),
    );
  }

  async studies(o: { states?: readonly QuarantinedState[] } = {}): Promise<QuarantinedStudy[]> {
    const states = o.states ?? [];
    const rows = await this.#db.read((q) =>
      states.length === 0
        ? q.all<StudyRow>('SELECT * FROM quarantined_study ORDER BY received_at DESC LIMIT 1000')
        : q.all<StudyRow>(
            `SELECT * FROM quarantined_study WHERE state IN (${states.map(() => '?').join(', ')})
               ORDER BY received_at DESC LIMIT 1000`,
            states,
          ),
    );
    return rows.map(studyOf);
  }

  async getStudy(studyInstanceUid: string): Promise<QuarantinedStudy | undefined> {
    const r = await this.#db.read((q) =>
      q.one<StudyRow>('SELECT * FROM quarantined_study WHERE study_instance_uid = ?', [studyInstanceUid]),
    );
    return r !== undefined ? studyOf(r) : undefined;
  }

  async decide(
    studyInstanceUid: string,
    from: readonly QuarantinedState[],
    to: QuarantinedState,
    decision: QuarantinedStudy['decision'],
  ): Promise<boolean> {
    const changed = await this.#db.write((q) =>
      q.run(
        `UPDATE quarantined_study SET state = ?, decision_json = ?
         WHERE study_instance_uid = ? AND state IN (${from.map(() => '?').join(', ')})`,
        [to, decision !== null ? JSON.stringify(decision) : null, studyInstanceUid, ...from],
      ),
    );
    return changed === 1;
  }

  async removeBefore(cutoff: string): Promise<string[]> {
    return this.#db.write(async (q) => {
      const uploads = await q.all<{ upload_id: string }>(
        'DELETE FROM upload WHERE created_at < ? RETURNING upload_id',
        [cutoff],
      );
      await q.run("DELETE FROM quarantined_study WHERE received_at < ? AND state IN ('imported', 'rejected')", [
        cutoff,
      ]);
      return uploads.map((u) => u.upload_id);
    });
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}
