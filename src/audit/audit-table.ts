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

/** The filter's conditions as column comparisons, in one order, for either SQL dialect's placeholders. */
export function filterConditions(filter: AuditFilter): { column: string; op: string; value: string | number }[] {
  const conditions: [string, string, string | number | undefined][] = [
    ['bsn', '=', filter.bsn],
    ['user_id', '=', filter.userId],
    ['action', '=', filter.action],
    ['time', '>=', filter.since],
    ['time', '<', filter.until],
    ['sequence', '>', filter.afterSequence],
  ];
  return conditions.flatMap(([column, op, value]) => (value === undefined ? [] : [{ column, op, value }]));
}
