import { join } from 'node:path';
import { migrateAuditTrail, openPostgresAuditTable, type AuditMigrationReport } from '../audit/index.ts';
import type { Config } from '../config/index.ts';
import { openPostgresPool } from '../database/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { AUDIT_FILE, auditTrailLocation, readAuditKey, throwDatabaseProblem } from './audit-trail.ts';

export interface MigrationReport {
  audit: AuditMigrationReport & { from: string; to: string };
}

/**
 * `beeldbrug migrate`: moves what an embedded node kept in its data folder to the database server its configuration
 * now names, while the node is stopped. Today that is the audit trail (the records that must be kept for years); the
 * node's other records follow as they move to the database. Resumable; the copy is verified before it counts.
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
  try {
    const audit = await migrateAuditTrail(from, table, key, (n) => onProgress('audit trail', n));
    return { audit: { ...audit, from, to: auditTrailLocation(config) } };
  } finally {
    await table.close();
  }
}
