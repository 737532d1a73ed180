import type { PostgresPool } from '../database/index.ts';
import type { AuditTable } from './audit-table.ts';
import { ChainedAuditTrail, type AuditTrailOptions } from './chained-audit-trail.ts';
import { embeddedTrailLeftBehind } from './migrate-audit-trail.ts';
import { PostgresAuditTable } from './postgres-audit-table.ts';
import { SqliteAuditTable } from './sqlite-audit-table.ts';

/** The embedded audit trail: its own SQLite file in the node's data folder. */
export async function openSqliteAuditTrail(path: string, o: AuditTrailOptions): Promise<ChainedAuditTrail> {
  return ChainedAuditTrail.open(new SqliteAuditTable(path), o);
}

/** An embedded trail with records the database does not hold: the node must not start a second trail beside it. */
export class EmbeddedTrailLeftBehind extends Error {}

/**
 * The audit trail on a PostgreSQL database, shared by the nodes of one hospital; the pool ends with the trail.
 * `embeddedFile`: where this node kept its trail before; one with records not in the database is refused.
 */
export async function openPostgresAuditTrail(
  pool: PostgresPool,
  o: AuditTrailOptions & { embeddedFile?: string },
): Promise<ChainedAuditTrail> {
  const { embeddedFile, ...options } = o;
  const table = await openPostgresAuditTable(pool);
  if (embeddedFile !== undefined) {
    const left = await embeddedTrailLeftBehind(embeddedFile, table).catch(async (err: unknown) => {
      await table.close();
      throw err;
    });
    if (left !== undefined) {
      await table.close();
      throw new EmbeddedTrailLeftBehind(
        `the audit trail in ${embeddedFile} (records up to ${left}) is not in the database`,
      );
    }
  }
  return ChainedAuditTrail.open(table, options);
}

/** The audit table on PostgreSQL, migrated to the newest schema; closing it ends the pool. */
export function openPostgresAuditTable(pool: PostgresPool): Promise<AuditTable> {
  return PostgresAuditTable.open(pool, { ownsPool: true });
}
