import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { inTransaction, openSqliteDatabase } from '../database/index.ts';
import {
  changeOf,
  changeParams,
  consentOf,
  consentParams,
  creatorOf,
  TERMS_COLUMNS,
  termsOf,
  termsParams,
  type ChangeRow,
  type ConsentRow,
  locationOf,
  type LocationRow,
  type TermsRow,
} from './registry-rows.ts';
import type {
  BulkLoad,
  ChangedBy,
  ConsentChange,
  ConsentRecord,
  ConsentTerms,
  ConsentTermsChange,
  Location,
  LocalizationFacts,
  LocationEntry,
  NewConsent,
  RegistryStore,
} from './types.ts';

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
    revoked_at INTEGER,
    public_id TEXT,
    recorded_by_subject TEXT
  );
  -- Who created, changed and revoked each consent; terms is the consent's terms after the change, as JSON.
  CREATE TABLE IF NOT EXISTS consent_changes (
    consent INTEGER NOT NULL REFERENCES consents (id),
    seq INTEGER NOT NULL,
    change TEXT NOT NULL,
    at INTEGER NOT NULL,
    client_ura TEXT NOT NULL,
    client_subject TEXT NOT NULL,
    channel TEXT NOT NULL,
    performer_id TEXT NOT NULL,
    performer_name TEXT NOT NULL,
    terms TEXT NOT NULL,
    PRIMARY KEY (consent, seq)
  ) WITHOUT ROWID;
  -- Covers what a release decision reads, in id order, so the hot path never touches the consent rows themselves.
  CREATE INDEX IF NOT EXISTS consents_terms ON consents (pseudonym, id, status, decision, category, actor_role, actor_ura, actor_type, period_start, period_end, revoked_at);
  DROP INDEX IF EXISTS consents_pseudonym;
`;

/**
 * Before random ids a consent was known by its row number. A file from then gets the two new columns, and its consents
 * keep their number as id, so that "Consent/12" in a node's audit trail still resolves (for its recorder only, as any
 * consent). Runs in one transaction; a second process that opens the file meanwhile waits and then finds it done.
 */
const MIGRATE_TO_RANDOM_IDS = `
  ALTER TABLE consents ADD COLUMN public_id TEXT;
  ALTER TABLE consents ADD COLUMN recorded_by_subject TEXT;
  UPDATE consents SET public_id = CAST(id AS TEXT);
