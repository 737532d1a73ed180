import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import type { SqlDatabase, SqlRow, SqlValue } from './statements.ts';

/** Rows copied per transaction; a batch is also where a stopped copy resumes. */
const BATCH = 1000;
/** Parameters a statement may carry, with room to spare on both databases. */
const MAX_PARAMETERS = 30_000;

export interface TableCopyReport {
  table: string;
  /** Rows the embedded table holds. */
  rows: number;
  /** Of those, copied by this run (the rest were there from an earlier, interrupted run). */
  copied: number;
  /** SHA-256 over every row as read back from the target, in key order. */
  digest: string;
}

/** A table to copy and the columns that identify its rows (its primary key). */
export interface TableToCopy {
  table: string;
  key: readonly string[];
}

/**
 * Copies one table of an embedded SQLite file into the same table on another database, row for row, every column as
 * stored: in batches in the order the rows were written (by key, for a table without rowids), each batch one
 * transaction, a row already there skipped, so an interrupted copy resumes. Verified: each row as the target stored
 * it (returned by the insert, or read back) must equal its source, and the target must hold no rows besides them. Run while the node is
 * stopped.
 */
export async function copyTable(
  sqlitePath: string,
  target: SqlDatabase,
  o: TableToCopy & { onProgress?: (rows: number) => void },
): Promise<TableCopyReport> {
  const { table, key } = o;
  const source = new DatabaseSync(sqlitePath, { readOnly: true });
  try {
    const columns = (source.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
    // A file written before the table was added holds none of its rows.
    if (columns.length === 0) {
      await expectRows(target, table, 0);
      return { table, rows: 0, copied: 0, digest: createHash('sha256').digest('hex') };
    }
    const list = columns.join(', ');
    const walk = walkOf(source, table, key);
    const select = `SELECT ${walk.rowid ? 'rowid AS copy_rowid, ' : ''}${list} FROM ${table}`;
    // As many rows a statement as both databases take parameters for (PostgreSQL: 65,535).
    const batchSize = Math.max(1, Math.min(BATCH, Math.floor(MAX_PARAMETERS / columns.length)));
    const first = source.prepare(`${select} ORDER BY ${walk.order} LIMIT ${batchSize}`);
    const next = source.prepare(
      `${select} WHERE (${walk.position.join(', ')}) > (${marks(walk.position.length)}) ORDER BY ${walk.order} LIMIT ${batchSize}`,
    );
    const conflict = `ON CONFLICT (${key.join(', ')}) DO NOTHING`;
    const digest = createHash('sha256');
    let after: SqlValue[] | undefined;
    let rows = 0;
    let copied = 0;
    for (;;) {
      const batch = (after === undefined ? first.all() : next.all(...after)) as SqlRow[];
      if (batch.length === 0) break;
      const byKey = await target.write(async (q) => {
        // What was inserted comes back as stored; only rows there before (an interrupted run) are read separately,
        // since a long IN list of row values makes PostgreSQL probe the index once per row.
        const inserted = await q.all(
          `INSERT INTO ${table} (${list}) VALUES ${batch.map(() => `(${marks(columns.length)})`).join(', ')} ${conflict} RETURNING ${list}`,
          batch.flatMap((r) => columns.map((c) => r[c] as SqlValue)),
        );
        copied += inserted.length;
        const stored = new Map(inserted.map((r) => [keyOf(key, r), r]));
        const before = batch.filter((r) => !stored.has(keyOf(key, r)));
        if (before.length > 0)
          for (const r of await q.all(
            `SELECT ${list} FROM ${table} WHERE (${key.join(', ')}) IN (${before.map(() => `(${marks(key.length)})`).join(', ')})`,
            before.flatMap((r) => key.map((k) => r[k] as SqlValue)),
          ))
            stored.set(keyOf(key, r), r);
        return stored;
      });
      for (const r of batch) {
        const there = byKey.get(keyOf(key, r));
        if (there === undefined || !columns.every((c) => sameValue(r[c], there[c])))
          throw new Error(`${table} ${keyOf(key, r)} is in the target with other values: it is not this node's`);
        digest.update(`${JSON.stringify(columns.map((c) => plainValue(r[c])))}\n`);
      }
      rows += batch.length;
      const last = batch[batch.length - 1]!;
      after = walk.rowid ? [Number(last['copy_rowid'])] : key.map((k) => last[k] as SqlValue);
      o.onProgress?.(rows);
    }
    await expectRows(target, table, rows);
    const report = { table, rows, copied, digest: digest.digest('hex') };
    const newest = source.prepare(`SELECT ${key.join(', ')} FROM ${table} ORDER BY ${walk.newestFirst} LIMIT 1`).get();
    if (newest !== undefined)
      await target.write(async (q) => {
        await q.run(COPIED_TABLE);
        await q.run(
          `INSERT INTO copied_table (table_name, newest_key, row_count, digest, copied_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (table_name) DO UPDATE SET newest_key = excluded.newest_key, row_count = excluded.row_count,
             digest = excluded.digest, copied_at = excluded.copied_at`,
          [table, keyOf(key, newest), rows, report.digest, new Date().toISOString()],
        );
      });
    return report;
  } finally {
    source.close();
  }
}

/** The target holds exactly the rows copied: any other row is another node's, and the copy is not this node's to make. */
async function expectRows(target: SqlDatabase, table: string, rows: number): Promise<void> {
  const counted = await target.read((q) => q.one<{ n: number }>(`SELECT count(*) AS n FROM ${table}`));
  if (Number(counted?.n) !== rows)
    throw new Error(`the target's ${table} holds ${counted?.n} rows against ${rows} here: it is not this node's alone`);
}

/**
 * How a table's rows are walked: by rowid, the order they were written, or by key for a table without rowids (the
 * registry's, clustered on the pseudonym). `position`: the columns a page resumes after.
 */
function walkOf(
  source: DatabaseSync,
  table: string,
  key: readonly string[],
): { rowid: boolean; order: string; newestFirst: string; position: readonly string[] } {
  let rowid = true;
  try {
    source.prepare(`SELECT rowid FROM ${table} LIMIT 0`);
  } catch {
    rowid = false;
  }
  return rowid
    ? { rowid, order: 'rowid', newestFirst: 'rowid DESC', position: ['rowid'] }
    : { rowid, order: key.join(', '), newestFirst: key.map((k) => `${k} DESC`).join(', '), position: key };
}

/**
 * Whether an embedded table holds rows the target does not: a node switched to a database server before copying.
 * Undefined when nothing is left behind (no file, no table, no rows, or its newest row is there); else its row count.
 */
export async function rowsLeftBehind(
  sqlitePath: string,
  target: SqlDatabase,
  o: TableToCopy,
): Promise<number | undefined> {
  if (!existsSync(sqlitePath)) return undefined;
  const source = new DatabaseSync(sqlitePath, { readOnly: true });
  try {
    const has = source.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(o.table);
    if (has === undefined) return undefined;
    const newest = source
      .prepare(
        `SELECT ${o.key.join(', ')} FROM ${o.table} ORDER BY ${walkOf(source, o.table, o.key).newestFirst} LIMIT 1`,
      )
      .get();
    if (newest === undefined) return undefined;
    const there = await target.read((q) =>
      q.one(
        `SELECT 1 AS found FROM ${o.table} WHERE ${o.key.map((k) => `${k} = ?`).join(' AND ')}`,
        o.key.map((k) => newest[k] as SqlValue),
      ),
    );
    if (there !== undefined) return undefined;
    // Gone from the server since (an ended session, a purged upload) is not left behind: the copy noted it came.
    const copied = await target.write(async (q) => {
      await q.run(COPIED_TABLE);
      return q.one('SELECT 1 AS found FROM copied_table WHERE table_name = ? AND newest_key = ?', [
        o.table,
        keyOf(o.key, newest),
      ]);
    });
    // Counted only now: at a start of a copied registry this runs on tables of millions of rows.
    return copied === undefined
      ? Number(source.prepare(`SELECT count(*) AS n FROM ${o.table}`).get()?.['n'])
      : undefined;
  } finally {
    source.close();
  }
}

/** A count of rows, as a message says it. */
export function rowsInWords(n: number): string {
  return `${n} ${n === 1 ? 'row' : 'rows'}`;
}

/**
 * What `beeldbrug migrate` copied, per table: the newest row it found in the embedded file, so that a start knows the
 * file was copied even after that row has gone from the server (sessions end, retention purges).
 */
const COPIED_TABLE = `CREATE TABLE IF NOT EXISTS copied_table (
  table_name TEXT PRIMARY KEY,
  newest_key TEXT NOT NULL,
  row_count BIGINT NOT NULL,
  digest TEXT NOT NULL,
  copied_at TEXT NOT NULL
)`;

/** A row's identity as the copy notes it: its key's values in order, as JSON (bytes as hex, from either database). */
function keyOf(key: readonly string[], row: SqlRow): string {
  return JSON.stringify(key.map((k) => plainValue(row[k])));
}

function marks(n: number): string {
  return Array.from({ length: n }, () => '?').join(', ');
}

/**
 * SQLite gives integers as numbers, PostgreSQL's BIGINT as numbers too (openPostgresPool); text is text on both; a
 * blob comes back as a Uint8Array from SQLite and a Buffer from PostgreSQL.
 */
function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'bigint' || typeof b === 'bigint') return String(a) === String(b);
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a).equals(b);
  return a === b || (a === undefined && b === null) || (a === null && b === undefined);
}

/** A value as JSON shows it the same from either database: bytes (a Uint8Array, or pg's Buffer) in hex. */
function plainValue(value: unknown): unknown {
  return value instanceof Uint8Array
    ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')
    : value;
}
