/**
 * One audit record (NEN 7513): who did what to whose data, when, from where and on what grounds. Every part records
 * the same fields through one AuditTrail.
 */
export const AUDIT_ACTIONS = [
  'create',
  'read',
  'query',
  'retrieve',
  'send',
  'receive',
  'verify-failure',
  'import',
  'share',
  'download',
  'upload',
  'export',
  'purge',
  'login',
  'login-failure',
  'logout',
  'consent-check',
  'configuration-change',
  'audit-read',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** IHE transactions the node answers, with their names as the ATNA event type code gives them. */
export const IHE_TRANSACTIONS = {
  'ITI-38': 'Cross Gateway Query',
  'ITI-39': 'Cross Gateway Retrieve',
  'RAD-75': 'Cross Gateway Retrieve Imaging Document Set',
} as const;
export type IheTransaction = keyof typeof IHE_TRANSACTIONS;

export type AuditOutcome = 'success' | 'failure';

export interface AuditEvent {
  action: AuditAction;
  outcome: AuditOutcome;
  /** What happened, in words an auditor reads ("study queued for Ziekenhuis Midden", "digest mismatch"). */
  description: string;
  /**
   * The person or system that acted; a partner node or a PACS is a system user. `outsider`: a person of no
   * organization (a share's recipient), whom the trail does not count as one of ours.
   */
  user: { id: string; name: string; roleCode?: string; organizationUra?: string; outsider?: true };
  /** The person on whose behalf the user acted, where that differs (a PACS sending for a radiologist). */
  responsibleUser?: { id: string; name: string };
  accessPoint: { node: string; ip?: string; aeTitle?: string };
  /** The IHE transaction this record answers (ITI-38, ITI-39, RAD-75): the ATNA message's event type (ITI-20). */
  transaction?: IheTransaction;
  patient?: { bsn?: string; patientId?: string };
  objects: {
    studyInstanceUid?: string;
    seriesInstanceUid?: string;
    sopInstanceUids?: string[];
    transferId?: string;
    shareId?: string;
  };
  grounds: { purpose?: string; authorization?: string; consentReference?: string; emergency?: boolean };
}

export interface AuditRecord extends AuditEvent {
  sequence: number;
  /** UTC, milliseconds. */
  time: string;
  /** HMAC-SHA-256 (under the node's audit key) of the previous record's hash and this record's content. */
  hash: string;
}

export interface AuditFilter {
  bsn?: string | undefined;
  userId?: string | undefined;
  action?: AuditAction | undefined;
  /** ISO times: since is inclusive, until exclusive. */
  since?: string | undefined;
  until?: string | undefined;
  /** Only records after this sequence number (an exporter's cursor). */
  afterSequence?: number | undefined;
  limit?: number | undefined;
}

export type AuditVerification =
  { ok: true; records: number } | { ok: false; records: number; firstBadSequence: number; problem: string };

export interface AuditTrail {
  /** Appends one record; throws when it cannot be written, and the caller must then fail what it was doing. */
  record(event: AuditEvent): Promise<AuditRecord>;
  /** Appends several records in one durable write (a listing that showed several patients); all or none. */
  recordAll(events: readonly AuditEvent[]): Promise<AuditRecord[]>;
  /** Records in order, filtered. Callers put the auditor role and two factors in front of it and record the reading. */
  list(filter?: AuditFilter): Promise<AuditRecord[]>;
  /**
   * Recomputes the chain over every record a reader can list and names the first that was edited, removed, inserted
   * or moved; where the trail keeps a witness of its newest record outside its file, also that the trail reaches it.
   */
  verify(): Promise<AuditVerification>;
  /**
   * Removes the records older than `before` (the retention period has passed), keeping the chain verifiable from the
   * first record that stays; the removal is itself a record. Returns how many were removed.
   */
  prune(before: Date, description: string): Promise<number>;
  close(): Promise<void>;
}
