import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RegistryConfig } from '../config/index.ts';
import {
  copyTable,
  openPostgresPool,
  PostgresDatabase,
  rowsInWords,
  rowsLeftBehind,
  type PostgresSettings,
  type TableCopyReport,
  type TableToCopy,
} from '../database/index.ts';
import { BeeldbrugError, throwDatabaseProblem } from '../errors/index.ts';
import { PostgresRegistryStore, REGISTRY_SCHEMA } from './postgres-registry-store.ts';

export const REGISTRY_FILE = 'registry.sqlite';

/**
 * The registry's tables, in the order they are copied: a consent's history after the consent. Consents keep their
 * row number and their public id, so every "Consent/<id>" a node's audit trail names still resolves, and their whole
 * history of changes comes along.
 */
export const REGISTRY_TABLES = [
  { table: 'locations', key: ['pseudonym', 'ura', 'category'] },
  { table: 'consents', key: ['id'] },
  { table: 'consent_changes', key: ['consent', 'seq'] },
] as const satisfies readonly TableToCopy[];

export interface RegistryMigrationReport {
  from: string;
  tables: TableCopyReport[];
}

/**
 * `beeldbrug registry migrate`: with the registry stopped, copies its embedded file to the PostgreSQL server its
 * configuration now names, table by table, verified (read back, counted, digested) and resumable.
 */
export async function migrateRegistry(
  config: Readonly<Pick<RegistryConfig, 'dataDir' | 'database'>>,
  onProgress: (table: string, copied: number) => void = () => undefined,
): Promise<RegistryMigrationReport> {
  const database = config.database;
  const from = join(config.dataDir, REGISTRY_FILE);
  if (database.kind !== 'postgresql')
    throw new BeeldbrugError(
      'CONFIG_INVALID',
      'database: name the PostgreSQL server to migrate to (database.kind: postgresql); the registry now keeps everything in its data folder',
    );
  if (!existsSync(from))
    throw new BeeldbrugError('CONFIG_INVALID', `${from} does not exist: there is no embedded registry to migrate`);
  const tables: TableCopyReport[] = [];
  try {
    // Connecting migrates the registry's schema on the server.
    await (await PostgresRegistryStore.connect(database)).close();
    const target = new PostgresDatabase(openPostgresPool(database, { schema: REGISTRY_SCHEMA }), { ownsPool: true });
    try {
      for (const table of REGISTRY_TABLES)
        tables.push(await copyTable(from, target, { ...table, onProgress: (n) => onProgress(table.table, n) }));
      // Consents recorded on the server from now on are numbered after the copied ones.
      await target.write((q) =>
        q.run("SELECT setval(pg_get_serial_sequence('consents', 'id'), (SELECT max(id) FROM consents))"),
      );
    } finally {
      await target.close();
    }
  } catch (cause) {
    throwDatabaseProblem(database, cause);
    throw cause;
  }
  return { from, tables };
}

/**
 * Refuses (DATA_NOT_MIGRATED) a registry switched to its database server while its embedded file holds localizations
 * or consents the server does not: it would answer without them.
 */
export async function refuseRegistryLeftBehind(dataDir: string, settings: PostgresSettings): Promise<void> {
  const embedded = join(dataDir, REGISTRY_FILE);
  if (!existsSync(embedded)) return;
  const server = new PostgresDatabase(openPostgresPool(settings, { schema: REGISTRY_SCHEMA }), { ownsPool: true });
  try {
    for (const table of REGISTRY_TABLES) {
      const left = await rowsLeftBehind(embedded, server, table);
      if (left !== undefined)
        throw new BeeldbrugError(
          'DATA_NOT_MIGRATED',
          `the registry in ${embedded} (${rowsInWords(left)} of ${table.table}) is not in the database: stop the registry and run \`beeldbrug registry migrate --config FILE\`, which copies it (resumable, verified)`,
        );
    }
  } finally {
    await server.close();
  }
}
