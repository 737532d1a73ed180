import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { migrateAuditTrail, openPostgresAuditTable, type AuditMigrationReport } from '../audit/index.ts';
import type { Config } from '../config/index.ts';
import { migratePostgresAccounts } from '../auth/index.ts';
import {
  copyTable,
  openPostgresPool,
  PostgresDatabase,
  type PostgresPool,
  type TableCopyReport,
  type TableToCopy,
} from '../database/index.ts';
import { openPostgresInbox, openPostgresOutbox } from '../exchange/index.ts';
import { BeeldbrugError, throwDatabaseProblem } from '../errors/index.ts';
import { openPostgresShareStore, openPostgresUploadStore } from '../share/index.ts';
import { migrateStudyIndex, PostgresStudyIndex, type IndexMigrationReport } from '../store/index.ts';
import { ACCOUNT_TABLES, ACCOUNTS_FILE } from './accounts.ts';
import { openPostgresPrefetchDeliveries } from './prefetch-deliveries.ts';
import {
  EXCHANGE_FILE,
  EXCHANGE_TABLES,
  PREFETCH_FILE,
  PREFETCH_TABLES,
  QUARANTINE_SCHEMA,
  SHARE_FILE,
  SHARE_TABLES,
  UPLOAD_TABLES,
  UPLOADS_FILE,
} from './node-store.ts';
import { AUDIT_FILE, auditTrailLocation, databaseLocation, readAuditKey } from './audit-trail.ts';

export interface MigrationReport {
  audit: AuditMigrationReport & { from: string; to: string };
  /** The study index, and the quarantine's when the node has one. */
  indexes: (IndexMigrationReport & { from: string; to: string })[];
  /** The exchange's outbox and inbox, the accounts (sessions, SSH keys), the shares and the uploads, when there. */
  tables: (TableCopyReport & { from: string })[];
}

/**
 * `beeldbrug migrate`: moves what an embedded node kept in its data folder to the database server its configuration
 * now names, while the node is stopped: the audit trail (the records that must be kept for years) and the study
 * indexes (the main one and the quarantine's), the exchange's queues, the accounts, the shares and the uploads; the
 * image files stay where they are. The node's other records follow as they move to the database. Resumable; each copy is verified before it counts.
 */
export async function migrateToDatabase(
  config: Readonly<Config>,
  onProgress: (what: string, copied: number) => void = () => undefined,
): Promise<MigrationReport> {
  const database = config.database;
  if (database.kind !== 'postgresql')
    throw new BeeldbrugError(
      'CONFIG_INVALID',
      'database: name the PostgreSQL server to migrate to (database.kind: postgresql); the node now keeps everything in its data folder',
    );
  const key = readAuditKey(config);
  const from = join(config.dataDir, AUDIT_FILE);
  let table;
  try {
    table = await openPostgresAuditTable(openPostgresPool(database));
  } catch (cause) {
    throwDatabaseProblem(database, cause);
    throw cause;
  }
  let audit;
  try {
    audit = await migrateAuditTrail(from, table, key, (n) => onProgress('audit trail', n));
  } finally {
    await table.close();
  }
  const indexes: MigrationReport['indexes'] = [];
  for (const [what, dir, schema] of [
    ['study index', config.dataDir, undefined],
    ['quarantine index', join(config.dataDir, QUARANTINE_SCHEMA), QUARANTINE_SCHEMA],
  ] as const) {
    const embedded = join(dir, 'index.sqlite');
    if (!existsSync(embedded)) continue;
    let target;
    try {
      target = await PostgresStudyIndex.open(openPostgresPool(database, { schema }), { ownsPool: true, schema });
    } catch (cause) {
      throwDatabaseProblem(database, cause);
      throw cause;
    }
    try {
      const report = await migrateStudyIndex(embedded, target, (n) => onProgress(what, n));
      indexes.push({
        ...report,
        from: embedded,
        to: `${databaseLocation(config)}${schema !== undefined ? `, schema ${schema}` : ''}`,
      });
    } finally {
      await target.close();
    }
  }
  const tables: MigrationReport['tables'] = [];
  // Each embedded file with its tables, the schema they go to on the server, and how that schema is made there.
  const files: {
    file: string;
    schema?: string;
    tables: readonly TableToCopy[];
    migrate: (pool: PostgresPool) => Promise<void>;
  }[] = [
    {
      file: join(config.dataDir, EXCHANGE_FILE),
      tables: [...EXCHANGE_TABLES.outbox, ...EXCHANGE_TABLES.inbox],
      // Opening each applies its schema on the server.
      migrate: async (pool: PostgresPool) => {
        await (await openPostgresOutbox(pool, { ownsPool: false })).close();
        await (await openPostgresInbox(pool, { ownsPool: false })).close();
      },
    },
    {
      file: join(config.dataDir, ACCOUNTS_FILE),
      tables: ACCOUNT_TABLES,
      migrate: migratePostgresAccounts,
    },
    {
      file: join(config.dataDir, PREFETCH_FILE),
      tables: PREFETCH_TABLES,
      migrate: async (pool: PostgresPool) => (await openPostgresPrefetchDeliveries(pool, { ownsPool: false })).close(),
    },
    {
      file: join(config.dataDir, SHARE_FILE),
      tables: SHARE_TABLES,
      migrate: async (pool: PostgresPool) => (await openPostgresShareStore(pool, { ownsPool: false })).close(),
    },
    {
      file: join(config.dataDir, UPLOADS_FILE),
      schema: QUARANTINE_SCHEMA,
      tables: UPLOAD_TABLES,
      migrate: async (pool: PostgresPool) =>
        (await openPostgresUploadStore(pool, { ownsPool: false, schema: QUARANTINE_SCHEMA })).close(),
    },
  ];
  for (const f of files) {
    if (!existsSync(f.file)) continue;
    const pool = openPostgresPool(database, { schema: f.schema });
    try {
      await f.migrate(pool);
      const target = new PostgresDatabase(pool, { ownsPool: false });
      for (const table of f.tables) {
        const copy = await copyTable(f.file, target, { ...table, onProgress: (n) => onProgress(table.table, n) });
        tables.push({ ...copy, from: f.file });
      }
    } catch (cause) {
      throwDatabaseProblem(database, cause);
      throw cause;
    } finally {
      await pool.end();
    }
  }
  return { audit: { ...audit, from, to: auditTrailLocation(config) }, indexes, tables };
}
