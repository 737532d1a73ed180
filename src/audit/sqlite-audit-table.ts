import type { DatabaseSync } from 'node:sqlite';
import { openSqliteDatabase, Serial } from '../database/index.ts';
import {
  COLUMNS,
  listRecords,
  sharedOperations,
  type AuditReader,
  type AuditTable,
  type AuditWriter,
  type Statements,
} from './audit-table.ts';
import type { Row, UntrustedRow } from './chain-form.ts';

type Value = string | number | null;
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

/**
 * The embedded audit table: its own SQLite file. One connection, so transactions run one after another (the queue);
 * another process (the CLI) appending meanwhile waits on SQLite's write lock, taken when a write transaction begins.
 */
export class SqliteAuditTable implements AuditTable {
  readonly #db: DatabaseSync;
  readonly #serial = new Serial();
  readonly #ops: AuditWriter;
  /** Statements run synchronously underneath; the Promise is the shared operations' shape. */
  readonly #statements: Statements;

  constructor(path: string) {
    this.#db = openSqliteDatabase(path);
    try {
      this.#db.exec(SCHEMA);
    } catch (err) {
      this.#db.close();
      throw err;
    }
    const db = this.#db;
    this.#statements = {
      one: async <T>(sql: string, params: readonly Value[] = []) => db.prepare(sql).get(...params) as T | undefined,
      all: async <T>(sql: string, params: readonly Value[] = []) => db.prepare(sql).all(...params) as T[],
      run: async (sql, params = []) => {
        db.prepare(sql).run(...params);
      },
    };
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
    return this.#serial.run(() => listRecords(this.#statements, filter, limit));
  }

  close(): Promise<void> {
    return this.#serial.run(async () => this.#db.close());
  }

  #operations(): AuditWriter {
    const db = this.#db;
    return {
      ...sharedOperations(this.#statements),
      rowsAt: async (sequences) =>
        db
          .prepare(`SELECT ${COLUMNS} FROM audit_record WHERE sequence IN (${sequences.map(() => '?').join(', ')})`)
          .all(...sequences) as UntrustedRow[],
      rows: () => syncRows(db.prepare(`SELECT ${COLUMNS} FROM audit_record ORDER BY sequence`).iterate()),
      structureProblem: async () => {
        const integrity = (db.prepare('PRAGMA integrity_check').all() as { integrity_check: string }[]).map(
          (r) => r.integrity_check,
        );
        if (integrity.join() !== 'ok')
          return `the audit file is damaged or its indexes were edited (${integrity.slice(0, 3).join('; ')})`;
        // A view in the place of a table could answer a filtered query otherwise than the full scan verify makes.
        const tables = db
          .prepare(
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('audit_record', 'audit_head', 'audit_pruned')",
          )
          .get() as { n: number } | undefined;
        return tables?.n === 3 ? undefined : 'the audit tables were replaced (by views, or removed)';
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
