/**
 * The store's ports. Nothing here names SQLite or a filesystem, so a PostgreSQL index or an S3-compatible blob store
 * can stand behind the same interfaces. The store knows nothing of DICOM encoding: callers give it plain attribute
 * records (the Patient/Study/Series/Instance levels of PS3.4 C.6.1) and opaque byte streams.
 */

export interface PatientAttributes {
  patientId: string;
  issuerOfPatientId: string | null;
  bsn: string | null;
  patientName: string | null;
  birthDate: string | null;
  sex: string | null;
}

export interface StudyAttributes {
  studyInstanceUid: string;
  studyDate: string | null;
  studyTime: string | null;
  accessionNumber: string | null;
  studyDescription: string | null;
  referringPhysicianName: string | null;
  studyId: string | null;
}

export interface SeriesAttributes {
  seriesInstanceUid: string;
  modality: string | null;
  seriesNumber: number | null;
  seriesDescription: string | null;
  bodyPartExamined: string | null;
}

export interface InstanceAttributes {
  sopInstanceUid: string;
  sopClassUid: string;
  instanceNumber: number | null;
  transferSyntaxUid: string;
}

/** Where an instance came from; every stored instance keeps it. */
export interface Provenance {
  /** ISO 8601 UTC. */
  receivedAt: string;
  /** 'dimse' | 'import' | ... */
  via: string;
  callingAeTitle: string | null;
  remoteAddress: string | null;
}

export interface NewInstance {
  patient: PatientAttributes;
  study: StudyAttributes;
  series: SeriesAttributes;
  instance: InstanceAttributes;
  provenance: Provenance;
}

export interface BlobRef {
  blobId: string;
  /** Plaintext bytes. */
  size: number;
  /** Hex SHA-256 of the plaintext. */
  sha256: string;
}

export interface StoredInstance extends NewInstance {
  blob: BlobRef;
  /** Where the data set starts in the stored Part 10 file (after preamble and file meta). */
  datasetOffset: number;
}

export interface BlobWriter {
  /** Resolves when `chunk` may be reused (backpressure). */
  write(chunk: Buffer): Promise<void>;
  /** Makes the blob durable and visible under its id; after this resolves a crash cannot lose it. */
  commit(): Promise<BlobRef>;
  /** Discards everything written; idempotent. */
  abort(): Promise<void>;
}

export interface BlobStore {
  create(): Promise<BlobWriter>;
  /**
   * Decrypted plaintext from byte `start`, verified as it streams; errors are StoreError. `chunkBytes` is how much is
   * decrypted per step: a reader that needs only the start of a blob (a header) asks for little.
   */
  open(blobId: string, opts?: { start?: number; chunkBytes?: number }): NodeJS.ReadableStream;
  /**
   * A piece of plaintext from `open` its consumer is done with (written out): its memory may serve a later read. The
   * piece must not be used afterwards. A store that reuses nothing ignores it.
   */
  giveBack(piece: Buffer): void;
  /** Idempotent: deleting a blob that is not there succeeds. */
  delete(blobId: string): Promise<void>;
  list(): AsyncIterable<string>;
}

export type QueryLevel = 'PATIENT' | 'STUDY' | 'SERIES' | 'IMAGE';

export type AttributeKey =
  | 'patientId'
  | 'issuerOfPatientId'
  | 'bsn'
  | 'patientName'
  | 'birthDate'
  | 'sex'
  | 'studyInstanceUid'
  | 'studyDate'
  | 'studyTime'
  | 'accessionNumber'
  | 'studyDescription'
  | 'referringPhysicianName'
  | 'studyId'
  | 'modalitiesInStudy'
  | 'seriesInstanceUid'
  | 'modality'
  | 'seriesNumber'
  | 'seriesDescription'
  | 'bodyPartExamined'
  | 'sopInstanceUid'
  | 'sopClassUid'
  | 'instanceNumber';

/** A page of matches: at most `limit` (none: all), after skipping `offset`. */
export interface QueryPage {
  limit?: number;
  offset?: number;
}

/** C-FIND matching types (PS3.4 C.2.2.2). */
export type Matcher =
  /** Exact; person names case-insensitive (C.2.2.2.1). */
  | { key: AttributeKey; kind: 'single'; value: string }
  /** DICOM `*` and `?` (C.2.2.2.4). */
  | { key: AttributeKey; kind: 'wildcard'; pattern: string }
  /** Dates/times, inclusive, either end open (C.2.2.2.5). */
  | { key: AttributeKey; kind: 'range'; from: string | null; to: string | null }
  /** UID lists (C.2.2.2.2). */
  | { key: AttributeKey; kind: 'list'; values: readonly string[] };

