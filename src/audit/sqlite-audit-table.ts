import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import { openSqliteDatabase, Serial } from '../database/index.ts';
import { filterConditions, type Anchor, type AuditReader, type AuditTable, type AuditWriter } from './audit-table.ts';
import type { Row, UntrustedRow } from './chain-form.ts';
import type { AuditFilter } from './types.ts';

const SCHEMA = `
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
  CREATE TRIGGER IF NOT EXISTS audit_pruned_no_delete BEFORE DELETE ON audit_pruned BEGIN SELECT RAISE(ABORT, 'prune anchors are append-only'); END;`;

const COLUMNS = 'sequence, time, action, bsn, user_id, event_json, hash';

/**
 * The embedded audit table: its own SQLite file. One connection, so transactions run one after another (the queue);
 * another process (the CLI) appending meanwhile waits on SQLite's write lock, taken when a write transaction begins.
 */
export class SqliteAuditTable implements AuditTable {
  readonly #db: DatabaseSync;
  readonly #serial = new Serial();
  readonly #ops: AuditWriter;

  constructor(path: string) {
    this.#db = openSqliteDatabase(path);
    try {
      this.#db.exec(SCHEMA);
    } catch (err) {
      this.#db.close();
      throw err;
    }
    this.#ops = this.#operations();
  }

  write<T>(work: (w: AuditWriter) => Promise<T>): Promise<T> {
    return this.#serial.run(async () => {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const result = await work(this.#ops);
        this.#db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  read<T>(work: (r: AuditReader) => Promise<T>): Promise<T> {
    return this.#serial.run(async () => {
      this.#db.exec('BEGIN');
      try {
        return await work(this.#ops);
      } finally {
        this.#db.exec('COMMIT');
      }
    });
  }

  list(filter: AuditFilter, limit: number): Promise<Row[]> {
    const given = filterConditions(filter);
    const where = given.length > 0 ? `WHERE ${given.map((g) => `${g.column} ${g.op} ?`).join(' AND ')}` : '';
    return this.#serial.run(
      async () =>
        this.#db
          .prepare(`SELECT ${COLUMNS} FROM audit_record ${where} ORDER BY sequence LIMIT ${limit}`)
          .all(...given.map((g) => g.value)) as unknown as Row[],
    );
  }

  close(): Promise<void> {
    return this.#serial.run(async () => this.#db.close());
  }

  #operations(): AuditWriter {
    const db = this.#db;
    const one = <T>(sql: string, ...params: SQLInputValue[]): T | undefined =>
      db.prepare(sql).get(...params) as T | undefined;
    return {
      newest: async () => one('SELECT sequence, hash FROM audit_record ORDER BY sequence DESC LIMIT 1'),
      lastPruned: async () =>
        one<Anchor>('SELECT sequence, hash, mac FROM audit_pruned ORDER BY sequence DESC LIMIT 1'),
      head: async () => one<Anchor>('SELECT sequence, hash, mac FROM audit_head'),
      rowsAt: async (sequences) =>
        db
          .prepare(`SELECT ${COLUMNS} FROM audit_record WHERE sequence IN (${sequences.map(() => '?').join(', ')})`)
          .all(...sequences) as UntrustedRow[],
      rows: () => syncRows(db.prepare(`SELECT ${COLUMNS} FROM audit_record ORDER BY sequence`).iterate()),
      firstSequenceFrom: async (time) =>
        one<{ s: number | null }>('SELECT MIN(sequence) AS s FROM audit_record WHERE time >= ?', time)?.s ?? undefined,
      structureProblem: async () => {
        const integrity = (db.prepare('PRAGMA integrity_check').all() as { integrity_check: string }[]).map(
          (r) => r.integrity_check,
        );
        if (integrity.join() !== 'ok')
          return `the audit file is damaged or its indexes were edited (${integrity.slice(0, 3).join('; ')})`;
        // A view in the place of a table could answer a filtered query otherwise than the full scan verify makes.
        const tables = one<{ n: number }>(
          "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('audit_record', 'audit_head', 'audit_pruned')",
        );
        return tables?.n === 3 ? undefined : 'the audit tables were replaced (by views, or removed)';
      },
      append: async (r) => {
        db.prepare(`INSERT INTO audit_record (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`).run(
          r.sequence,
          r.time,
          r.action,
          r.bsn,
          r.user_id,
          r.event_json,
          r.hash,
        );
      },
      setHead: async (h) => {
        db.prepare(
          'INSERT INTO audit_head (one, sequence, hash, mac) VALUES (1, ?, ?, ?) ON CONFLICT (one) DO UPDATE SET sequence = excluded.sequence, hash = excluded.hash, mac = excluded.mac',
        ).run(h.sequence, h.hash, h.mac);
      },
      prune: async (a) => {
        db.prepare('INSERT INTO audit_pruned (sequence, hash, mac, time) VALUES (?, ?, ?, ?)').run(
          a.sequence,
          a.hash,
          a.mac,
          a.time,
        );
        db.prepare('DELETE FROM audit_record WHERE sequence <= ?').run(a.sequence);
      },
    };
  }
}

/** A verify that stops at a bad row ends the statement too, so the read transaction can commit. */
async function* syncRows(rows: Iterator<unknown>): AsyncIterable<UntrustedRow> {
  try {
    for (let next = rows.next(); next.done !== true; next = rows.next()) yield next.value as UntrustedRow;
  } finally {
    rows.return?.();
  }
}
