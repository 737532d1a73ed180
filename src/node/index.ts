export { startNode, type NodeOptions, type RunningNode } from './hospital-node.ts';
export { admit, resolvePeers, type AllowedPeer } from './peer-allow-list.ts';
export { readTlsFiles } from './tls-files.ts';
export { PacsSource, pacsSourceFor } from './pacs-source.ts';
export { auditTrailLocation, auditWitnessFile, openAuditTrail } from './audit-trail.ts';
export { openAccounts } from './accounts.ts';
export { runDoctor, PROBE_AE_TITLE, type Finding, type FindingLevel } from './doctor.ts';
export { insecureSettings, isLoopback, type InsecureSetting } from './secure-defaults.ts';
export { insecureFiles } from './insecure-files.ts';
export type { AuditChainView, SessionUser, SessionView } from './account-routes.ts';
export { openSqlitePrefetchDeliveries, type PendingDelivery, type PrefetchDeliveries } from './prefetch-deliveries.ts';
export { migrateToDatabase, type MigrationReport } from './migrate.ts';
/** Counts of rows in the words the migrations' messages use. */
export { rowsInWords } from '../database/index.ts';
