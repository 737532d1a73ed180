import { createHmac } from 'node:crypto';
import type { AuditEvent } from './types.ts';

/**
 * How a record is chained to the one before it. The current form hashes the stored text of every column, exactly as
 * SQLite holds it; the first form (records written before) hashed the parsed content with keys sorted.
 */
export const GENESIS = '0'.repeat(64);
/** Marks the chain form that hashes the stored bytes of every column. */
const CHAIN_V2 = 'beeldbrug-audit-2';

export interface Row {
  sequence: number;
  time: string;
  action: string;
  bsn: string | null;
  user_id: string;
  event_json: string;
  hash: string;
}

/** A row as read from a file someone else may have written: any column can hold any SQLite type. */
export type UntrustedRow = { [K in keyof Row]: unknown };

export function isRow(r: UntrustedRow): r is Row {
  return (
    typeof r.sequence === 'number' &&
    typeof r.time === 'string' &&
    typeof r.action === 'string' &&
    (r.bsn === null || typeof r.bsn === 'string') &&
    typeof r.user_id === 'string' &&
    typeof r.event_json === 'string' &&
    typeof r.hash === 'string'
  );
}

/**
 * HMAC-SHA-256 of the previous record's hash and the stored text of every column, so an edit that keeps the parsed
 * meaning (a duplicate key, other spacing, other key order) still breaks the chain, and what is hashed is what list()
 * returns and its filters compare. A JSON array keeps the fields apart without ambiguity.
 */
export function chainHash(key: Buffer, previous: string, r: Row): string {
  return createHmac('sha256', key)
    .update(JSON.stringify([CHAIN_V2, previous, r.sequence, r.time, r.action, r.bsn, r.user_id, r.event_json]))
    .digest('hex');
}

/** The record's parsed content in one fixed form: keys sorted at every level (the first chain form). */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The first chain form, kept only to verify records written in it. */
export function firstFormChainHash(
  key: Buffer,
  previous: string,
  sequence: number,
  time: string,
  event: AuditEvent,
): string {
  return createHmac('sha256', key).update(previous).update(canonical({ sequence, time, event })).digest('hex');
}
