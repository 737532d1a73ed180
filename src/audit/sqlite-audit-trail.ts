import { createHmac } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import type { AuditEvent, AuditFilter, AuditRecord, AuditTrail, AuditVerification } from './types.ts';

const GENESIS = '0'.repeat(64);

/** The record's content in one fixed form: keys sorted at every level, so the hash does not depend on key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

interface Row {
  sequence: number;
  time: string;
  action: string;
  bsn: string | null;
  user_id: string;
  event_json: string;
  hash: string;
}

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
  now?: () => Date;
}

/**
 * The embedded audit trail: an append-only SQLite table in its own file, each record chained to the one before by
 * HMAC-SHA-256, committed durably before record() returns. A keyed anchor of the newest record (the head) catches
 * records removed from the end, and a keyed anchor of the last pruned record lets retention remove the oldest records
 * without breaking verification. BSN, user and action are columns of their own so an auditor (or the patient) can
 * filter without reading the whole log; verify() checks them against the record's content.
 */
export class SqliteAuditTrail implements AuditTrail {
  readonly #db: DatabaseSync;
  readonly #key: Buffer;
  readonly #now: () => Date;
  readonly #organizationUra: string | undefined;

  constructor(path: string, o: SqliteAuditTrailOptions) {
    if (o.key.length < 32) throw new RangeError('the audit key must be at least 32 bytes');
    this.#key = o.key;
    this.#now = o.now ?? (() => new Date());
    this.#organizationUra = o.organizationUra;
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
  }

  /**
   * The chain's head is read inside the write transaction, not cached: the CLI records into the same file while the
   * node runs, and both must extend the one chain.
   */
  record(event: AuditEvent): AuditRecord {
    return this.#transaction(() => this.#append(this.#complete(event)));
  }

  recordAll(events: readonly AuditEvent[]): AuditRecord[] {
    if (events.length === 0) return [];
    return this.#transaction(() => events.map((e) => this.#append(this.#complete(e))));
  }

