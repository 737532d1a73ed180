import type { DatabaseSync } from 'node:sqlite';
import { migratePostgres, type PostgresPool } from './postgres.ts';
import { openSqliteDatabase, type SqliteOptions } from './sqlite.ts';
import { PostgresDatabase, SqliteQueue } from './statements.ts';

/**
 * A store's embedded SQLite file, opened and brought up to date by `prepare` (its tables, the columns added since),
 * as a SqlDatabase; a file that cannot be prepared is closed again.
 */
export function openSqliteStore(path: string, prepare: (db: DatabaseSync) => void, o: SqliteOptions = {}): SqliteQueue {
  const db = openSqliteDatabase(path, o);
  try {
    prepare(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteQueue(db, { durability: o.durability ?? 'full' });
}

/**
 * A store's tables on a PostgreSQL pool, migrated to their newest schema (`component`'s migrations, in `schema`), as a
 * SqlDatabase. `ownsPool`: closing it ends the pool, as does a migration that fails.
 */
export async function openPostgresStore(
  pool: PostgresPool,
  component: string,
  migrations: readonly string[],
  o: { ownsPool: boolean; schema?: string | undefined },
): Promise<PostgresDatabase> {
  try {
    await migratePostgres(pool, component, migrations, { schema: o.schema });
  } catch (err) {
    if (o.ownsPool) await pool.end();
    throw err;
  }
  return new PostgresDatabase(pool, { ownsPool: o.ownsPool });
}
