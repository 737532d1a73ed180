/** Stable codes for everything the store reports on purpose. Callers map them (DISK_FULL -> Out of Resources, A700). */
export const StoreErrorCode = {
  KEY_MISSING: 'KEY_MISSING',
  KEY_INVALID: 'KEY_INVALID',
  KEY_MISMATCH: 'KEY_MISMATCH',
  BLOB_CORRUPT: 'BLOB_CORRUPT',
  BLOB_NOT_FOUND: 'BLOB_NOT_FOUND',
  BLOB_ID_INVALID: 'BLOB_ID_INVALID',
  RANGE_INVALID: 'RANGE_INVALID',
  WRITER_CLOSED: 'WRITER_CLOSED',
  STUDY_PATIENT_CONFLICT: 'STUDY_PATIENT_CONFLICT',
  PATIENT_BSN_CONFLICT: 'PATIENT_BSN_CONFLICT',
  SERIES_STUDY_CONFLICT: 'SERIES_STUDY_CONFLICT',
  SCHEMA_TOO_NEW: 'SCHEMA_TOO_NEW',
  INDEX_NOT_SETTLED: 'INDEX_NOT_SETTLED',
  INDEX_NOT_MIGRATED: 'INDEX_NOT_MIGRATED',
  INDEX_MIGRATION_MISMATCH: 'INDEX_MIGRATION_MISMATCH',
  DISK_FULL: 'DISK_FULL',
  IO: 'IO',
} as const;

export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

function errnoOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/** Wraps a filesystem/SQLite failure: a full disk or quota becomes DISK_FULL, anything else IO. StoreErrors pass. */
export function asStoreError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  const errno = errnoOf(err);
  // SQLite reports a full disk as SQLITE_FULL (errcode 13) inside ERR_SQLITE_ERROR.
  const sqliteFull = typeof err === 'object' && err !== null && 'errcode' in err && err.errcode === 13;
  // PostgreSQL's server errors carry a severity and an SQLSTATE as their code; 53100 is disk_full.
  const fromPostgres = typeof err === 'object' && err !== null && 'severity' in err;
  if (errno === 'ENOSPC' || errno === 'EDQUOT' || sqliteFull || (fromPostgres && errno === '53100'))
    return new StoreError('DISK_FULL', `${what}: no space left`, { cause: err });
  const detail = fromPostgres || errno === undefined ? (err instanceof Error ? err.message : String(err)) : errno;
  return new StoreError('IO', `${what}: ${detail}`, { cause: err });
}

export function isNotFound(err: unknown): boolean {
  return errnoOf(err) === 'ENOENT';
}
