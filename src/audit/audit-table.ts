import type { Statements } from '../database/index.ts';
import type { Row, UntrustedRow } from './chain-form.ts';
import type { AuditFilter } from './types.ts';

/** A keyed anchor of one record: the head (the newest) or the last record retention pruned. */
export interface Anchor {
  sequence: number;
  hash: string;
  mac: string;
}

/** What a trail reads, on one consistent snapshot. */
export interface AuditReader {
  /** The newest record's sequence and hash, or undefined when the table holds none. */
  newest(): Promise<{ sequence: number; hash: string } | undefined>;
  /** The newest prune anchor, or undefined when retention has pruned nothing. */
  lastPruned(): Promise<Anchor | undefined>;
  /** The stored head anchor, or undefined when nothing was ever appended. */
  head(): Promise<Anchor | undefined>;
  /** The rows with these sequences (fewer when some are missing), as stored. */
  rowsAt(sequences: readonly number[]): Promise<UntrustedRow[]>;
  /** Every row in sequence order, as stored: verify reads them all. */
  rows(): AsyncIterable<UntrustedRow>;
  /** The first sequence at or after `time`, or undefined when every record is older. */
  firstSequenceFrom(time: string): Promise<number | undefined>;
  /** Why the tables cannot be trusted to answer as verify reads them (damaged, replaced by views), or undefined. */
  structureProblem(): Promise<string | undefined>;
}

/** What a trail writes, inside one transaction that no other writer of the trail (process or node) interleaves. */
export interface AuditWriter extends AuditReader {
  append(row: Row): Promise<void>;
  setHead(head: Anchor): Promise<void>;
  /** Adds the prune anchor and removes the records up to and including it. */
  prune(anchor: Anchor & { time: string }): Promise<void>;
}

/**
 * Where a trail's rows are kept: the embedded SQLite file or a PostgreSQL database. The chain (hashing, anchors,
 * witness, verify, retention) is the trail's, written once in chained-audit-trail.ts; a table only stores and returns
 * rows exactly as written, and keeps writers one at a time so the chain stays one strict sequence.
 */
export interface AuditTable {
  write<T>(work: (w: AuditWriter) => Promise<T>): Promise<T>;
  read<T>(work: (r: AuditReader) => Promise<T>): Promise<T>;
  /** Records in sequence order matching the filter, at most `limit`. */
  list(filter: AuditFilter, limit: number): Promise<Row[]>;
  close(): Promise<void>;
}

export const COLUMNS = 'sequence, time, action, bsn, user_id, event_json, hash';

/** The reads and writes that are the same SQL on SQLite and PostgreSQL; each table adds what differs. */
export function sharedOperations(q: Statements): Omit<AuditWriter, 'rowsAt' | 'rows' | 'structureProblem'> {
  return {
    newest: () => q.one('SELECT sequence, hash FROM audit_record ORDER BY sequence DESC LIMIT 1'),
    lastPruned: () => q.one<Anchor>('SELECT sequence, hash, mac FROM audit_pruned ORDER BY sequence DESC LIMIT 1'),
    head: () => q.one<Anchor>('SELECT sequence, hash, mac FROM audit_head'),
    firstSequenceFrom: async (time) =>
      (await q.one<{ s: number | null }>('SELECT MIN(sequence) AS s FROM audit_record WHERE time >= ?', [time]))?.s ??
      undefined,
    append: async (r) => {
      await q.run(`INSERT INTO audit_record (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`, [
        r.sequence,
        r.time,
        r.action,
        r.bsn,
        r.user_id,
        r.event_json,
        r.hash,
      ]);
    },
    setHead: async (h) => {
      await q.run(
        'INSERT INTO audit_head (one, sequence, hash, mac) VALUES (1, ?, ?, ?) ON CONFLICT (one) DO UPDATE SET sequence = excluded.sequence, hash = excluded.hash, mac = excluded.mac',
        [h.sequence, h.hash, h.mac],
      );
    },
    prune: async (a) => {
      await q.run('INSERT INTO audit_pruned (sequence, hash, mac, time) VALUES (?, ?, ?, ?)', [
        a.sequence,
        a.hash,
        a.mac,
        a.time,
      ]);
      await q.run('DELETE FROM audit_record WHERE sequence <= ?', [a.sequence]);
    },
  };
}

/** The records a filter selects, in sequence order, at most `limit`. */
export function listRecords(q: Statements, filter: AuditFilter, limit: number): Promise<Row[]> {
  const conditions: [string, string | number | undefined][] = [
    ['bsn = ?', filter.bsn],
    ['user_id = ?', filter.userId],
    ['action = ?', filter.action],
    ['time >= ?', filter.since],
    ['time < ?', filter.until],
    ['sequence > ?', filter.afterSequence],
  ];
  const given = conditions.flatMap(([condition, value]) => (value === undefined ? [] : [{ condition, value }]));
  const where = given.length > 0 ? `WHERE ${given.map((g) => g.condition).join(' AND ')}` : '';
  return q.all<Row>(
    `SELECT ${COLUMNS} FROM audit_record ${where} ORDER BY sequence LIMIT ${limit}`,
    given.map((g) => g.value),
  );
}
