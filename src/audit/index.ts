/** The audit trail (NEN 7513): one module every part records into; see types.ts for what a record holds. */
export {
  AUDIT_ACTIONS,
  type AuditAction,
  type AuditEvent,
  type AuditFilter,
  type AuditOutcome,
  type AuditRecord,
  type AuditTrail,
  type AuditVerification,
} from './types.ts';
export { ChainedAuditTrail, type AuditTrailOptions } from './chained-audit-trail.ts';
export {
  EmbeddedTrailLeftBehind,
  openPostgresAuditTable,
  openPostgresAuditTrail,
  openSqliteAuditTrail,
} from './open-audit-trail.ts';
export { migrateAuditTrail, type AuditMigrationReport } from './migrate-audit-trail.ts';
export { auditMessageXml, syslogFrame, type AuditSource } from './atna-message.ts';
