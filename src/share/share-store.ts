import type { DatabaseSync } from 'node:sqlite';
import type { DeidOptions } from '../deid/index.ts';
import { addMissingColumns, inTransaction, openSqliteDatabase } from '../database/index.ts';

/** Who a share is for: the link goes to the e-mail address, the code to the mobile number, and neither opens alone. */
export interface Recipient {
  name: string;
  email: string;
  /** E.164, as the SMS gateway takes it: +31612345678. */
  mobile: string;
  /** The patient themselves (as staff say when sharing): they may also see who accessed their data. */
  isPatient?: boolean;
  /**
   * A partner organization's account: the share appears in its download folder (web and SFTP) instead of a link by
   * e-mail and a code by SMS; `email` and `mobile` are then empty.
   */
  partner?: { accountId: string; organization: string };
}

/** A shared study as staff see it in the list of shares (what it was when shared). */
export interface ShareStudyRef {
  studyInstanceUid: string;
  studyDate: string | null;
  description: string | null;
  modalities: string[];
}

/** A share as the node keeps it; its link token and codes are kept only as hashes (see ShareStore). */
export interface Share {
  shareId: string;
  studies: ShareStudyRef[];
  recipient: Recipient;
  /** Whose studies: what every audit record of the share names. */
  patient: { bsn?: string; patientId?: string };
  /** As staff recognize the patient in the list of shares (DICOM PN). */
  patientName: string | null;
  createdBy: { id: string; name: string };
  createdAt: string;
  expiresAt: string;
  /** How many times the link may be opened with a code. */
  maxOpens: number;
  opens: number;
  downloads: number;
  wrongCodes: number;
  lockedAt: string | null;
  revokedAt: string | null;
  revokedBy: { id: string; name: string } | null;
  /** De-identified for its recipient (PS3.15 Basic Profile with these options), or null: shared as it is. */
  deidentify: DeidOptions | null;
  /** Its recipient may upload files (into quarantine). */
  upload: boolean;
}

/** A one-time code sent by SMS, as kept: its keyed hash, and until when it holds. */
export interface StoredCode {
  codeHash: string;
  expiresAt: string;
}

/**
 * The shares of this node. Promises throughout: the embedded SQLite store answers at once, a PostgreSQL one will not.
 * Nothing here decides; the share service (shares.ts) does, and keeps each change durable before it answers.
 */
export interface ShareStore {
  insert(share: Share, tokenHash: string): Promise<void>;
  /** Removes a share that never reached its recipient (its e-mail could not be sent). */
  remove(shareId: string): Promise<void>;
  get(shareId: string): Promise<Share | undefined>;
  byTokenHash(tokenHash: string): Promise<Share | undefined>;
  /** Newest first. */
  list(o?: { limit?: number }): Promise<Share[]>;
  /** The shares made to a partner account, newest first. */
  ofPartner(accountId: string): Promise<Share[]>;
  /** A new code replaces any earlier one of the share. */
  setCode(shareId: string, code: StoredCode): Promise<void>;
  codeOf(shareId: string): Promise<StoredCode | undefined>;
  /** Counts a wrong code; at `lockAfter` the share locks (at `now`). Answers the count. */
  wrongCode(shareId: string, lockAfter: number, now: string): Promise<number>;
  /** The right code: it is used up, the share counts one more opening, and a recipient session starts. */
  opened(shareId: string, session: { tokenHash: string; expiresAt: string }): Promise<void>;
  session(tokenHash: string): Promise<{ shareId: string; expiresAt: string } | undefined>;
  endSession(tokenHash: string): Promise<void>;
  downloaded(shareId: string): Promise<void>;
  revoke(shareId: string, by: { id: string; name: string }, at: string): Promise<void>;
  /** Shares that ended before `cutoff` (expired, or revoked), for the retention job to purge. */
  endedBefore(cutoff: string): Promise<Share[]>;
  /** Shares not yet ended at `now` (neither expired nor revoked): their studies stay. */
  notEndedAt(now: string): Promise<Share[]>;
  close(): void;
}

