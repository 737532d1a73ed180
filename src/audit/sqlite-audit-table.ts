import type { DatabaseSync } from 'node:sqlite';
import { openSqliteDatabase, SqliteQueue } from '../database/index.ts';
import {
  COLUMNS,
  listRecords,
  sharedOperations,
  type AuditReader,
  type AuditTable,
  type AuditWriter,
} from './audit-table.ts';
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

/**
 * The embedded audit table: its own SQLite file. One connection, so transactions run one after another (the queue);
 * another process (the CLI) appending meanwhile waits on SQLite's write lock, taken when a write transaction begins.
 */
export class SqliteAuditTable implements AuditTable {
  readonly #db: DatabaseSync;
  readonly #queue: SqliteQueue;
  readonly #ops: AuditWriter;

  constructor(path: string) {
    this.#db = openSqliteDatabase(path);
    try {
      this.#db.exec(SCHEMA);
    } catch (err) {
      this.#db.close();
      throw err;
    }
    this.#queue = new SqliteQueue(this.#db);
    this.#ops = this.#operations();
  }

  write<T>(work: (w: AuditWriter) => Promise<T>): Promise<T> {
    return this.#queue.write(() => work(this.#ops));
  }

  read<T>(work: (r: AuditReader) => Promise<T>): Promise<T> {
    return this.#queue.read(() => work(this.#ops));
  }

  list(filter: AuditFilter, limit: number): Promise<Row[]> {
    return this.#queue.read((q) => listRecords(q, filter, limit));
  }

  close(): Promise<void> {
    return this.#queue.close();
  }

  #operations(): AuditWriter {
    const db = this.#db;
    return {
      ...sharedOperations(this.#queue.statements),
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
