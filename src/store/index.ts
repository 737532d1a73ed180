/**
 * The embedded study store: an SQLite index of patients, studies, series and instances, and AES-256-GCM encrypted blobs
 * on the filesystem, written atomically (temp file, fsync, rename, directory fsync, then the index commit).
 */
export type {
  AttributeKey,
  BlobRef,
  BlobStore,
  BlobWriter,
  IndexStats,
  InstanceAttributes,
  Matcher,
  NewInstance,
  PatientAttributes,
  Provenance,
  QueryLevel,
  QueryPage,
  QueryRow,
  RecordOutcome,
  RecoveryReport,
  SeriesAttributes,
  Store,
  StoredInstance,
  StudyAttributes,
  StudyContents,
  StudyIndex,
} from './types.ts';
export { StoreError, StoreErrorCode } from './store-error.ts';
export { generateEncryptionKey, readEncryptionKeyFile } from './encryption-key.ts';
export { openStudyStore } from './study-store.ts';
export { startBlobReaders } from './blob-read-pool.ts';
export { setBlobWriterThreads } from './blob-write-pool.ts';
export { PostgresStudyIndex } from './postgres-study-index.ts';
export { migrateStudyIndex, type IndexMigrationReport } from './migrate-study-index.ts';
export { objectStorageProblem, type ObjectStorageSettings } from './object-bucket.ts';
