import { finished, PassThrough, pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FsBlobStore } from './fs-blob-store.ts';
import type { ObjectBucket } from './object-bucket.ts';
import { StoreError } from './store-error.ts';
import type { BlobRef, BlobStore, BlobWriter } from './types.ts';

/** Uploads running at once; each streams one blob (in parts when large). */
const UPLOADS = 4;
/** A failed upload waits this long before the next try, doubling up to the maximum. */
const RETRY_MS = { first: 1_000, max: 60_000 };
/**
 * An object not (yet) in the bucket is asked for again after these waits before it counts as not found: the node
 * that received it acknowledged it from its own disk and uploads it within moments.
 */
const NOT_YET_MS = [100, 200, 400, 800, 1_600, 3_200];

/**
 * Blobs in S3-compatible object storage, written through the node's data folder: a blob is encrypted and made durable
 * on local disk first (so an acknowledgement waits only for that), then uploaded as it is (the bucket never sees
 * plaintext, and every segment stays authenticated), and marked copied. Reads take the local copy when there is one,
 * and otherwise fetch the object into the data folder first, so a blob another node received reads the same way.
 * What is not yet copied (a stop, an outage of the storage) is uploaded after `start()`, with back-off.
 *
 * The data folder is a cache of the bucket: copies beyond `cacheBytes` are removed there, least recently used first
 * (they stay in the bucket), never one being read and never one not yet uploaded. So its size, and the work of a
 * start, follow the cache and not the archive.
 */
export class ObjectBlobStore implements BlobStore {
  readonly #local: FsBlobStore;
  readonly #bucket: ObjectBucket;
  readonly #onUploadFailed: (blobId: string, err: unknown) => void;
  /** Blobs waiting for their upload, in the order they were committed. */
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #uploading = new Map<string, Promise<void>>();
  readonly #fetching = new Map<string, Promise<void>>();
  readonly #retries = new Set<NodeJS.Timeout>();
  #failures = 0;
  #idle: (() => void)[] = [];
  #closed = false;
  readonly #cacheBytes: number;
  /** Local copies of blobs that are in the bucket, least recently used first, with their sizes: what may go. */
  readonly #cached = new Map<string, number>();
  #cachedBytes = 0;
  /** Streams open on a local copy, per blob: such a copy stays. */
  readonly #readers = new Map<string, number>();
  /** Local copies being removed: a reader meanwhile fetches the blob again, after the removal. */
  readonly #evicting = new Map<string, Promise<void>>();

