import { DatabaseSync } from 'node:sqlite';

export interface SqliteOptions {
  /**
   * `full` (the default): every commit is on disk when it returns, for records nothing else can rebuild. `normal`: a
   * power cut may take the last commits but never leaves the file inconsistent, for what can be rebuilt (the study
   * index from its files, the registry from the nodes' registrations).
   */
  durability?: 'full' | 'normal';
  /** Deleted and overwritten content is zeroed rather than left in free pages (secrets). */
  secureDelete?: boolean;
  foreignKeys?: boolean;
  /** The page cache, in MB (SQLite's default is 2). */
  cacheMb?: number;
}

/**
 * Opens one of the node's SQLite files: WAL (readers never wait for the writer), the durability asked, and a wait of
 * up to 5 s for a writer in another process (the CLI writes while the node runs; registry workers open one file).
 */
export function openSqliteDatabase(path: string, o: SqliteOptions = {}): DatabaseSync {
  const db = new DatabaseSync(path);
  try {
    // First, so that processes opening a new file together wait for each other's schema.
    db.exec('PRAGMA busy_timeout = 5000');
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(`PRAGMA synchronous = ${o.durability === 'normal' ? 'NORMAL' : 'FULL'}`);
    if (o.secureDelete === true) db.exec('PRAGMA secure_delete = ON');
    if (o.foreignKeys === true) db.exec('PRAGMA foreign_keys = ON');
    if (o.cacheMb !== undefined) db.exec(`PRAGMA cache_size = ${-1024 * o.cacheMb}`);
  } catch (err) {
    db.close();
    throw err;
  }
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
    // SQLite may already have rolled back (a full disk, an interrupted statement).
    if (db.isTransaction) db.exec('ROLLBACK');
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