interface Row {
  share_id: string;
  studies_json: string;
  recipient_json: string;
  patient_json: string;
  patient_name: string | null;
  created_by_json: string;
  created_at: string;
  expires_at: string;
  max_opens: number;
  opens: number;
  downloads: number;
  wrong_codes: number;
  locked_at: string | null;
  revoked_at: string | null;
  revoked_by_json: string | null;
  deidentify_json: string | null;
  allow_upload: number;
}

function shareOf(r: Row): Share {
  return {
    shareId: r.share_id,
    studies: JSON.parse(r.studies_json) as ShareStudyRef[],
    recipient: JSON.parse(r.recipient_json) as Recipient,
    patient: JSON.parse(r.patient_json) as Share['patient'],
    patientName: r.patient_name,
    createdBy: JSON.parse(r.created_by_json) as Share['createdBy'],
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    maxOpens: r.max_opens,
    opens: r.opens,
    downloads: r.downloads,
    wrongCodes: r.wrong_codes,
    lockedAt: r.locked_at,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by_json !== null ? (JSON.parse(r.revoked_by_json) as Share['revokedBy']) : null,
    deidentify: r.deidentify_json !== null ? (JSON.parse(r.deidentify_json) as DeidOptions) : null,
    upload: r.allow_upload === 1,
  };
}

/** The embedded share store: `<dataDir>/share.sqlite`, each change committed durably before its promise resolves. */
export class SqliteShareStore implements ShareStore {
  readonly #db: DatabaseSync;

