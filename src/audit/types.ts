/**
 * One audit record (NEN 7513): who did what to whose data, when, from where and on what grounds. Issue 5 extends
 * the set of actions and adds reading the log; the shape is fixed now so that every part records the same fields.
 */
export type AuditAction =
  | 'send'
  | 'receive'
  | 'verify-failure'
  | 'import'
  | 'purge'
  | 'query'
  | 'retrieve'
  | 'create';

export type AuditOutcome = 'success' | 'failure';

export interface AuditEvent {
  action: AuditAction;
  outcome: AuditOutcome;
  /** What happened, in words an auditor reads ("study queued for Ziekenhuis Midden", "digest mismatch"). */
  description: string;
  /** The person or system that acted; a partner node or a PACS is a system user. */
  user: { id: string; name: string; roleCode?: string; organizationUra?: string };
  /** The person on whose behalf the user acted, where that differs (a PACS sending for a radiologist). */
  responsibleUser?: { id: string; name: string };
  accessPoint: { node: string; ip?: string; aeTitle?: string };
  patient?: { bsn?: string; patientId?: string };
  objects: { studyInstanceUid?: string; seriesInstanceUid?: string; sopInstanceUids?: string[]; transferId?: string };
  grounds: { purpose?: string; authorization?: string; consentReference?: string; emergency?: boolean };
}

export interface AuditRecord extends AuditEvent {
  sequence: number;
  /** UTC, milliseconds. */
  time: string;
  /** SHA-256 of the previous record's hash and this record's content: editing, removing, inserting or reordering breaks it. */
  hash: string;
}

export type AuditVerification = { ok: true; records: number } | { ok: false; records: number; firstBadSequence: number; problem: string };

export interface AuditTrail {
  /** Appends one record; throws when it cannot be written, and the caller must then fail what it was doing. */
  record(event: AuditEvent): AuditRecord;
  /** Records in order, filtered; for auditors (issue 5 puts the auditor role and two factors in front of it). */
  list(filter?: { bsn?: string; action?: AuditAction; since?: string; until?: string; limit?: number }): AuditRecord[];
  verify(): AuditVerification;
  close(): void;
}
