import { createHash } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import type { AuditAction, AuditEvent, AuditRecord, AuditTrail, AuditVerification } from './types.ts';

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

function hashOf(previous: string, sequence: number, time: string, event: AuditEvent): string {
  return createHash('sha256').update(previous).update(canonical({ sequence, time, event })).digest('hex');
}

interface Row {
  sequence: number;
  time: string;
  event_json: string;
  hash: string;
}

/**
 * The embedded audit trail: an append-only SQLite table in its own file, each record chained to the one before by
 * SHA-256, committed durably before record() returns. The BSN is kept in a column of its own so an auditor (or the
 * patient) can find every access to one patient without reading the whole log.
 */
export class SqliteAuditTrail implements AuditTrail {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(path: string, now: () => Date = () => new Date()) {
    this.#db = new DatabaseSync(path);
    this.#now = now;
    this.#db.exec('PRAGMA journal_mode = WAL');
    this.#db.exec('PRAGMA synchronous = FULL');
    this.#db.exec('PRAGMA busy_timeout = 5000');
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS audit_record (
        sequence INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        action TEXT NOT NULL,
        bsn TEXT,
        event_json TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS audit_by_bsn ON audit_record (bsn, sequence);
      CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_record BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
      CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_record BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;`);
  }

  /**
   * The chain's head is read inside the write transaction, not cached: the CLI records into the same file while the
   * node runs, and both must extend the one chain.
   */
  record(event: AuditEvent): AuditRecord {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const last = this.#db.prepare('SELECT sequence, hash FROM audit_record ORDER BY sequence DESC LIMIT 1').get() as { sequence: number; hash: string } | undefined;
      const sequence = (last?.sequence ?? 0) + 1;
      const time = this.#now().toISOString();
      const hash = hashOf(last?.hash ?? GENESIS, sequence, time, event);
      this.#db
        .prepare('INSERT INTO audit_record (sequence, time, action, bsn, event_json, hash) VALUES (?, ?, ?, ?, ?, ?)')
        .run(sequence, time, event.action, event.patient?.bsn ?? null, JSON.stringify(event), hash);
      this.#db.exec('COMMIT');
      return { ...event, sequence, time, hash };
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  list(filter: { bsn?: string; action?: AuditAction; since?: string; until?: string; limit?: number } = {}): AuditRecord[] {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.bsn !== undefined) (where.push('bsn = ?'), params.push(filter.bsn));
    if (filter.action !== undefined) (where.push('action = ?'), params.push(filter.action));
    if (filter.since !== undefined) (where.push('time >= ?'), params.push(filter.since));
    if (filter.until !== undefined) (where.push('time < ?'), params.push(filter.until));
    const limit = Math.min(Math.max(filter.limit ?? 1000, 1), 100_000);
    const rows = this.#db
      .prepare(`SELECT sequence, time, event_json, hash FROM audit_record ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY sequence LIMIT ${limit}`)
      .all(...params) as unknown as Row[];
    return rows.map((r) => ({ ...(JSON.parse(r.event_json) as AuditEvent), sequence: r.sequence, time: r.time, hash: r.hash }));
  }

  /** Recomputes the chain from the first record and names the first one that does not follow from its predecessor. */
  verify(): AuditVerification {
    let previous = GENESIS;
    let expected = 1;
    let records = 0;
    for (const r of this.#db.prepare('SELECT sequence, time, event_json, hash FROM audit_record ORDER BY sequence').iterate() as IterableIterator<Row>) {
      records += 1;
      if (r.sequence !== expected) return { ok: false, records, firstBadSequence: expected, problem: `record ${expected} is missing` };
      let event: AuditEvent;
      try {
        event = JSON.parse(r.event_json) as AuditEvent;
      } catch {
        return { ok: false, records, firstBadSequence: r.sequence, problem: 'the record is not readable' };
      }
      if (hashOf(previous, r.sequence, r.time, event) !== r.hash) {
        return { ok: false, records, firstBadSequence: r.sequence, problem: 'the record was changed, or the one before it was' };
      }
      previous = r.hash;
      expected += 1;
    }
    return { ok: true, records };
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}
