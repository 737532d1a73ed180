import { createHmac } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { chainHash, firstFormChainHash, GENESIS, isRow, type Row, type UntrustedRow } from './chain-form.ts';
import { readWitness, writeWitness, type HeadWitness, type WitnessRead } from './head-witness.ts';
import type { AuditEvent, AuditFilter, AuditRecord, AuditTrail, AuditVerification } from './types.ts';

interface Anchor {
  sequence: number;
  hash: string;
  mac: string;
}

export interface SqliteAuditTrailOptions {
  /**
   * The node's audit key (32 bytes). The chain is keyed (HMAC-SHA-256): whoever can write the database file but does
   * not hold the key cannot recompute the chain after an edit.
   */
  key: Buffer;
  /** This node's organization (URA): the organization of a user recorded without one, i.e. our own staff and systems. */
  organizationUra?: string;
  /**
   * Where the keyed witness of the trail's head is kept, apart from this file (see head-witness.ts). Without it,
   * records cut off the end together with the head anchor inside the file, or a swapped file, go unseen.
   */
  witnessFile?: string;
  now?: () => Date;
}

/**
 * The embedded audit trail: an append-only SQLite table in its own file, each record chained to the one before by
 * HMAC-SHA-256, committed durably before record() returns. A keyed anchor of the newest record (the head) catches
 * records removed from the end, and a keyed anchor of the last pruned record lets retention remove the oldest records
 * without breaking verification. BSN, user and action are columns of their own so an auditor (or the patient) can
 * filter without reading the whole log; the chain hashes the stored text of every column, so what is hashed is what
 * list() returns and what its filters compare. A witness of the head outside the file (witnessFile) catches records
 * cut off the end and a swapped or emptied file; a trail that does not reach its witness refuses to record.
 */
export class SqliteAuditTrail implements AuditTrail {
  readonly #db: DatabaseSync;
  readonly #key: Buffer;
  readonly #now: () => Date;
  readonly #organizationUra: string | undefined;
  readonly #witnessFile: string | undefined;
  /** Why this trail must not record (it does not reach its witness), found when it was opened. */
  #witnessProblem: string | undefined;
  /** The newest record appended in the open transaction: the witness names it once the transaction commits. */
  #appended: HeadWitness | undefined;

