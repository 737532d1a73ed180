import type { DeidOptions } from '../deid/index.ts';
import {
  addMissingColumns,
  openPostgresStore,
  openSqliteStore,
  type PostgresPool,
  type SqlDatabase,
  type SqlValue,
} from '../database/index.ts';

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
 * The shares of this node: in the embedded `share.sqlite` or on the PostgreSQL server the node's records are on.
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
  close(): Promise<void>;
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

/** The tables, as a new database gets them (PostgreSQL's first migration; an embedded file's first open). */
const TABLES = `
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
    allow_upload INTEGER NOT NULL DEFAULT 0,
    partner_account_id TEXT
  );
  CREATE TABLE IF NOT EXISTS share_session (
    token_hash TEXT PRIMARY KEY,
    share_id TEXT NOT NULL REFERENCES share (share_id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL
  );`;

/** Made after the columns they cover, which an older embedded file gets first. */
const INDEXES = `
  CREATE INDEX IF NOT EXISTS share_expiry ON share (expires_at);
  CREATE INDEX IF NOT EXISTS share_by_partner ON share (partner_account_id);
  CREATE INDEX IF NOT EXISTS share_session_by_share ON share_session (share_id);`;

/** PostgreSQL's schema, each migration applied once. */
const POSTGRES_MIGRATIONS = [TABLES + INDEXES];

/** The embedded share store: `<dataDir>/share.sqlite`, made or brought up to date; each change durable when it answers. */
export function openSqliteShareStore(path: string): ShareStore {
  const sql = openSqliteStore(
    path,
    (db) => {
      db.exec(TABLES);
      // Shares made before de-identification and uploads were offered were shared as they are, without uploads. The
      // partner's account got a column of its own (it was read from the recipient's JSON) to be found the same way on
      // both databases.
      addMissingColumns(db, 'share', [
        'deidentify_json TEXT',
        'allow_upload INTEGER NOT NULL DEFAULT 0',
        'partner_account_id TEXT',
      ]);
      db.exec(`UPDATE share SET partner_account_id = json_extract(recipient_json, '$.partner.accountId')
               WHERE partner_account_id IS NULL AND json_extract(recipient_json, '$.partner.accountId') IS NOT NULL`);
      db.exec(INDEXES);
    },
    { foreignKeys: true },
  );
  return new SqlShareStore(sql);
}

/** The shares on PostgreSQL, migrated to the newest schema; `ownsPool`: closing the store ends the pool. */
export async function openPostgresShareStore(pool: PostgresPool, o: { ownsPool: boolean }): Promise<ShareStore> {
  return new SqlShareStore(await openPostgresStore(pool, 'shares', POSTGRES_MIGRATIONS, o));
}

