import { DatabaseSync } from 'node:sqlite';

/**
 * A node database that keeps every change it confirms: WAL, a full fsync at each commit, and a wait of up to 5 s for a
 * writer in another process (the CLI writes while the node runs).
 */
export function openDurableDatabase(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  db.exec('PRAGMA busy_timeout = 5000');
  return db;
}

/** Runs `work` as one write transaction (taken at its start): all of it is committed, or none. */
export function inTransaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

/**
 * Adds the columns a table lacks (a database written by an older version): each as `name TYPE...`, in order. Rows
 * already there take the column's default.
 */
export function addMissingColumns(db: DatabaseSync, table: string, columns: readonly string[]): void {
  const have = new Set((db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name));
  for (const column of columns) {
    const name = column.split(' ')[0] ?? '';
    if (!have.has(name)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column}`);
  }
}