  constructor(
    local: FsBlobStore,
    bucket: ObjectBucket,
    o: { onUploadFailed?: ((blobId: string, err: unknown) => void) | undefined; cacheBytes?: number | undefined } = {},
  ) {
    this.#local = local;
    this.#bucket = bucket;
    this.#onUploadFailed = o.onUploadFailed ?? (() => undefined);
    this.#cacheBytes = o.cacheBytes ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Queues every local blob not yet copied to the bucket (from before a stop), and takes the copied ones into the
   * cache, least recently used first (then trims it); returns how many are waiting for their upload.
   */
  async start(): Promise<number> {
    let pending = 0;
    const copies: { blobId: string; bytes: number; usedAtMs: number }[] = [];
    for await (const blobId of this.#local.list()) {
      const s = await this.#local.stat(blobId);
      if (s === undefined) continue;
      if (s.copied) copies.push({ blobId, ...s });
      else {
        this.#enqueue(blobId);
        pending += 1;
      }
    }
    copies.sort((a, b) => a.usedAtMs - b.usedAtMs);
    for (const c of copies) this.#remember(c.blobId, c.bytes);
    await this.#trim();
    return pending;
  }

  async create(): Promise<BlobWriter> {
    const w = await this.#local.create();
    return {
      write: (chunk) => w.write(chunk),
      abort: () => w.abort(),
      commit: async (): Promise<BlobRef> => {
        const ref = await w.commit();
        this.#enqueue(ref.blobId);
        return ref;
      },
    };
  }

  /**
   * The local copy when there is one. Otherwise a read from the start brings the blob into the cache (an instance read
   * whole is often read again: a prior, a retry), and a read from further on (a frame, the rest after a break) streams
   * just those segments from the bucket.
   */
  open(blobId: string, opts?: { start?: number; chunkBytes?: number }): NodeJS.ReadableStream {
    if (!this.#evicting.has(blobId) && this.#local.holds(blobId)) return this.#readLocal(blobId, opts);
    const start = opts?.start ?? 0;
    if (start > 0)
      return this.#local.openStoredElsewhere(
        blobId,
        async (range) => {
          const r = await this.#patiently(() => this.#bucket.getRange(blobId, range));
          if (r === undefined) throw new StoreError('BLOB_NOT_FOUND', `blob ${blobId} is not in the object storage`);
          return r;
        },
        start,
      );
    const out = new PassThrough();
    this.#fetch(blobId).then(
      () => {
        // A reader that goes away mid-way (a dropped connection) closes the local stream too: it stops counting as read.
        pipeline(this.#readLocal(blobId, opts), out, () => undefined);
      },
      (err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))),
    );
    return out;
  }

  /** The local copy, counted as being read until its stream closes, and moved to the recently used end. */
  #readLocal(blobId: string, opts?: { start?: number; chunkBytes?: number }): NodeJS.ReadableStream {
    this.#readers.set(blobId, (this.#readers.get(blobId) ?? 0) + 1);
    const bytes = this.#cached.get(blobId);
    if (bytes !== undefined) {
      this.#cached.delete(blobId);
      this.#cached.set(blobId, bytes);
    }
    const stream = this.#local.open(blobId, opts);
    finished(stream, () => {
      const left = (this.#readers.get(blobId) ?? 1) - 1;
      if (left > 0) this.#readers.set(blobId, left);
      else this.#readers.delete(blobId);
    });
    return stream;
  }

  giveBack(piece: Buffer): void {
    this.#local.giveBack(piece);
  }

  /** From the bucket and the data folder; an upload still waiting is dropped, one under way finishes first. */
  async delete(blobId: string): Promise<void> {
    if (this.#queued.delete(blobId)) this.#queue.splice(this.#queue.indexOf(blobId), 1);
    await this.#uploading.get(blobId)?.catch(() => undefined);
    await this.#bucket.delete(blobId);
    await this.#local.delete(blobId);
    this.#forget(blobId);
  }

  /** Every blob in the bucket, and those of this node still on their way there. */
  async *list(): AsyncIterable<string> {
    const listed = new Set<string>();
    for await (const blobId of this.#bucket.list()) {
      listed.add(blobId);
      yield blobId;
    }
    for await (const blobId of this.#local.list()) if (!listed.has(blobId)) yield blobId;
  }

  /** Blobs committed here and not yet in the bucket. */
  get pendingUploads(): number {
    return this.#queue.length + this.#uploading.size + this.#retries.size;
  }

  /** Resolves once every blob committed so far is in the bucket (tests, a planned stop). */
  drained(): Promise<void> {
    return this.pendingUploads === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Waits for the uploads under way; the rest go after the next start, from the data folder. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#retries) clearTimeout(t);
    this.#retries.clear();
    await Promise.allSettled([...this.#uploading.values(), ...this.#fetching.values()]);
    await this.#local.close();
    this.#bucket.close();
  }

  #enqueue(blobId: string): void {
    if (this.#closed || this.#queued.has(blobId) || this.#uploading.has(blobId)) return;
    this.#queued.add(blobId);
    this.#queue.push(blobId);
    this.#pump();
  }

  #pump(): void {
    while (!this.#closed && this.#uploading.size < UPLOADS && this.#queue.length > 0) {
      const blobId = this.#queue.shift()!;
      this.#queued.delete(blobId);
      const upload = this.#upload(blobId).finally(() => {
        this.#uploading.delete(blobId);
        this.#pump();
        if (this.pendingUploads === 0) for (const resolve of this.#idle.splice(0)) resolve();
      });
      this.#uploading.set(blobId, upload);
    }
  }

  async #upload(blobId: string): Promise<void> {
    try {
      const s = await this.#local.stat(blobId);
      if (s === undefined) return;
      await this.#bucket.put(blobId, this.#local.readStored(blobId), s.bytes);
      await this.#local.markCopied(blobId);
      this.#failures = 0;
      this.#remember(blobId, s.bytes);
      await this.#trim();
    } catch (err) {
      // Deleted meanwhile (retention), before or during the upload: nothing left to upload.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || this.#closed) return;
      this.#onUploadFailed(blobId, err);
      this.#failures += 1;
      const wait = Math.min(RETRY_MS.max, RETRY_MS.first * 2 ** (this.#failures - 1));
      const retry = setTimeout(() => {
        this.#retries.delete(retry);
        this.#enqueue(blobId);
      }, wait);
      retry.unref();
      this.#retries.add(retry);
    }
  }

  /** Brings an object into the data folder once, however many readers ask for it at the same time. */
  #fetch(blobId: string): Promise<void> {
    let fetching = this.#fetching.get(blobId);
    if (fetching === undefined) {
      fetching = (async () => {
        await this.#evicting.get(blobId);
        const body = await this.#patiently(() => this.#bucket.get(blobId));
        if (body === undefined) throw new StoreError('BLOB_NOT_FOUND', `blob ${blobId} is not in the object storage`);
        await this.#local.putStored(blobId, body);
        const s = await this.#local.stat(blobId);
        if (s !== undefined) this.#remember(blobId, s.bytes);
        await this.#trim();
      })().finally(() => this.#fetching.delete(blobId));
      this.#fetching.set(blobId, fetching);
    }
    return fetching;
  }

  /** An object asked for again a few times before it counts as not there: its node may be uploading it right now. */
  async #patiently<T>(get: () => Promise<T | undefined>): Promise<T | undefined> {
    let got = await get();
    for (const wait of NOT_YET_MS) {
      if (got !== undefined || this.#closed) break;
      await sleep(wait);
      got = await get();
    }
    return got;
  }

  /** A local copy that is in the bucket, as just used. */
  #remember(blobId: string, bytes: number): void {
    this.#forget(blobId);
    this.#cached.set(blobId, bytes);
    this.#cachedBytes += bytes;
  }

  #forget(blobId: string): void {
    const bytes = this.#cached.get(blobId);
    if (bytes === undefined) return;
    this.#cached.delete(blobId);
    this.#cachedBytes -= bytes;
  }

  /** Removes the least recently used local copies until the cache fits, passing over those being read. */
  async #trim(): Promise<void> {
    if (this.#cachedBytes <= this.#cacheBytes) return;
    const going: string[] = [];
    let bytes = this.#cachedBytes;
    for (const [blobId, size] of this.#cached) {
      if (bytes <= this.#cacheBytes) break;
      if (this.#readers.has(blobId) || this.#fetching.has(blobId)) continue;
      going.push(blobId);
      bytes -= size;
    }
    await Promise.all(
      going.map((blobId) => {
        this.#forget(blobId);
        const removal = this.#local.delete(blobId).finally(() => this.#evicting.delete(blobId));
        this.#evicting.set(blobId, removal);
        return removal;
      }),
    );
  }

  /** The bytes of local copies the cache holds (those waiting for their upload not counted). */
  get cachedBytes(): number {
    return this.#cachedBytes;
  }
}