/** Every attribute of the level and above, plus the counts of the level and above. */
export interface QueryRow {
  values: Partial<Record<AttributeKey, string | number | null>>;
  numberOfPatientRelatedStudies?: number;
  numberOfPatientRelatedSeries?: number;
  numberOfPatientRelatedInstances?: number;
  numberOfStudyRelatedSeries?: number;
  numberOfStudyRelatedInstances?: number;
  numberOfSeriesRelatedInstances?: number;
  modalitiesInStudy?: string[];
  sopClassesInStudy?: string[];
}

export interface RecordOutcome {
  outcome: 'created' | 'duplicate';
  existing?: StoredInstance;
}

export interface IndexStats {
  patients: number;
  studies: number;
  series: number;
  instances: number;
  bytes: number;
}

/** What a study holds, counted by the index rather than listed: its first instance, and its instances by kind. */
export interface StudyContents {
  /** The first instance in the order `instancesMatching` gives (by series, then instance number): patient and study. */
  first: StoredInstance;
  /** Per series modality and SOP class: how many instances, and their bytes. */
  kinds: { modality: string | null; sopClassUid: string; instances: number; bytes: number }[];
}

export interface StudyIndex {
  recordInstance(x: NewInstance, blob: BlobRef, datasetOffset: number): Promise<RecordOutcome>;
  getInstance(sopInstanceUid: string): Promise<StoredInstance | undefined>;
  /** Matches in the order they were first stored; `offset` and `limit` page through them. */
  query(level: QueryLevel, matchers: readonly Matcher[], opts?: QueryPage): Promise<QueryRow[]>;
  /** Every instance under the matching entities (for C-MOVE/C-GET), ordered by series, then instance number. */
  instancesMatching(level: QueryLevel, matchers: readonly Matcher[]): Promise<StoredInstance[]>;
  /** Undefined when the index holds no instance of the study. */
  studyContents(studyInstanceUid: string): Promise<StudyContents | undefined>;
  /** The oldest instances received before `cutoff` (ISO 8601 UTC), for retention; none of the `kept` studies. */
  receivedBefore(cutoff: string, limit: number, kept?: readonly string[]): Promise<StoredInstance[]>;
  /**
   * For retention; removes parents that become empty. Durable when it returns, and remembers the blob as removed, so
   * the caller deletes the blob next and recovery never indexes it again.
   */
  removeInstance(sopInstanceUid: string): Promise<StoredInstance | undefined>;
  referencedBlobIds(): Promise<Set<string>>;
  /** Of these blobs, those an instance references: one question for many, where all ids would not fit in memory. */
  blobsReferenced(blobIds: readonly string[]): Promise<Set<string>>;
  /**
   * Patients whose attributes must be read again from a file of their study (an index from before patients with an
   * empty Patient ID were kept apart); `blobId` is one instance of that study. Start-up recovery restores them.
   */
  patientsAwaitingAttributes(): Promise<{ patientKey: number; blobId: string }[]>;
  restorePatientAttributes(patientKey: number, attributes: PatientAttributes): Promise<void>;
  /** Blobs of removed instances, until recovery has seen them gone. */
  removedBlobIds(): Promise<Set<string>>;
  forgetRemovedBlobs(blobIds: Iterable<string>): Promise<void>;
  stats(): Promise<IndexStats>;
  close(): Promise<void>;
}

export interface RecoveryReport {
  /** Writes that never reached their fdatasync: nothing was acknowledged for them. */
  tempFilesRemoved: number;
  /** Complete temp files whose rename a power cut undid, moved into place. */
  tempFilesCompleted: number;
  /** Blobs of removed instances that were still on disk. */
  orphanBlobsRemoved: number;
  /**
   * Durable blobs the index does not list (the index commit did not survive a power cut, or the process died between
   * the fdatasync and the commit): the caller indexes them again from their content.
   */
  unindexedBlobs: string[];
  /** Blob ids of indexed instances whose file is gone; their rows are kept for an operator to decide. */
  missingBlobs: string[];
}

export interface Store {
  blobs: BlobStore;
  index: StudyIndex;
  /** Run at start-up before accepting writes; the caller then indexes `unindexedBlobs` again (StudyService.recover). */
  recover(): Promise<RecoveryReport>;
  close(): Promise<void>;
}