  constructor(path: string) {
    this.#db = openSqliteDatabase(path);
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS share (
        share_id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        studies_json TEXT NOT NULL,
        recipient_json TEXT NOT NULL,
        patient_json TEXT NOT NULL,
        patient_name TEXT,
        created_by_json TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        max_opens INTEGER NOT NULL,
        opens INTEGER NOT NULL DEFAULT 0,
        downloads INTEGER NOT NULL DEFAULT 0,
        wrong_codes INTEGER NOT NULL DEFAULT 0,
        locked_at TEXT,
        revoked_at TEXT,
        revoked_by_json TEXT,
        code_hash TEXT,
        code_expires_at TEXT,
        deidentify_json TEXT,
        allow_upload INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE IF NOT EXISTS share_session (
        token_hash TEXT PRIMARY KEY,
        share_id TEXT NOT NULL REFERENCES share (share_id) ON DELETE CASCADE,
        expires_at TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS share_expiry ON share (expires_at);`);
    // Shares made before de-identification and uploads were offered were shared as they are, without uploads.
    addMissingColumns(this.#db, 'share', ['deidentify_json TEXT', 'allow_upload INTEGER NOT NULL DEFAULT 0']);
    this.#db.exec('PRAGMA foreign_keys = ON');
  }

  async insert(s: Share, tokenHash: string): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO share (share_id, token_hash, studies_json, recipient_json, patient_json, patient_name, created_by_json,
           created_at, expires_at, max_opens, deidentify_json, allow_upload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        s.shareId,
        tokenHash,
        JSON.stringify(s.studies),
        JSON.stringify(s.recipient),
        JSON.stringify(s.patient),
        s.patientName,
        JSON.stringify(s.createdBy),
        s.createdAt,
        s.expiresAt,
        s.maxOpens,
        s.deidentify !== null ? JSON.stringify(s.deidentify) : null,
        s.upload ? 1 : 0,
      );
  }

  async remove(shareId: string): Promise<void> {
    this.#db.prepare('DELETE FROM share WHERE share_id = ?').run(shareId);
  }

  async get(shareId: string): Promise<Share | undefined> {
    const r = this.#db.prepare('SELECT * FROM share WHERE share_id = ?').get(shareId) as Row | undefined;
    return r !== undefined ? shareOf(r) : undefined;
  }

  async byTokenHash(tokenHash: string): Promise<Share | undefined> {
    const r = this.#db.prepare('SELECT * FROM share WHERE token_hash = ?').get(tokenHash) as Row | undefined;
    return r !== undefined ? shareOf(r) : undefined;
  }

  async list(o: { limit?: number } = {}): Promise<Share[]> {
    const rows = this.#db
      .prepare('SELECT * FROM share ORDER BY created_at DESC, share_id LIMIT ?')
      .all(o.limit ?? 500) as unknown as Row[];
    return rows.map(shareOf);
  }

  async ofPartner(accountId: string): Promise<Share[]> {
    const rows = this.#db
      .prepare(
        "SELECT * FROM share WHERE json_extract(recipient_json, '$.partner.accountId') = ? ORDER BY created_at DESC, share_id",
      )
      .all(accountId) as unknown as Row[];
    return rows.map(shareOf);
  }

  async setCode(shareId: string, code: StoredCode): Promise<void> {
    this.#db
      .prepare('UPDATE share SET code_hash = ?, code_expires_at = ? WHERE share_id = ?')
      .run(code.codeHash, code.expiresAt, shareId);
  }

  async codeOf(shareId: string): Promise<StoredCode | undefined> {
    const r = this.#db.prepare('SELECT code_hash, code_expires_at FROM share WHERE share_id = ?').get(shareId) as
      { code_hash: string | null; code_expires_at: string | null } | undefined;
    return r?.code_hash != null && r.code_expires_at !== null
      ? { codeHash: r.code_hash, expiresAt: r.code_expires_at }
      : undefined;
  }

  async wrongCode(shareId: string, lockAfter: number, now: string): Promise<number> {
    const r = this.#db
      .prepare(
        `UPDATE share SET wrong_codes = wrong_codes + 1,
           locked_at = CASE WHEN wrong_codes + 1 >= ? THEN coalesce(locked_at, ?) ELSE locked_at END,
           code_hash = CASE WHEN wrong_codes + 1 >= ? THEN NULL ELSE code_hash END
         WHERE share_id = ? RETURNING wrong_codes`,
      )
      .get(lockAfter, now, lockAfter, shareId) as { wrong_codes: number } | undefined;
    return r?.wrong_codes ?? 0;
  }

  async opened(shareId: string, session: { tokenHash: string; expiresAt: string }): Promise<void> {
    inTransaction(this.#db, () => {
      this.#db
        .prepare(
          'UPDATE share SET opens = opens + 1, wrong_codes = 0, code_hash = NULL, code_expires_at = NULL WHERE share_id = ?',
        )
        .run(shareId);
      this.#db
        .prepare('INSERT INTO share_session (token_hash, share_id, expires_at) VALUES (?, ?, ?)')
        .run(session.tokenHash, shareId, session.expiresAt);
    });
  }

  async session(tokenHash: string): Promise<{ shareId: string; expiresAt: string } | undefined> {
    const r = this.#db.prepare('SELECT share_id, expires_at FROM share_session WHERE token_hash = ?').get(tokenHash) as
      { share_id: string; expires_at: string } | undefined;
    return r !== undefined ? { shareId: r.share_id, expiresAt: r.expires_at } : undefined;
  }

  async endSession(tokenHash: string): Promise<void> {
    this.#db.prepare('DELETE FROM share_session WHERE token_hash = ?').run(tokenHash);
  }

  async downloaded(shareId: string): Promise<void> {
    this.#db.prepare('UPDATE share SET downloads = downloads + 1 WHERE share_id = ?').run(shareId);
  }

  async revoke(shareId: string, by: { id: string; name: string }, at: string): Promise<void> {
    inTransaction(this.#db, () => {
      this.#db
        .prepare(
          'UPDATE share SET revoked_at = coalesce(revoked_at, ?), revoked_by_json = coalesce(revoked_by_json, ?), code_hash = NULL WHERE share_id = ?',
        )
        .run(at, JSON.stringify(by), shareId);
      this.#db.prepare('DELETE FROM share_session WHERE share_id = ?').run(shareId);
    });
  }

  async endedBefore(cutoff: string): Promise<Share[]> {
    const rows = this.#db
      .prepare('SELECT * FROM share WHERE expires_at < ? OR revoked_at < ? ORDER BY created_at')
      .all(cutoff, cutoff) as unknown as Row[];
    return rows.map(shareOf);
  }

  async notEndedAt(now: string): Promise<Share[]> {
    const rows = this.#db
      .prepare('SELECT * FROM share WHERE revoked_at IS NULL AND expires_at > ?')
      .all(now) as unknown as Row[];
    return rows.map(shareOf);
  }

  close(): void {
    this.#db.close();
  }
}