`;

/** A row of the localization question: [0, ...consent terms] or [1, a localization in the same places]. */
type FactRow = [0 | 1, ...(string | number | null)[]];

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
  readonly #facts: StatementSync;
  readonly #consent: StatementSync;
  readonly #consentIdOf: StatementSync;
  readonly #change: StatementSync;
  readonly #revoke: StatementSync;
  readonly #insertChange: StatementSync;
  readonly #history: StatementSync;

  constructor(path: string, o: { cacheMb?: number } = {}) {
    // A registry loses nothing a node cannot register again: commits stay cheap and the file consistent.
    this.#db = openSqliteDatabase(path, { durability: 'normal', cacheMb: o.cacheMb ?? 64 });
    this.#inTransaction(() => {
      const columns = (
        this.#db.prepare("SELECT name FROM pragma_table_info('consents')").all() as { name: string }[]
      ).map((c) => c.name);
      if (columns.length > 0 && !columns.includes('public_id')) this.#db.exec(MIGRATE_TO_RANDOM_IDS);
      this.#db.exec(SCHEMA);
      this.#db.exec('CREATE UNIQUE INDEX IF NOT EXISTS consents_public_id ON consents (public_id)');
    });
    this.#insertLocation = this.#db.prepare(
      'INSERT OR IGNORE INTO locations (pseudonym, ura, category, registered_at) VALUES (?, ?, ?, ?)',
    );
    this.#deleteLocation = this.#db.prepare('DELETE FROM locations WHERE pseudonym = ? AND ura = ? AND category = ?');
    this.#locations = this.#db.prepare('SELECT ura, category, registered_at FROM locations WHERE pseudonym = ?');
    const insertConsent = `INSERT INTO consents (public_id, pseudonym, status, decision, category, actor_role, actor_ura, actor_type, period_start, period_end,
         recorded_at, recorded_by_ura, recorded_by_id, recorded_by_name, recorded_by_subject, channel)
       VALUES (?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
    this.#insertConsent = this.#db.prepare(`${insertConsent} RETURNING *`);
    this.#loadConsent = this.#db.prepare(insertConsent);
    this.#consents = this.#db.prepare('SELECT * FROM consents WHERE pseudonym = ? ORDER BY id');
    this.#consentTerms = this.#db.prepare(
      `SELECT ${TERMS_COLUMNS} FROM consents INDEXED BY consents_terms WHERE pseudonym = ? ORDER BY id`,
    );
    // Both index reads of a localization question in one statement, its rows as arrays: 24 µs a question at 18
    // million patients where two statements returning objects took 40.
    this.#facts = this.#db.prepare(
      `SELECT 0, ${TERMS_COLUMNS} FROM consents INDEXED BY consents_terms WHERE pseudonym = ?1
       UNION ALL SELECT 1, NULL, NULL, NULL, category, NULL, ura, NULL, registered_at, NULL, NULL FROM locations WHERE pseudonym = ?1`,
    );
    this.#facts.setReturnArrays(true);
    this.#consent = this.#db.prepare('SELECT * FROM consents WHERE public_id = ?');
    this.#consentIdOf = this.#db.prepare('SELECT public_id FROM consents WHERE id = ?');
    this.#change = this.#db.prepare(
      "UPDATE consents SET decision = ?, category = ?, actor_role = ?, actor_ura = ?, actor_type = ?, period_start = ?, period_end = ? WHERE public_id = ? AND status = 'active' RETURNING *",
    );
    this.#revoke = this.#db.prepare(
      "UPDATE consents SET status = 'inactive', revoked_at = ? WHERE public_id = ? AND status = 'active' RETURNING *",
    );
    this.#insertChange = this.#db.prepare(
      `INSERT INTO consent_changes (consent, seq, change, at, client_ura, client_subject, channel, performer_id, performer_name, terms)
       VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM consent_changes WHERE consent = ?1), ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#history = this.#db.prepare(
      'SELECT h.change, h.at, h.client_ura, h.client_subject, h.channel, h.performer_id, h.performer_name, h.terms FROM consent_changes h JOIN consents c ON c.id = h.consent WHERE c.public_id = ? ORDER BY h.seq',
    );
  }

  #recordChange(change: ConsentChange['change'], c: ConsentRecord, by: ChangedBy, at: number): void {
    this.#insertChange.run(c.row, ...changeParams(change, c, by, at));
  }

  #inTransaction<T>(work: () => T): T {
    return inTransaction(this.#db, work);
  }

  async addLocations(entries: readonly LocationEntry[], at: number): Promise<number> {
    return this.#inTransaction(() => {
      let added = 0;
      for (const e of entries) added += Number(this.#insertLocation.run(e.pseudonym, e.ura, e.category, at).changes);
      return added;
    });
  }

  async removeLocations(entries: readonly LocationEntry[]): Promise<number> {
    return this.#inTransaction(() => {
      let removed = 0;
      for (const e of entries) removed += Number(this.#deleteLocation.run(e.pseudonym, e.ura, e.category).changes);
      return removed;
    });
  }

  async locationsOf(pseudonym: Buffer): Promise<Location[]> {
    return (this.#locations.all(pseudonym) as unknown as LocationRow[]).map(locationOf);
  }

  async addConsent(c: NewConsent): Promise<ConsentRecord> {
    return this.#inTransaction(() => {
      const added = consentOf(this.#insertConsent.get(...consentParams(c)) as unknown as ConsentRow);
      this.#recordChange('create', added, creatorOf(c), c.recordedAt);
      return added;
    });
  }

  async load(batch: BulkLoad, at: number): Promise<{ locations: number; consents: number }> {
    return this.#inTransaction(() => {
      let locations = 0;
      for (const e of batch.locations)
        locations += Number(this.#insertLocation.run(e.pseudonym, e.ura, e.category, at).changes);
      for (const c of batch.consents) this.#loadConsent.run(...consentParams(c));
      return { locations, consents: batch.consents.length };
    });
  }

  async consentsOf(pseudonym: Buffer): Promise<ConsentRecord[]> {
    return (this.#consents.all(pseudonym) as unknown as ConsentRow[]).map(consentOf);
  }

  async consentTermsOf(pseudonym: Buffer): Promise<ConsentTerms[]> {
    return (this.#consentTerms.all(pseudonym) as unknown as TermsRow[]).map(termsOf);
  }

  async forLocalization(pseudonym: Buffer): Promise<LocalizationFacts> {
    const consents: ConsentTerms[] = [];
    const locations: Location[] = [];
    for (const r of this.#facts.all(pseudonym) as unknown as FactRow[]) {
      if (r[0] === 0) {
        // The columns of TERMS_COLUMNS, in its order, after the row kind: named here once per question, on the hot path.
        const [, id, status, decision, category, actorRole, actorUra, actorType, periodStart, periodEnd, revokedAt] = r;
        consents.push(
          termsOf({
            id: id as number,
            status: status as string,
            decision: decision as string,
            category: category as string,
            actor_role: actorRole as string,
            actor_ura: actorUra as string | null,
            actor_type: actorType as string | null,
            period_start: periodStart as number,
            period_end: periodEnd as number | null,
            revoked_at: revokedAt as number | null,
          }),
        );
      } else locations.push(locationOf({ ura: String(r[6]), category: String(r[4]), registered_at: Number(r[8]) }));
    }
    // Oldest first, as consentTermsOf answers: the permit a decision cites is the first that applies.
    if (consents.length > 1) consents.sort((a, b) => a.row - b.row);
    return { consents, locations };
  }

  async consent(id: string): Promise<ConsentRecord | undefined> {
    const row = this.#consent.get(id) as unknown as ConsentRow | undefined;
    return row !== undefined ? consentOf(row) : undefined;
  }

  async consentIdOf(row: number): Promise<string | undefined> {
    return (this.#consentIdOf.get(row) as { public_id: string } | undefined)?.public_id;
  }

  async changeConsent(
    id: string,
    terms: ConsentTermsChange,
    by: ChangedBy,
    at: number,
  ): Promise<ConsentRecord | undefined> {
    return this.#inTransaction(() => {
      const row = this.#change.get(...termsParams(terms), id) as unknown as ConsentRow | undefined;
      if (row === undefined) return this.consent(id);
      const changed = consentOf(row);
      this.#recordChange('update', changed, by, at);
      return changed;
    });
  }

  async revokeConsent(id: string, at: number, by: ChangedBy): Promise<ConsentRecord | undefined> {
    return this.#inTransaction(() => {
      const row = this.#revoke.get(at, id) as unknown as ConsentRow | undefined;
      // Revoked before: the first revocation stands, and the history keeps it.
      if (row === undefined) return this.consent(id);
      const revoked = consentOf(row);
      this.#recordChange('revoke', revoked, by, at);
      return revoked;
    });
  }

  async consentHistory(id: string): Promise<ConsentChange[]> {
    return (this.#history.all(id) as unknown as ChangeRow[]).map(changeOf);
  }

  /**
   * A count walks every page of the localizations and the consent terms index, through SQLite's page cache. The
   * terms index is counted over a range: a plain count(*) is answered from the table's smallest index (the public
   * ids), whatever INDEXED BY says, and left the index every question reads cold (48 µs a question instead of 15).
   */
  async warm(): Promise<{ locations: number; consents: number }> {
    const count = (sql: string): number => Number((this.#db.prepare(sql).get() as { n: number }).n);
    return {
      locations: count('SELECT count(*) AS n FROM locations'),
      consents: count("SELECT count(*) AS n FROM consents INDEXED BY consents_terms WHERE pseudonym >= x''"),
    };
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