/** The share store on either database: one SQL for both. */
class SqlShareStore implements ShareStore {
  readonly #db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  async insert(s: Share, tokenHash: string): Promise<void> {
    await this.#db.write((q) =>
      q.run(
        `INSERT INTO share (share_id, token_hash, studies_json, recipient_json, patient_json, patient_name, created_by_json,
           created_at, expires_at, max_opens, deidentify_json, allow_upload, partner_account_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
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
          s.recipient.partner?.accountId ?? null,
        ],
      ),
    );
  }

  async remove(shareId: string): Promise<void> {
    await this.#db.write((q) => q.run('DELETE FROM share WHERE share_id = ?', [shareId]));
  }

  async get(shareId: string): Promise<Share | undefined> {
    return this.#one('SELECT * FROM share WHERE share_id = ?', [shareId]);
  }

  async byTokenHash(tokenHash: string): Promise<Share | undefined> {
    return this.#one('SELECT * FROM share WHERE token_hash = ?', [tokenHash]);
  }

  async list(o: { limit?: number } = {}): Promise<Share[]> {
    return this.#all('SELECT * FROM share ORDER BY created_at DESC, share_id LIMIT ?', [o.limit ?? 500]);
  }

  async ofPartner(accountId: string): Promise<Share[]> {
    return this.#all('SELECT * FROM share WHERE partner_account_id = ? ORDER BY created_at DESC, share_id', [
      accountId,
    ]);
  }

  async setCode(shareId: string, code: StoredCode): Promise<void> {
    await this.#db.write((q) =>
      q.run('UPDATE share SET code_hash = ?, code_expires_at = ? WHERE share_id = ?', [
        code.codeHash,
        code.expiresAt,
        shareId,
      ]),
    );
  }

  async codeOf(shareId: string): Promise<StoredCode | undefined> {
    const r = await this.#db.read((q) =>
      q.one<{ code_hash: string | null; code_expires_at: string | null }>(
        'SELECT code_hash, code_expires_at FROM share WHERE share_id = ?',
        [shareId],
      ),
    );
    return r?.code_hash != null && r.code_expires_at !== null
      ? { codeHash: r.code_hash, expiresAt: r.code_expires_at }
      : undefined;
  }

  async wrongCode(shareId: string, lockAfter: number, now: string): Promise<number> {
    // Counted in the statement that reads the count: wrong codes at the same moment all count.
    const r = await this.#db.write((q) =>
      q.one<{ wrong_codes: number }>(
        `UPDATE share SET wrong_codes = wrong_codes + 1,
           locked_at = CASE WHEN wrong_codes + 1 >= ? THEN coalesce(locked_at, ?) ELSE locked_at END,
           code_hash = CASE WHEN wrong_codes + 1 >= ? THEN NULL ELSE code_hash END
         WHERE share_id = ? RETURNING wrong_codes`,
        [lockAfter, now, lockAfter, shareId],
      ),
    );
    return r?.wrong_codes ?? 0;
  }

  async opened(shareId: string, session: { tokenHash: string; expiresAt: string }): Promise<void> {
    await this.#db.write(async (q) => {
      await q.run(
        'UPDATE share SET opens = opens + 1, wrong_codes = 0, code_hash = NULL, code_expires_at = NULL WHERE share_id = ?',
        [shareId],
      );
      await q.run('INSERT INTO share_session (token_hash, share_id, expires_at) VALUES (?, ?, ?)', [
        session.tokenHash,
        shareId,
        session.expiresAt,
      ]);
    });
  }

  async session(tokenHash: string): Promise<{ shareId: string; expiresAt: string } | undefined> {
    const r = await this.#db.read((q) =>
      q.one<{ share_id: string; expires_at: string }>(
        'SELECT share_id, expires_at FROM share_session WHERE token_hash = ?',
        [tokenHash],
      ),
    );
    return r !== undefined ? { shareId: r.share_id, expiresAt: r.expires_at } : undefined;
  }

  async endSession(tokenHash: string): Promise<void> {
    await this.#db.write((q) => q.run('DELETE FROM share_session WHERE token_hash = ?', [tokenHash]));
  }

  async downloaded(shareId: string): Promise<void> {
    await this.#db.write((q) => q.run('UPDATE share SET downloads = downloads + 1 WHERE share_id = ?', [shareId]));
  }

  async revoke(shareId: string, by: { id: string; name: string }, at: string): Promise<void> {
    await this.#db.write(async (q) => {
      await q.run(
        'UPDATE share SET revoked_at = coalesce(revoked_at, ?), revoked_by_json = coalesce(revoked_by_json, ?), code_hash = NULL WHERE share_id = ?',
        [at, JSON.stringify(by), shareId],
      );
      await q.run('DELETE FROM share_session WHERE share_id = ?', [shareId]);
    });
  }

  async endedBefore(cutoff: string): Promise<Share[]> {
    return this.#all('SELECT * FROM share WHERE expires_at < ? OR revoked_at < ? ORDER BY created_at', [
      cutoff,
      cutoff,
    ]);
  }

  async notEndedAt(now: string): Promise<Share[]> {
    return this.#all('SELECT * FROM share WHERE revoked_at IS NULL AND expires_at > ?', [now]);
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  async #one(sql: string, params: readonly SqlValue[]): Promise<Share | undefined> {
    const r = await this.#db.read((q) => q.one<Row>(sql, params));
    return r !== undefined ? shareOf(r) : undefined;
  }

  async #all(sql: string, params: readonly SqlValue[]): Promise<Share[]> {
    return (await this.#db.read((q) => q.all<Row>(sql, params))).map(shareOf);
  }
}
