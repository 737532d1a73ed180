/** The audit trail (NEN 7513): one module every part records into; see types.ts for what a record holds. */
export type { AuditAction, AuditEvent, AuditOutcome, AuditRecord, AuditTrail, AuditVerification } from './types.ts';
export { SqliteAuditTrail } from './sqlite-audit-trail.ts';
