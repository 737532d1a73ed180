import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { ConsentRecord, ConsentTerms, DataCategory, Location, NewConsent, OrganizationType, RegistryStore } from './types.ts';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS locations (
    pseudonym BLOB NOT NULL,
    ura TEXT NOT NULL,
    category TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    PRIMARY KEY (pseudonym, ura, category)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS consents (
    id INTEGER PRIMARY KEY,
    pseudonym BLOB NOT NULL,
    status TEXT NOT NULL,
    decision TEXT NOT NULL,
    category TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    actor_ura TEXT,
    actor_type TEXT,
    period_start INTEGER NOT NULL,
    period_end INTEGER,
    recorded_at INTEGER NOT NULL,
    recorded_by_ura TEXT NOT NULL,
    recorded_by_id TEXT NOT NULL,
    recorded_by_name TEXT NOT NULL,
    channel TEXT NOT NULL,
    revoked_at INTEGER
  );
  -- Covers what a release decision reads, in id order, so the hot path never touches the consent rows themselves.
  CREATE INDEX IF NOT EXISTS consents_terms ON consents (pseudonym, id, status, decision, category, actor_role, actor_ura, actor_type, period_start, period_end, revoked_at);
  DROP INDEX IF EXISTS consents_pseudonym;
`;

interface ConsentRow {
  id: number;
  pseudonym: Uint8Array;
  status: string;
  decision: string;
  category: string;
  actor_role: string;
  actor_ura: string | null;
  actor_type: string | null;
  period_start: number;
  period_end: number | null;
  recorded_at: number;
  recorded_by_ura: string;
  recorded_by_id: string;
  recorded_by_name: string;
  channel: string;
  revoked_at: number | null;
}

/** The columns a release decision reads; the hot path selects only these. */
const TERMS_COLUMNS = 'id, status, decision, category, actor_role, actor_ura, actor_type, period_start, period_end, revoked_at';
type TermsRow = Pick<ConsentRow, 'id' | 'status' | 'decision' | 'category' | 'actor_role' | 'actor_ura' | 'actor_type' | 'period_start' | 'period_end' | 'revoked_at'>;

function termsOf(r: TermsRow): ConsentTerms {
  return {
    id: r.id,
    status: r.status as ConsentRecord['status'],
    decision: r.decision as ConsentRecord['decision'],
    category: r.category as DataCategory,
    actor: {
      role: r.actor_role as ConsentRecord['actor']['role'],
      organization: r.actor_ura !== null ? { ura: r.actor_ura } : { type: r.actor_type as OrganizationType },
    },
    period: { start: r.period_start, ...(r.period_end !== null ? { end: r.period_end } : {}) },
    ...(r.revoked_at !== null ? { revokedAt: r.revoked_at } : {}),
  };
}

function consentOf(r: ConsentRow): ConsentRecord {
  return {
    ...termsOf(r),
    pseudonym: Buffer.from(r.pseudonym),
    recordedAt: r.recorded_at,
    recordedBy: { ura: r.recorded_by_ura, id: r.recorded_by_id, name: r.recorded_by_name },
    channel: r.channel as ConsentRecord['channel'],
  };
}

function consentParams(c: NewConsent): (string | number | Buffer | null)[] {
  const who = c.actor.organization;
  return [
    c.pseudonym,
    c.decision,
    c.category,
    c.actor.role,
    'ura' in who ? who.ura : null,
    'type' in who ? who.type : null,
    c.period.start,
    c.period.end ?? null,
    c.recordedAt,
    c.recordedBy.ura,
    c.recordedBy.id,
    c.recordedBy.name,
    c.channel,
  ];
}

/**
 * The embedded registry store: one SQLite file (WAL). Localizations are a table clustered on the pseudonym, so "where
 * is this patient known" is one index range read; consents are indexed by pseudonym. The database holds pseudonyms,
 * organization numbers and consent terms, never a BSN or a name of a patient.
 */
export class SqliteRegistryStore implements RegistryStore {
  readonly #db: DatabaseSync;
  readonly #insertLocation: StatementSync;
  readonly #deleteLocation: StatementSync;
  readonly #locations: StatementSync;
  readonly #insertConsent: StatementSync;
  readonly #loadConsent: StatementSync;
  readonly #consents: StatementSync;
  readonly #consentTerms: StatementSync;
  readonly #consent: StatementSync;
  readonly #revoke: StatementSync;

  constructor(path: string, o: { cacheMb?: number } = {}) {
    this.#db = new DatabaseSync(path);
    // First, so that processes opening a new file together (registry workers) wait for each other's schema.
    this.#db.exec('PRAGMA busy_timeout = 5000');
    this.#db.exec('PRAGMA journal_mode = WAL');
    // A registry loses nothing a node cannot register again; NORMAL keeps commits cheap and the file consistent.
    this.#db.exec('PRAGMA synchronous = NORMAL');
    this.#db.exec(`PRAGMA cache_size = ${-1024 * (o.cacheMb ?? 64)}`);
    this.#db.exec(SCHEMA);
    this.#insertLocation = this.#db.prepare('INSERT OR IGNORE INTO locations (pseudonym, ura, category, registered_at) VALUES (?, ?, ?, ?)');
    this.#deleteLocation = this.#db.prepare('DELETE FROM locations WHERE pseudonym = ? AND ura = ? AND category = ?');
    this.#locations = this.#db.prepare('SELECT ura, category, registered_at FROM locations WHERE pseudonym = ?');
    const insertConsent = `INSERT INTO consents (pseudonym, status, decision, category, actor_role, actor_ura, actor_type, period_start, period_end,
         recorded_at, recorded_by_ura, recorded_by_id, recorded_by_name, channel)
       VALUES (?, 'active', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
    this.#insertConsent = this.#db.prepare(`${insertConsent} RETURNING *`);
    this.#loadConsent = this.#db.prepare(insertConsent);
    this.#consents = this.#db.prepare('SELECT * FROM consents WHERE pseudonym = ? ORDER BY id');
    this.#consentTerms = this.#db.prepare(`SELECT ${TERMS_COLUMNS} FROM consents INDEXED BY consents_terms WHERE pseudonym = ? ORDER BY id`);
    this.#consent = this.#db.prepare('SELECT * FROM consents WHERE id = ?');
    this.#revoke = this.#db.prepare("UPDATE consents SET status = 'inactive', revoked_at = coalesce(revoked_at, ?) WHERE id = ? RETURNING *");
  }

  #inTransaction<T>(work: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.#db.exec('COMMIT');
      return result;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  addLocations(entries: readonly { pseudonym: Buffer; ura: string; category: DataCategory }[], at: number): number {
    return this.#inTransaction(() => {
      let added = 0;
      for (const e of entries) added += Number(this.#insertLocation.run(e.pseudonym, e.ura, e.category, at).changes);
      return added;
    });
  }

  removeLocations(entries: readonly { pseudonym: Buffer; ura: string; category: DataCategory }[]): number {
    return this.#inTransaction(() => {
      let removed = 0;
      for (const e of entries) removed += Number(this.#deleteLocation.run(e.pseudonym, e.ura, e.category).changes);
      return removed;
    });
  }

  locationsOf(pseudonym: Buffer): Location[] {
    return (this.#locations.all(pseudonym) as { ura: string; category: string; registered_at: number }[]).map((r) => ({
      ura: r.ura,
      category: r.category as DataCategory,
      registeredAt: r.registered_at,
    }));
  }

  addConsent(c: NewConsent): ConsentRecord {
    return consentOf(this.#insertConsent.get(...consentParams(c)) as unknown as ConsentRow);
  }

  /**
   * Loads the localizations and consents of many patients in one transaction: a first fill or a migration from another
   * index. Given in pseudonym order, rows land at the right edge of the B-trees (the clustered localizations and the
   * consent index), so pages fill once instead of splitting all over the file; any order is correct, only slower.
   * Consents get their ids in the order given; nothing is returned per row, which is what makes it cheaper than
   * `addConsent` one by one.
   */
  load(batch: { locations: readonly { pseudonym: Buffer; ura: string; category: DataCategory }[]; consents: readonly NewConsent[] }, at: number): { locations: number; consents: number } {
    return this.#inTransaction(() => {
      let locations = 0;
      for (const e of batch.locations) locations += Number(this.#insertLocation.run(e.pseudonym, e.ura, e.category, at).changes);
      for (const c of batch.consents) this.#loadConsent.run(...consentParams(c));
      return { locations, consents: batch.consents.length };
    });
  }

  consentsOf(pseudonym: Buffer): ConsentRecord[] {
    return (this.#consents.all(pseudonym) as unknown as ConsentRow[]).map(consentOf);
  }

  consentTermsOf(pseudonym: Buffer): ConsentTerms[] {
    return (this.#consentTerms.all(pseudonym) as unknown as TermsRow[]).map(termsOf);
  }

  consent(id: number): ConsentRecord | undefined {
    const row = this.#consent.get(id) as unknown as ConsentRow | undefined;
    return row !== undefined ? consentOf(row) : undefined;
  }

  revokeConsent(id: number, at: number): ConsentRecord | undefined {
    const row = this.#revoke.get(at, id) as unknown as ConsentRow | undefined;
    return row !== undefined ? consentOf(row) : undefined;
  }

  /**
   * Reads the localizations and the consent terms index through the page cache (a count walks every page), so that the
   * first queries after a start are as fast as the rest; worth it only when the cache holds them. Returns the counts.
   */
  warm(): { locations: number; consents: number } {
    const count = (sql: string): number => Number((this.#db.prepare(sql).get() as { n: number }).n);
    return { locations: count('SELECT count(*) AS n FROM locations'), consents: count('SELECT count(*) AS n FROM consents INDEXED BY consents_terms') };
  }

  close(): void {
    this.#db.close();
  }
}