  constructor(path: string, o: SqliteAuditTrailOptions) {
    if (o.key.length < 32) throw new RangeError('the audit key must be at least 32 bytes');
    this.#key = o.key;
    this.#now = o.now ?? (() => new Date());
    this.#organizationUra = o.organizationUra;
    this.#witnessFile = o.witnessFile;
    this.#db = new DatabaseSync(path);
    this.#db.exec('PRAGMA journal_mode = WAL');
    this.#db.exec('PRAGMA synchronous = FULL');
    this.#db.exec('PRAGMA busy_timeout = 5000');
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS audit_record (
        sequence INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        action TEXT NOT NULL,
        bsn TEXT,
        user_id TEXT NOT NULL,
        event_json TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS audit_by_bsn ON audit_record (bsn, sequence);
      CREATE INDEX IF NOT EXISTS audit_by_user ON audit_record (user_id, sequence);
      CREATE INDEX IF NOT EXISTS audit_by_time ON audit_record (time);
      CREATE TABLE IF NOT EXISTS audit_head (one INTEGER PRIMARY KEY CHECK (one = 1), sequence INTEGER NOT NULL, hash TEXT NOT NULL, mac TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS audit_pruned (sequence INTEGER PRIMARY KEY, hash TEXT NOT NULL, mac TEXT NOT NULL, time TEXT NOT NULL);
      CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_record BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
      CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_record
        WHEN OLD.sequence > COALESCE((SELECT MAX(sequence) FROM audit_pruned), 0)
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only; only records past their retention are pruned'); END;
      CREATE TRIGGER IF NOT EXISTS audit_pruned_no_update BEFORE UPDATE ON audit_pruned BEGIN SELECT RAISE(ABORT, 'prune anchors are append-only'); END;
      CREATE TRIGGER IF NOT EXISTS audit_pruned_no_delete BEFORE DELETE ON audit_pruned BEGIN SELECT RAISE(ABORT, 'prune anchors are append-only'); END;`);
    try {
      this.#witnessProblem = this.#checkWitnessAtOpen();
    } catch (err) {
      this.#db.close();
      throw err;
    }
  }

  /**
   * Why this trail does not reach its witness (records cut off its end, an emptied or swapped file, a changed or
   * missing witness), or undefined. A cheap check (the witness and two rows), made when the trail is opened; the
   * node refuses to start on it, and record() refuses while it holds. `verify()` checks the whole chain.
   */
  get witnessProblem(): string | undefined {
    return this.#witnessProblem;
  }

  /**
   * The chain's head is read inside the write transaction, not cached: the CLI records into the same file while the
   * node runs, and both must extend the one chain.
   */
  async record(event: AuditEvent): Promise<AuditRecord> {
    this.#refuseIfBroken();
    return this.#transaction(() => this.#append(this.#complete(event)));
  }

  async recordAll(events: readonly AuditEvent[]): Promise<AuditRecord[]> {
    if (events.length === 0) return [];
    this.#refuseIfBroken();
    return this.#transaction(() => events.map((e) => this.#append(this.#complete(e))));
  }

  /** A user without an organization is one of ours (our own staff and systems), unless an outsider. */
  #complete(event: AuditEvent): AuditEvent {
    const ours = this.#organizationUra;
    return event.user.organizationUra === undefined && event.user.outsider !== true && ours !== undefined
      ? { ...event, user: { ...event.user, organizationUra: ours } }
      : event;
  }

  async list(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    const conditions: [string, string | number | undefined][] = [
      ['bsn = ?', filter.bsn],
      ['user_id = ?', filter.userId],
      ['action = ?', filter.action],
      ['time >= ?', filter.since],
      ['time < ?', filter.until],
      ['sequence > ?', filter.afterSequence],
    ];
    const given = conditions.flatMap(([condition, value]) => (value === undefined ? [] : [{ condition, value }]));
    const where = given.map((g) => g.condition);
    const params = given.map((g) => g.value);
    const limit = Math.min(Math.max(filter.limit ?? 1000, 1), 100_000);
    const rows = this.#db
      .prepare(
        `SELECT sequence, time, event_json, hash FROM audit_record ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY sequence LIMIT ${limit}`,
      )
      .all(...params) as unknown as Row[];
    return rows.map((r) => ({
      ...(JSON.parse(r.event_json) as AuditEvent),
      sequence: r.sequence,
      time: r.time,
      hash: r.hash,
    }));
  }

  /**
   * Checks every row of the table (a row a reader can list is a row verify checks): sequences contiguous from 1, or
   * from the last pruned record + 1; each row's stored columns chained under the key; the search columns equal to the
   * content; the head anchor in the file; and the witness outside it, so a trail cut short or emptied is not intact.
   */
  async verify(): Promise<AuditVerification> {
    return this.#verify(true);
  }

  /** The newest record's sequence and chain hash, to compare with the audit repository's newest (ATNA export). */
  async newest(): Promise<{ sequence: number; hash: string }> {
    return this.#head();
  }

  /**
   * For an administrator who has established why the trail no longer reaches its witness (a restore from an older
   * backup): if the chain is intact up to its present end, records `event` (which says so) and moves the witness to it.
   */
  async acceptHead(
    event: AuditEvent,
  ): Promise<{ ok: true; sequence: number } | Extract<AuditVerification, { ok: false }>> {
    const v = this.#verify(false);
    if (!v.ok) return v;
    const r = this.#transaction(() => this.#append(this.#complete(event)));
    this.#witnessProblem = undefined;
    return { ok: true, sequence: r.sequence };
  }

  /**
   * The witness is read first and the file in one read transaction after it: the witness is written after each commit,
   * so a node or CLI command appending meanwhile makes the file longer than the witness, never shorter.
   */
  #verify(withWitness: boolean): AuditVerification {
    const witness =
      withWitness && this.#witnessFile !== undefined ? readWitness(this.#witnessFile, this.#key) : undefined;
    this.#db.exec('BEGIN');
    try {
      return this.#verifyIn(witness);
    } finally {
      this.#db.exec('COMMIT');
    }
  }

  #verifyIn(witness: WitnessRead | undefined): AuditVerification {
    const integrity = (this.#db.prepare('PRAGMA integrity_check').all() as { integrity_check: string }[]).map(
      (r) => r.integrity_check,
    );
    if (integrity.join() !== 'ok')
      return {
        ok: false,
        records: 0,
        firstBadSequence: 1,
        problem: `the audit file is damaged or its indexes were edited (${integrity.slice(0, 3).join('; ')})`,
      };
    // A view in the place of a table could answer a filtered query otherwise than the full scan below.
    const tables = this.#db
      .prepare(
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('audit_record', 'audit_head', 'audit_pruned')",
      )
      .get() as { n: number };
    if (tables.n !== 3)
      return {
        ok: false,
        records: 0,
        firstBadSequence: 1,
        problem: 'the audit tables were replaced (by views, or removed)',
      };
    const pruned = this.#db
      .prepare('SELECT sequence, hash, mac FROM audit_pruned ORDER BY sequence DESC LIMIT 1')
      .get() as Anchor | undefined;
    let previous = GENESIS;
    let expected = 1;
    let records = 0;
    if (pruned !== undefined) {
      if (this.#mac('pruned', pruned) !== pruned.mac)
        return { ok: false, records, firstBadSequence: 1, problem: 'the record of what retention pruned was changed' };
      previous = pruned.hash;
      expected = pruned.sequence + 1;
    }
    const witnessed = witness?.state === 'present' ? witness.witness : undefined;
    let witnessedHash =
      witnessed === undefined
        ? undefined
        : witnessed.sequence === 0
          ? GENESIS
          : witnessed.sequence === pruned?.sequence
            ? pruned.hash
            : undefined;
    // Records written before the stored bytes were hashed verify in the older form, but only before the first record
    // of the current form: an attacker cannot turn the chain back to the weaker check.
    let current = false;
    const rows = this.#db
      .prepare('SELECT sequence, time, action, bsn, user_id, event_json, hash FROM audit_record ORDER BY sequence')
      .iterate();
    for (const r of rows as IterableIterator<UntrustedRow>) {
      records += 1;
      if (!isRow(r))
        return {
          ok: false,
          records,
          firstBadSequence: typeof r.sequence === 'number' ? r.sequence : expected,
          problem: 'the record is not readable (a column holds the wrong type)',
        };
      if (r.sequence < expected)
        return {
          ok: false,
          records,
          firstBadSequence: r.sequence,
          problem: `a record numbered ${r.sequence} was added before the first record of the chain (${expected})`,
        };
      if (r.sequence > expected)
        return { ok: false, records, firstBadSequence: expected, problem: `record ${expected} is missing` };
      let event: AuditEvent;
      try {
        event = JSON.parse(r.event_json) as AuditEvent;
      } catch {
        return { ok: false, records, firstBadSequence: r.sequence, problem: 'the record is not readable' };
      }
      if (chainHash(this.#key, previous, r) === r.hash) {
        current = true;
      } else if (
        current ||
        JSON.stringify(event) !== r.event_json ||
        firstFormChainHash(this.#key, previous, r.sequence, r.time, event) !== r.hash
      ) {
        return {
          ok: false,
          records,
          firstBadSequence: r.sequence,
          problem: 'the record was changed, or the one before it was',
        };
      }
      if (
        typeof event !== 'object' ||
        event === null ||
        r.action !== event.action ||
        r.bsn !== (event.patient?.bsn ?? null) ||
        r.user_id !== event.user?.id
      ) {
        return {
          ok: false,
          records,
          firstBadSequence: r.sequence,
          problem: "the record's search columns (action, BSN, user) differ from its content",
        };
      }
      if (r.sequence === witnessed?.sequence) witnessedHash = r.hash;
      previous = r.hash;
      expected += 1;
    }
    const last = expected - 1;
    if (witness !== undefined && witness.state !== 'present' && (witness.state === 'unreadable' || current)) {
      return {
        ok: false,
        records,
        firstBadSequence: last + 1,
        problem: `the witness of the newest record (${this.#witnessFile}) ${witness.state === 'missing' ? 'is missing' : witness.problem}; records after ${last} may have been removed`,
      };
    }
    if (witnessed !== undefined) {
      if (witnessed.sequence > last) {
        return {
          ok: false,
          records,
          firstBadSequence: last + 1,
          problem: `records ${last + 1} to ${witnessed.sequence} are missing: the witness written ${witnessed.time} names record ${witnessed.sequence}, the trail ends at ${last}`,
        };
      }
      if (witnessedHash !== undefined && witnessedHash !== witnessed.hash) {
        return {
          ok: false,
          records,
          firstBadSequence: witnessed.sequence,
          problem: `record ${witnessed.sequence} is not the one the witness written ${witnessed.time} names (the file was swapped or its end replaced)`,
        };
      }
    }
    const head = this.#db.prepare('SELECT sequence, hash, mac FROM audit_head').get() as Anchor | undefined;
    if (head === undefined) {
      return last === 0 && pruned === undefined
        ? { ok: true, records }
        : { ok: false, records, firstBadSequence: expected, problem: "the chain's head anchor is missing" };
    }
    if (this.#mac('head', head) !== head.mac) {
      return {
        ok: false,
        records,
        firstBadSequence: expected,
        problem: "the chain's head anchor was changed (records after the last one present may have been removed)",
      };
    }
    if (head.sequence > last)
      return {
        ok: false,
        records,
        firstBadSequence: last + 1,
        problem: `record ${last + 1} is missing (the head anchor names ${head.sequence})`,
      };
    if (head.sequence < last)
      return {
        ok: false,
        records,
        firstBadSequence: head.sequence + 1,
        problem: 'records were added after the head anchor',
      };
    if (head.hash !== previous)
      return {
        ok: false,
        records,
        firstBadSequence: last,
        problem: 'the newest record is not the one the head anchor names',
      };
    return { ok: true, records };
  }

  async prune(before: Date, description: string): Promise<number> {
    this.#refuseIfBroken();
    return this.#transaction(() => {
      const firstKept = this.#db
        .prepare('SELECT MIN(sequence) AS s FROM audit_record WHERE time >= ?')
        .get(before.toISOString()) as { s: number | null };
      const newest = this.#db.prepare('SELECT MAX(sequence) AS s FROM audit_record').get() as { s: number | null };
      const through = firstKept.s !== null ? firstKept.s - 1 : (newest.s ?? 0);
      const already =
        (this.#db.prepare('SELECT MAX(sequence) AS s FROM audit_pruned').get() as { s: number | null }).s ?? 0;
      if (through <= already) return 0;
      const row = this.#db.prepare('SELECT hash FROM audit_record WHERE sequence = ?').get(through) as
        { hash: string } | undefined;
      if (row === undefined) throw new Error(`audit record ${through} is missing; run \`beeldbrug audit verify\``);
      const anchor = { sequence: through, hash: row.hash };
      this.#db
        .prepare('INSERT INTO audit_pruned (sequence, hash, mac, time) VALUES (?, ?, ?, ?)')
        .run(through, row.hash, this.#mac('pruned', anchor), this.#now().toISOString());
      this.#db.prepare('DELETE FROM audit_record WHERE sequence <= ?').run(through);
      this.#append({
        action: 'purge',
        outcome: 'success',
        description: `${description}: audit records ${already + 1} to ${through}, older than ${before.toISOString()}`,
        user: { id: 'system:retention', name: 'retention job' },
        accessPoint: { node: 'audit' },
        objects: {},
        grounds: { purpose: 'retention' },
      });
      return through - already;
    });
  }

