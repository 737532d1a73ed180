import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { assertKey } from './encryption-key.ts';
import { FsBlobStore } from './fs-blob-store.ts';
import type { PostgresPool } from '../database/index.ts';
import { PostgresStudyIndex } from './postgres-study-index.ts';
import { SqliteStudyIndex } from './sqlite-study-index.ts';
import { studyIndexLeftBehind } from './migrate-study-index.ts';
import { asStoreError, StoreError } from './store-error.ts';
import { ObjectBlobStore } from './object-blob-store.ts';
import { ObjectBucket, type ObjectStorageSettings } from './object-bucket.ts';
import type { BlobStore, RecoveryReport, Store, StudyIndex } from './types.ts';

/**
 * The study store: encrypted blobs under `<dataDir>/blobs` (temp files under `<dataDir>/tmp`) and the index, by default
 * `<dataDir>/index.sqlite`, or on a PostgreSQL server (`postgres`: a pool the caller ends, whose connections work in
 * `schema` when named, so a second store on the same database keeps its own tables). The write order (blob durable first, then the index commit) means a
 * crash can leave an unindexed blob or a temp file, never an indexed instance without its file. The blob is the record
 * of an acknowledged instance: recover() puts whole temp files in place and reports the blobs the index lacks, which
 * the caller indexes again from their content.
 */
export async function openStudyStore(o: {
  dataDir: string;
  encryptionKey: Buffer;
  postgres?: { pool: PostgresPool; schema?: string | undefined } | undefined;
  /** Blobs in this bucket (under `prefix`), written through the data folder (ObjectBlobStore). */
  objects?:
    | {
        settings: ObjectStorageSettings;
        prefix: string;
        /** Bytes of uploaded blobs the data folder keeps (ObjectBlobStore's cache); all of them when left out. */
        cacheBytes?: number | undefined;
        onUploadFailed?: (blobId: string, err: unknown) => void;
      }
    | undefined;
}): Promise<Store> {
  assertKey(o.encryptionKey);
  try {
    mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw asStoreError(err, `creating the data folder ${o.dataDir}`);
  }
  const index =
    o.postgres !== undefined
      ? await PostgresStudyIndex.open(o.postgres.pool, { ownsPool: false, schema: o.postgres.schema })
      : new SqliteStudyIndex(join(o.dataDir, 'index.sqlite'));
  const local = new FsBlobStore(o.dataDir, Buffer.from(o.encryptionKey));
  let bucket: ObjectBucket | undefined;
  try {
    const embedded = join(o.dataDir, 'index.sqlite');
    const left = o.postgres !== undefined ? await studyIndexLeftBehind(embedded, index) : undefined;
    if (left !== undefined)
      throw new StoreError(
        'INDEX_NOT_MIGRATED',
        `the study index in ${embedded} (${left} instances) is not in the database`,
      );
    await local.init();
    if (o.objects !== undefined) {
      bucket = await ObjectBucket.open(o.objects.settings, o.objects.prefix);
      const problem = await bucket.problem();
      if (problem !== undefined)
        throw new StoreError(
          'IO',
          `the object storage ${o.objects.settings.endpoint}, bucket ${o.objects.settings.bucket}, cannot be used: ${problem}`,
        );
    }
  } catch (err) {
    bucket?.close();
    await local.close();
    await index.close();
    throw err;
  }
  if (bucket === undefined) return new EmbeddedStore(local, index);
  return new EmbeddedStore(
    local,
    index,
    new ObjectBlobStore(local, bucket, {
      onUploadFailed: o.objects?.onUploadFailed,
      cacheBytes: o.objects?.cacheBytes,
    }),
  );
}

class EmbeddedStore implements Store {
  readonly blobs: BlobStore;
  readonly index: StudyIndex;
  readonly #fsBlobs: FsBlobStore;
  /** Blobs younger than this were written by this process and may be waiting for their index commit. */
  readonly #openedAt = Date.now();

  /**
   * With object storage: uploads what a stop left in the data folder. Blobs then live in the bucket, so one not found
   * in the data folder is not missing.
   */
  readonly #objects: ObjectBlobStore | undefined;

  /** `local`: the blobs in the data folder (all of them, or those on their way to object storage and fetched from it). */
  constructor(local: FsBlobStore, index: StudyIndex, objects?: ObjectBlobStore) {
    this.blobs = objects ?? local;
    this.#fsBlobs = local;
    this.index = index;
    this.#objects = objects;
  }

  async recover(): Promise<RecoveryReport> {
    const temp = await this.#fsBlobs.settleTempFiles();
    // Embedded, every indexed blob is in the data folder, and one missing is reported. With object storage the data
    // folder is a cache, and the index may be an archive's: only its blobs there are looked up, a thousand at a time.
    const referenced = this.#objects === undefined ? await this.index.referencedBlobIds() : undefined;
    const removedAtStart = await this.index.removedBlobIds();
    const removed = new Set(removedAtStart);
    let orphanBlobsRemoved = 0;
    const unindexedBlobs: string[] = [];
    const settle = async (here: string[]): Promise<void> => {
      const indexed =
        referenced !== undefined
          ? new Set(here.filter((blobId) => referenced.delete(blobId)))
          : await this.index.blobsReferenced(here);
      for (const blobId of here) {
        if (indexed.has(blobId)) continue;
        if (this.#fsBlobs.isInFlight(blobId) || (await this.#writtenSinceOpen(blobId))) continue;
        if (removed.delete(blobId)) {
          await this.blobs.delete(blobId);
          orphanBlobsRemoved += 1;
        } else {
          unindexedBlobs.push(blobId);
        }
      }
    };
    let here: string[] = [];
    for await (const blobId of this.#fsBlobs.list()) {
      here.push(blobId);
      if (here.length === 1000) {
        await settle(here);
        here = [];
      }
    }
    await settle(here);
    // A removed blob not in the data folder may still be in the bucket (a node stopped between the two deletes).
    if (this.#objects !== undefined) for (const blobId of removed) await this.#objects.delete(blobId);
    // Every removed blob is gone now.
    if (removedAtStart.size > 0) await this.index.forgetRemovedBlobs(removedAtStart);
    // What is left was indexed but not found on disk. Rows stay: an operator decides (restore from backup or remove).
    const missingBlobs: string[] = [];
    for (const blobId of referenced ?? []) {
      if (!(await this.#fsBlobs.exists(blobId))) missingBlobs.push(blobId);
    }
    await this.#objects?.start();
    return {
      tempFilesRemoved: temp.removed,
      tempFilesCompleted: temp.completed,
      orphanBlobsRemoved,
      unindexedBlobs: unindexedBlobs.sort(),
      missingBlobs: missingBlobs.sort(),
    };
  }

  async close(): Promise<void> {
    await (this.#objects ?? this.#fsBlobs).close();
    await this.index.close();
  }

  async #writtenSinceOpen(blobId: string): Promise<boolean> {
    const mtime = await this.#fsBlobs.modifiedAtMs(blobId);
    return mtime === undefined || mtime >= this.#openedAt;
  }
}
