import { ChainedAuditTrail, type AuditTrailOptions } from './chained-audit-trail.ts';
import { PostgresAuditTable } from './postgres-audit-table.ts';
import { SqliteAuditTable } from './sqlite-audit-table.ts';
import type { PostgresPool } from '../database/index.ts';

/** The embedded audit trail: its own SQLite file in the node's data folder. */
export async function openSqliteAuditTrail(path: string, o: AuditTrailOptions): Promise<ChainedAuditTrail> {
  return ChainedAuditTrail.open(new SqliteAuditTable(path), o);
}

/** The audit trail on a PostgreSQL database, shared by the nodes of one hospital; the pool ends with the trail. */
export async function openPostgresAuditTrail(pool: PostgresPool, o: AuditTrailOptions): Promise<ChainedAuditTrail> {
  return ChainedAuditTrail.open(await PostgresAuditTable.open(pool, { ownsPool: true }), o);
}
