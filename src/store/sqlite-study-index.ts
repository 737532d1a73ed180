import type { DatabaseSync } from 'node:sqlite';
import { openSqliteDatabase, SqliteQueue } from '../database/index.ts';
import { GLOB_PATTERNS } from './query-sql.ts';
import { migrate } from './sqlite-schema.ts';
import { SqlStudyIndex, type IndexDatabase } from './sql-study-index.ts';
import { asStoreError } from './store-error.ts';

/**
 * The study index in the embedded SQLite file (WAL, synchronous=NORMAL: see sqlite-schema.ts for why that is enough,
 * and removals, which no blob can redo, committed with FULL).
 */
export class SqliteStudyIndex extends SqlStudyIndex {
  constructor(path: string) {
    let db: DatabaseSync;
    try {
      // A power cut may take the last commits, never a blob: recovery indexes the files again.
      db = openSqliteDatabase(path, { durability: 'normal', foreignKeys: true });
    } catch (err) {
      throw asStoreError(err, `opening the index ${path}`);
    }
    try {
      migrate(db, path);
    } catch (err) {
      db.close();
      throw asStoreError(err, `opening the index ${path}`);
    }
    super(sqliteIndexDatabase(db));
  }
}

function sqliteIndexDatabase(db: DatabaseSync): IndexDatabase {
  const queue = new SqliteQueue(db, { durability: 'normal' });
  return {
    patterns: GLOB_PATTERNS,
    read: (work) => queue.read(work),
    write: (work, o) => queue.write(work, o),
    writeOne: (sql, params) => queue.writeOne(sql, params),
    close: () => queue.close(),
  };
}