  async close(): Promise<void> {
    this.#db.close();
  }

  #append(event: AuditEvent): AuditRecord {
    const before = this.#head();
    const sequence = before.sequence + 1;
    const time = this.#now().toISOString();
    const row: Row = {
      sequence,
      time,
      action: event.action,
      bsn: event.patient?.bsn ?? null,
      user_id: event.user.id,
      event_json: JSON.stringify(event),
      hash: '',
    };
    const hash = chainHash(this.#key, before.hash, row);
    this.#db
      .prepare(
        'INSERT INTO audit_record (sequence, time, action, bsn, user_id, event_json, hash) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(sequence, time, row.action, row.bsn, row.user_id, row.event_json, hash);
    const head = { sequence, hash };
    this.#db
      .prepare(
        'INSERT INTO audit_head (one, sequence, hash, mac) VALUES (1, ?, ?, ?) ON CONFLICT (one) DO UPDATE SET sequence = excluded.sequence, hash = excluded.hash, mac = excluded.mac',
      )
      .run(sequence, hash, this.#mac('head', head));
    this.#appended = { sequence, hash, time };
    return { ...event, sequence, time, hash };
  }

  /** The newest record, or the last pruned one when retention removed all, or the genesis (sequence 0). */
  #head(): { sequence: number; hash: string } {
    const last = this.#db.prepare('SELECT sequence, hash FROM audit_record ORDER BY sequence DESC LIMIT 1').get() as
      { sequence: number; hash: string } | undefined;
    const pruned =
      last === undefined
        ? (this.#db.prepare('SELECT sequence, hash FROM audit_pruned ORDER BY sequence DESC LIMIT 1').get() as
            { sequence: number; hash: string } | undefined)
        : undefined;
    return last ?? pruned ?? { sequence: 0, hash: GENESIS };
  }

  /**
   * Compares the witness with the trail's head. A missing witness is written (a new node, or a trail from before
   * witnesses) unless the newest record is of the current chain form, which is only ever written with a witness.
   */
  #checkWitnessAtOpen(): string | undefined {
    if (this.#witnessFile === undefined) return undefined;
    const read = readWitness(this.#witnessFile, this.#key);
    const head = this.#head();
    if (read.state === 'unreadable')
      return `the witness of the newest audit record (${this.#witnessFile}) ${read.problem}`;
    if (read.state === 'missing') {
      if (this.#headIsCurrentForm(head))
        return `the witness of the newest audit record (${this.#witnessFile}) is missing; records after ${head.sequence} may have been removed`;
      writeWitness(this.#witnessFile, this.#key, { ...head, time: this.#now().toISOString() });
      return undefined;
    }
    const w = read.witness;
    if (w.sequence > head.sequence)
      return `the audit trail ends at record ${head.sequence}, but its witness written ${w.time} names record ${w.sequence}: records were removed or the file was replaced`;
    const at =
      w.sequence === head.sequence
        ? head
        : (this.#db.prepare('SELECT hash FROM audit_record WHERE sequence = ?').get(w.sequence) as
            { hash: string } | undefined);
    if (at !== undefined && at.hash !== w.hash)
      return `audit record ${w.sequence} is not the one its witness written ${w.time} names: the file was replaced`;
    return undefined;
  }

  #headIsCurrentForm(head: { sequence: number; hash: string }): boolean {
    if (head.sequence === 0) return false;
    const rows = this.#db
      .prepare(
        'SELECT sequence, time, action, bsn, user_id, event_json, hash FROM audit_record WHERE sequence IN (?, ?)',
      )
      .all(head.sequence - 1, head.sequence) as UntrustedRow[];
    const newest = rows.find((r) => r.sequence === head.sequence);
    if (newest === undefined || !isRow(newest)) return false;
    const before = rows.find((r) => r.sequence === head.sequence - 1);
    const pruned = this.#db.prepare('SELECT hash FROM audit_pruned WHERE sequence = ?').get(head.sequence - 1) as
      { hash: string } | undefined;
    const previous = before !== undefined && isRow(before) ? before.hash : (pruned?.hash ?? GENESIS);
    return chainHash(this.#key, previous, newest) === newest.hash;
  }

  #refuseIfBroken(): void {
    if (this.#witnessProblem !== undefined)
      throw new Error(`the audit trail cannot record: ${this.#witnessProblem}; run \`beeldbrug audit verify\``);
  }

  /**
   * Commits, then moves the witness to the newest record appended. The witness is written after the commit so that
   * it is never ahead of the trail; if writing it fails the records stand and the caller is told.
   */
  #transaction<T>(work: () => T): T {
    this.#appended = undefined;
    this.#db.exec('BEGIN IMMEDIATE');
    let result: T;
    try {
      result = work();
      this.#db.exec('COMMIT');
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw err;
    }
    const appended = this.#appended;
    if (appended !== undefined && this.#witnessFile !== undefined) writeWitness(this.#witnessFile, this.#key, appended);
    return result;
  }

  #mac(kind: 'head' | 'pruned', a: { sequence: number; hash: string }): string {
    return createHmac('sha256', this.#key).update(`${kind}\u0000${a.sequence}\u0000${a.hash}`).digest('hex');
  }
}
