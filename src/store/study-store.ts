import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { assertKey } from './encryption-key.ts';
import { FsBlobStore } from './fs-blob-store.ts';
import type { PostgresPool } from '../database/index.ts';
import { PostgresStudyIndex } from './postgres-study-index.ts';
import { SqliteStudyIndex } from './sqlite-study-index.ts';
import { studyIndexLeftBehind } from './migrate-study-index.ts';
import { asStoreError, StoreError } from './store-error.ts';
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
  const blobs = new FsBlobStore(o.dataDir, Buffer.from(o.encryptionKey));
  try {
    const embedded = join(o.dataDir, 'index.sqlite');
    const left = o.postgres !== undefined ? await studyIndexLeftBehind(embedded, index) : undefined;
    if (left !== undefined)
      throw new StoreError(
        'INDEX_NOT_MIGRATED',
        `the study index in ${embedded} (${left} instances) is not in the database`,
      );
    await blobs.init();
  } catch (err) {
    await index.close();
    throw err;
  }
  return new EmbeddedStore(blobs, index);
}

class EmbeddedStore implements Store {
  readonly blobs: BlobStore;
  readonly index: StudyIndex;
  readonly #fsBlobs: FsBlobStore;
  /** Blobs younger than this were written by this process and may be waiting for their index commit. */
  readonly #openedAt = Date.now();

  constructor(blobs: FsBlobStore, index: StudyIndex) {
    this.blobs = blobs;
    this.#fsBlobs = blobs;
    this.index = index;
  }

  async recover(): Promise<RecoveryReport> {
    const temp = await this.#fsBlobs.settleTempFiles();
    const referenced = await this.index.referencedBlobIds();
    const removed = await this.index.removedBlobIds();
    let orphanBlobsRemoved = 0;
    const unindexedBlobs: string[] = [];
    for await (const blobId of this.#fsBlobs.list()) {
      if (referenced.delete(blobId)) continue;
      if (this.#fsBlobs.isInFlight(blobId) || (await this.#writtenSinceOpen(blobId))) continue;
      if (removed.has(blobId)) {
        await this.#fsBlobs.delete(blobId);
        orphanBlobsRemoved += 1;
      } else {
        unindexedBlobs.push(blobId);
      }
    }
    // Every removed blob is gone from disk now.
    if (removed.size > 0) await this.index.forgetRemovedBlobs(removed);
    // What is left was indexed but not found on disk. Rows stay: an operator decides (restore from backup or remove).
    const missingBlobs: string[] = [];
    for (const blobId of referenced) {
      if (!(await this.#fsBlobs.exists(blobId))) missingBlobs.push(blobId);
    }
    return {
      tempFilesRemoved: temp.removed,
      tempFilesCompleted: temp.completed,
      orphanBlobsRemoved,
      unindexedBlobs: unindexedBlobs.sort(),
      missingBlobs: missingBlobs.sort(),
    };
  }

  async close(): Promise<void> {
    await this.#fsBlobs.close();
    await this.index.close();
  }

  async #writtenSinceOpen(blobId: string): Promise<boolean> {
    const mtime = await this.#fsBlobs.modifiedAtMs(blobId);
    return mtime === undefined || mtime >= this.#openedAt;
  }
}
