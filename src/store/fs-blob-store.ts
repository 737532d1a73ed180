import { randomBytes } from 'node:crypto';
import { constants, createReadStream, createWriteStream, existsSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { chmod, type FileHandle, lstat, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BLOB_ID_PATTERN } from './blob-format.ts';
import { blobRangeStream, type StoredRange } from './blob-range-read.ts';
import { giveBack, openBlobStream } from './blob-read-pool.ts';
import { AlignedSlots, DIRECT_IO_ALIGNMENT, directWriteSlots } from './aligned-slots.ts';
import { ThreadBlobWriter, writerThreads } from './blob-write-pool.ts';
import { type BlobPreparation, type FsBlobWriter, openBlobWriter } from './fs-blob-writer.ts';
import { fsyncDir } from './fs-sync.ts';
import { asStoreError, isNotFound, StoreError } from './store-error.ts';
import type { BlobStore, BlobWriter } from './types.ts';
import { keyIdOf } from './encryption-key.ts';

const TEMP_SUFFIX = '.tmp';
const FANOUT = /^[0-9a-f]{2}$/;

/**
 * Random bytes for new blobs, drawn a hundred blobs' worth at a time: three calls per instance measured ~30 µs each of
 * the event loop under load. A drawn block is never written again, so what a blob holds of it stays its own.
 */
const BLOB_RANDOM = 40;
let randomPool = Buffer.alloc(0);
let randomAt = 0;

function randomForBlob(): Buffer {
  if (randomAt + BLOB_RANDOM > randomPool.length) {
    randomPool = randomBytes(100 * BLOB_RANDOM);
    randomAt = 0;
  }
  randomAt += BLOB_RANDOM;
  return randomPool.subarray(randomAt - BLOB_RANDOM, randomAt);
}

/**
 * Encrypted blobs in a folder: `blobs/ab/<32 hex>` (256 fan-out folders, about 4,000 files each per million instances) with generated ids (never from received data), and `tmp/` for
 * blobs being written. Both live in the same data folder, so the final rename is atomic.
 */
export class FsBlobStore implements BlobStore {
  readonly #blobsDir: string;
  readonly #tempDir: string;
  readonly #key: Buffer;
  readonly #keyId: Buffer;
  /** Blob ids this process is writing right now; recovery must not take their temp files. */
  readonly #inFlight = new Set<string>();
  /** Blob ids handed out by create() and not yet committed or discarded. */
  readonly #writing = new Set<string>();
  /** A blob on the event loop prepared ahead of the next create() that writes there. */
  #spare: { blobId: string; opening: Promise<FsBlobWriter> } | undefined;
  /** A blob on a writer thread prepared ahead of the next create() that writes on one. */
  #threadSpare: ThreadBlobWriter | undefined;
  /** Aligned buffers for direct writes on the event loop, when the data folder's file system takes O_DIRECT. */
  #slots: AlignedSlots | undefined;
  /** Whether the data folder's file system takes O_DIRECT; known after init(). */
  #direct: boolean | undefined;
  #closed = false;

  constructor(dataDir: string, key: Buffer) {
    this.#blobsDir = join(dataDir, 'blobs');
    this.#tempDir = join(dataDir, 'tmp');
    this.#key = key;
    this.#keyId = keyIdOf(key);
  }

  /**
   * Creates the folders, private to the node's user, including all 256 fan-out folders: creating one lazily would cost
   * an extra mkdir and two directory fsyncs on the acknowledgement path of the first blobs that land in it.
   */
  async init(): Promise<void> {
    try {
      await mkdir(this.#blobsDir, { recursive: true, mode: 0o700 });
      await mkdir(this.#tempDir, { recursive: true, mode: 0o700 });
      const present = new Set(await readdir(this.#blobsDir));
      let created = 0;
      for (let n = 0; n < 256; n += 1) {
        const name = n.toString(16).padStart(2, '0');
        if (present.has(name)) continue;
        await mkdir(join(this.#blobsDir, name), { mode: 0o700 });
        created += 1;
      }
      if (created > 0) await fsyncDir(this.#blobsDir);
      this.#direct = await probeDirectIo(this.#tempDir);
    } catch (err) {
      throw asStoreError(err, 'creating the blob folders');
    }
  }

  /** Whether blobs go to the disk with direct I/O (known after init()). */
  get writesDirect(): boolean {
    return this.#direct === true;
  }

  /**
   * A writer for a new blob, on the event loop when no other blob of this store is being written, else on a writer
   * thread (blob-write-pool.ts). One association sends one instance at a time and waits for each acknowledgement: its
   * blob written where its bytes arrive waits for no thread to wake up. Several at once keep the event loop busy
   * receiving, and the threads seal, hash and write beside it, on the other cores.
   *
   * Either kind was prepared ahead (temp file created and its name made durable, key derived) and the next of its kind
   * is prepared now: creating a file measured over a millisecond during ingest, time that would otherwise sit between
   * an instance's first bytes and its acknowledgement.
   */
  async create(): Promise<BlobWriter> {
    if (this.#closed || this.#direct === undefined)
      throw new StoreError('WRITER_CLOSED', 'the blob store is not open (init() first)');
    const preparation = this.#draw();
    if (this.#writing.size > 0 && writerThreads() > 0) {
      const writer = this.#threadSpare ?? this.#openOnThread(preparation);
      // As on the event loop: the drawn blob becomes the next spare, unless it was just opened for want of one.
      this.#threadSpare = this.#openOnThread(writer === this.#threadSpare ? preparation : this.#draw());
      this.#writing.add(writer.blobId);
      return writer;
    }
    const next = this.#spare ?? this.#openHere(preparation);
    // The drawn blob becomes the next spare, unless it was just opened for want of one.
    this.#spare = this.#openHere(next === this.#spare ? preparation : this.#draw());
    this.#writing.add(next.blobId);
    let writer: FsBlobWriter;
    try {
      writer = await next.opening;
    } catch (err) {
      throw asStoreError(err, 'creating a blob');
    }
    return writer;
  }

  open(blobId: string, opts?: { start?: number; chunkBytes?: number }): NodeJS.ReadableStream {
    let path: string;
    try {
      path = this.#pathOf(blobId);
    } catch (err) {
      // Report through the stream like every other read failure, so callers handle one path.
      return new Readable({ read() {} }).destroy(err instanceof Error ? err : new Error(String(err)));
    }
    return openBlobStream(path, blobId, this.#key, this.#keyId, opts?.start ?? 0, opts?.chunkBytes);
  }

  /** A blob kept elsewhere (object storage), read by ranges of its stored bytes and decrypted with this store's key. */
  openStoredElsewhere(blobId: string, read: StoredRange, start: number): NodeJS.ReadableStream {
    return blobRangeStream(read, blobId, this.#key, this.#keyId, start);
  }

  giveBack(piece: Buffer): void {
    giveBack(piece);
  }

  async delete(blobId: string): Promise<void> {
    try {
      await unlink(this.#pathOf(blobId));
    } catch (err) {
      if (isNotFound(err)) return;
      throw asStoreError(err, `deleting blob ${blobId}`);
    }
  }

  async *list(): AsyncIterable<string> {
    for (const a of await this.#names(this.#blobsDir)) {
      if (!FANOUT.test(a)) continue;
      for (const name of await this.#names(join(this.#blobsDir, a))) {
        if (BLOB_ID_PATTERN.test(name) && name.startsWith(a)) yield name;
      }
    }
  }

  async exists(blobId: string): Promise<boolean> {
    try {
      return (await lstat(this.#pathOf(blobId))).isFile();
    } catch (err) {
      if (isNotFound(err)) return false;
      throw asStoreError(err, `checking blob ${blobId}`);
    }
  }

  async modifiedAtMs(blobId: string): Promise<number | undefined> {
    try {
      return (await lstat(this.#pathOf(blobId))).mtimeMs;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw asStoreError(err, `checking blob ${blobId}`);
    }
  }

  /**
   * For a store that keeps its blobs elsewhere too (object storage): the blob as stored, encrypted, to copy as it is.
   * Permission bits mark what is copied: a blob is written 0600, and 0400 once `markCopied` (still the node's alone).
   */
  readStored(blobId: string): NodeJS.ReadableStream {
    return createReadStream(this.#pathOf(blobId));
  }

  /** Whether the blob is in the data folder now: a synchronous look, for a store that may fetch it first. */
  holds(blobId: string): boolean {
    try {
      return existsSync(this.#pathOf(blobId));
    } catch {
      // An invalid id: open() reports it.
      return true;
    }
  }

  async markCopied(blobId: string): Promise<void> {
    await chmod(this.#pathOf(blobId), 0o400);
  }

  /**
   * The blob's file as a cache of object storage sees it: its size, when last written or read (the kernel's access
   * time, which `relatime` updates on the first read after a write and then daily), and whether it is copied.
   */
  async stat(blobId: string): Promise<{ bytes: number; usedAtMs: number; copied: boolean } | undefined> {
    try {
      const s = await lstat(this.#pathOf(blobId));
      return { bytes: s.size, usedAtMs: Math.max(s.atimeMs, s.mtimeMs), copied: (s.mode & 0o200) === 0 };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw asStoreError(err, `checking blob ${blobId}`);
    }
  }

  /**
   * Puts a stored blob copied from elsewhere (encrypted as it is) in place, marked as copied: read through the tmp/
   * folder and renamed, so no reader sees half of it. Not fsync'd: it can be fetched again.
   */
  async putStored(blobId: string, source: NodeJS.ReadableStream): Promise<void> {
    const final = this.#pathOf(blobId);
    const temp = join(this.#tempDir, `fetch-${blobId}-${randomBytes(4).toString('hex')}`);
    try {
      await pipeline(source, createWriteStream(temp, { mode: 0o400, flags: 'wx' }));
      await rename(temp, final);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
  }

  /** Closes and removes the spare temp files; create() must not be called afterwards. */
  async close(): Promise<void> {
    this.#closed = true;
    const spare = await this.#spare?.opening.catch(() => undefined);
    this.#spare = undefined;
    await spare?.abort();
    await this.#threadSpare?.abort();
    this.#threadSpare = undefined;
  }

  /** A new blob's id and randomness, tracked as in flight from the start so recovery leaves its temp file alone. */
  #draw(): BlobPreparation {
    // The blob id, the salt of its key and the random half of its nonces, from one draw.
    const random = randomForBlob();
    const blobId = random.toString('hex', 0, 16);
    this.#inFlight.add(blobId);
    return {
      blobId,
      salt: random.subarray(16, 32),
      noncePrefix: random.subarray(32, 40),
      storeKey: this.#key,
      keyId: this.#keyId,
      tempDir: this.#tempDir,
      tempPath: join(this.#tempDir, blobId + TEMP_SUFFIX),
      finalPath: this.#pathOf(blobId),
    };
  }

  #openOnThread(preparation: BlobPreparation): ThreadBlobWriter {
    const direct = this.#direct === true;
    return new ThreadBlobWriter({ ...preparation, direct }, () => this.#finished(preparation.blobId));
  }

  #openHere(preparation: BlobPreparation): { blobId: string; opening: Promise<FsBlobWriter> } {
    if (this.#direct === true) this.#slots ??= directWriteSlots();
    const opening = openBlobWriter(preparation, this.#slots, (blobId) => this.#finished(blobId));
    // A failed spare is reported by the create() that takes it; until then its rejection is expected, not unhandled.
    opening.catch(() => this.#finished(preparation.blobId));
    return { blobId: preparation.blobId, opening };
  }

  #finished(blobId: string): void {
    this.#inFlight.delete(blobId);
    this.#writing.delete(blobId);
  }

  /**
   * Settles the temp files of an earlier run (a crash, a kill, a power cut), except blobs being written now: a temp file
   * that authenticates to its final segment was fdatasync'd and perhaps acknowledged, and only its rename was lost, so
   * it moves into place; anything else (a write cut short, an unused spare) is removed.
   */
  async settleTempFiles(): Promise<{ removed: number; completed: number }> {
    let removed = 0;
    let completed = 0;
    for (const name of await this.#names(this.#tempDir)) {
      const id = name.endsWith(TEMP_SUFFIX) ? name.slice(0, -TEMP_SUFFIX.length) : undefined;
      if (id !== undefined && this.#inFlight.has(id)) continue;
      const path = join(this.#tempDir, name);
      try {
        if (id !== undefined && BLOB_ID_PATTERN.test(id) && (await this.#isWhole(path, id))) {
          await rename(path, this.#pathOf(id));
          await fsyncDir(join(this.#blobsDir, id.slice(0, 2)));
          completed += 1;
        } else {
          await unlink(path);
          removed += 1;
        }
      } catch (err) {
        if (!isNotFound(err)) throw asStoreError(err, 'settling a temp file');
      }
    }
    if (removed + completed > 0) await fsyncDir(this.#tempDir);
    return { removed, completed };
  }

  async #isWhole(path: string, blobId: string): Promise<boolean> {
    try {
      for await (const chunk of openBlobStream(path, blobId, this.#key, this.#keyId, 0)) void chunk;
      return true;
    } catch {
      return false;
    }
  }

  isInFlight(blobId: string): boolean {
    return this.#inFlight.has(blobId);
  }

  #pathOf(blobId: string): string {
    if (!BLOB_ID_PATTERN.test(blobId)) throw new StoreError('BLOB_ID_INVALID', 'a blob id is 32 lowercase hex digits');
    return join(this.#blobsDir, blobId.slice(0, 2), blobId);
  }

  async #names(dir: string): Promise<string[]> {
    try {
      return await readdir(dir);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw asStoreError(err, 'listing blobs');
    }
  }
}

/**
 * Whether direct writes work in `dir`: the file system must take O_DIRECT (some, such as older tmpfs, refuse it)
 * and an aligned write must go through. If not, blobs are written through the page cache.
 */
async function probeDirectIo(dir: string): Promise<boolean> {
  const O_DIRECT = constants.O_DIRECT as number | undefined;
  if (O_DIRECT === undefined) return false;
  const slot = new AlignedSlots({ slotBytes: DIRECT_IO_ALIGNMENT, slotsPerMemory: 16, maxMemories: 1 }).take();
  if (slot === undefined) return false;
  // Not a temp-file name: recovery removes it if a crash leaves it behind.
  const path = join(dir, `direct-io-probe-${randomBytes(8).toString('hex')}`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_DIRECT, 0o600);
    await fh.write(slot, 0, DIRECT_IO_ALIGNMENT, 0);
    return true;
  } catch {
    return false;
  } finally {
    await fh?.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
  }
}