  /** A user without an organization is one of ours: our own staff and systems. */
  #complete(event: AuditEvent): AuditEvent {
    const ours = this.#organizationUra;
    return event.user.organizationUra === undefined && ours !== undefined ? { ...event, user: { ...event.user, organizationUra: ours } } : event;
  }

  list(filter: AuditFilter = {}): AuditRecord[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.bsn !== undefined) (where.push('bsn = ?'), params.push(filter.bsn));
    if (filter.userId !== undefined) (where.push('user_id = ?'), params.push(filter.userId));
    if (filter.action !== undefined) (where.push('action = ?'), params.push(filter.action));
    if (filter.since !== undefined) (where.push('time >= ?'), params.push(filter.since));
    if (filter.until !== undefined) (where.push('time < ?'), params.push(filter.until));
    if (filter.afterSequence !== undefined) (where.push('sequence > ?'), params.push(filter.afterSequence));
    const limit = Math.min(Math.max(filter.limit ?? 1000, 1), 100_000);
    const rows = this.#db
      .prepare(`SELECT sequence, time, event_json, hash FROM audit_record ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY sequence LIMIT ${limit}`)
      .all(...params) as unknown as Row[];
    return rows.map((r) => ({ ...(JSON.parse(r.event_json) as AuditEvent), sequence: r.sequence, time: r.time, hash: r.hash }));
  }

  verify(): AuditVerification {
    const pruned = this.#db.prepare('SELECT sequence, hash, mac FROM audit_pruned ORDER BY sequence DESC LIMIT 1').get() as Anchor | undefined;
    let previous = GENESIS;
    let expected = 1;
    let records = 0;
    if (pruned !== undefined) {
      if (this.#mac('pruned', pruned) !== pruned.mac) return { ok: false, records, firstBadSequence: 1, problem: 'the record of what retention pruned was changed' };
      previous = pruned.hash;
      expected = pruned.sequence + 1;
    }
    const rows = this.#db.prepare('SELECT sequence, time, action, bsn, user_id, event_json, hash FROM audit_record WHERE sequence >= ? ORDER BY sequence').iterate(expected);
    for (const r of rows as IterableIterator<Row>) {
      records += 1;
      if (r.sequence !== expected) return { ok: false, records, firstBadSequence: expected, problem: `record ${expected} is missing` };
      let event: AuditEvent;
      try {
        event = JSON.parse(r.event_json) as AuditEvent;
      } catch {
        return { ok: false, records, firstBadSequence: r.sequence, problem: 'the record is not readable' };
      }
      if (this.#chain(previous, r.sequence, r.time, event) !== r.hash) {
        return { ok: false, records, firstBadSequence: r.sequence, problem: 'the record was changed, or the one before it was' };
      }
      if (r.action !== event.action || r.bsn !== (event.patient?.bsn ?? null) || r.user_id !== event.user.id) {
        return { ok: false, records, firstBadSequence: r.sequence, problem: "the record's search columns (action, BSN, user) differ from its content" };
      }
      previous = r.hash;
      expected += 1;
    }
    const last = expected - 1;
    const head = this.#db.prepare('SELECT sequence, hash, mac FROM audit_head').get() as Anchor | undefined;
    if (head === undefined) {
      return last === 0 && pruned === undefined ? { ok: true, records } : { ok: false, records, firstBadSequence: expected, problem: "the chain's head anchor is missing" };
    }
    if (this.#mac('head', head) !== head.mac) {
      return { ok: false, records, firstBadSequence: expected, problem: "the chain's head anchor was changed (records after the last one present may have been removed)" };
    }
    if (head.sequence > last) return { ok: false, records, firstBadSequence: last + 1, problem: `record ${last + 1} is missing (the head anchor names ${head.sequence})` };
    if (head.sequence < last) return { ok: false, records, firstBadSequence: head.sequence + 1, problem: 'records were added after the head anchor' };
    if (head.hash !== previous) return { ok: false, records, firstBadSequence: last, problem: 'the newest record is not the one the head anchor names' };
    return { ok: true, records };
  }

  prune(before: Date, description: string): number {
    return this.#transaction(() => {
      const firstKept = this.#db.prepare('SELECT MIN(sequence) AS s FROM audit_record WHERE time >= ?').get(before.toISOString()) as { s: number | null };
      const newest = this.#db.prepare('SELECT MAX(sequence) AS s FROM audit_record').get() as { s: number | null };
      const through = firstKept.s !== null ? firstKept.s - 1 : (newest.s ?? 0);
      const already = (this.#db.prepare('SELECT MAX(sequence) AS s FROM audit_pruned').get() as { s: number | null }).s ?? 0;
      if (through <= already) return 0;
      const row = this.#db.prepare('SELECT hash FROM audit_record WHERE sequence = ?').get(through) as { hash: string } | undefined;
      if (row === undefined) throw new Error(`audit record ${through} is missing; run \`beeldbrug audit verify\``);
      const anchor = { sequence: through, hash: row.hash };
      this.#db.prepare('INSERT INTO audit_pruned (sequence, hash, mac, time) VALUES (?, ?, ?, ?)').run(through, row.hash, this.#mac('pruned', anchor), this.#now().toISOString());
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

  close(): void {
    this.#db.close();
  }

  #append(event: AuditEvent): AuditRecord {
    const last = this.#db.prepare('SELECT sequence, hash FROM audit_record ORDER BY sequence DESC LIMIT 1').get() as { sequence: number; hash: string } | undefined;
    const pruned = last === undefined ? (this.#db.prepare('SELECT sequence, hash FROM audit_pruned ORDER BY sequence DESC LIMIT 1').get() as { sequence: number; hash: string } | undefined) : undefined;
    const before = last ?? pruned;
    const sequence = (before?.sequence ?? 0) + 1;
    const time = this.#now().toISOString();
    const hash = this.#chain(before?.hash ?? GENESIS, sequence, time, event);
    this.#db
      .prepare('INSERT INTO audit_record (sequence, time, action, bsn, user_id, event_json, hash) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(sequence, time, event.action, event.patient?.bsn ?? null, event.user.id, JSON.stringify(event), hash);
    const head = { sequence, hash };
    this.#db.prepare('INSERT INTO audit_head (one, sequence, hash, mac) VALUES (1, ?, ?, ?) ON CONFLICT (one) DO UPDATE SET sequence = excluded.sequence, hash = excluded.hash, mac = excluded.mac').run(sequence, hash, this.#mac('head', head));
    return { ...event, sequence, time, hash };
  }

  #transaction<T>(work: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.#db.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  #chain(previous: string, sequence: number, time: string, event: AuditEvent): string {
    return createHmac('sha256', this.#key).update(previous).update(canonical({ sequence, time, event })).digest('hex');
  }

  #mac(kind: 'head' | 'pruned', a: { sequence: number; hash: string }): string {
    return createHmac('sha256', this.#key).update(`${kind}\u0000${a.sequence}\u0000${a.hash}`).digest('hex');
  }
}
