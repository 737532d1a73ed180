import { createHash, type Hash, randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { rename, unlink } from 'node:fs/promises';
import { blobKey, encodeHeader, SEGMENT_SIZE, sealSegment } from './blob-format.ts';
import { asStoreError, StoreError } from './store-error.ts';
import type { BlobRef, BlobWriter } from './types.ts';

/**
 * Sealed bytes gathered before one writev. Each writev is a hop through libuv's thread pool that the next one waits for;
 * with small batches a 500 KB instance waited on several of them in turn and its data fell behind the socket. At 1 MiB
 * a typical CT or MR image goes out in one writev at commit, larger ones in a few that overlap with hashing and
 * encryption of what follows. Memory per writer stays around 1 MiB.
 */
const FLUSH_BYTES = 1024 * 1024;

export interface WriterTarget {
  blobId: string;
  tempPath: string;
  finalPath: string;
  /** Called once the writer is done either way, so the store can stop tracking it. */
  done(blobId: string): void;
}

/**
 * Writes one blob: encrypts segment by segment into a temp file in the data folder, then on commit fdatasyncs it and
 * renames it into place. That one flush is all an acknowledgement waits for: the temp file's name was made durable when
 * it was opened ahead (FsBlobStore), so after a power cut the blob is whole under either its temp or its final name, and
 * recovery moves a whole temp file into place; an incomplete one (its last segment missing or unauthenticated) was never
 * acknowledged and is removed. Until the rename nothing is visible under the blob id.
 */
export class FsBlobWriter implements BlobWriter {
  readonly #fh: FileHandle;
  readonly #target: WriterTarget;
  readonly #key: Buffer;
  readonly #header: Buffer;
  readonly #prefix: Buffer;
  readonly #hash: Hash = createHash('sha256');
  readonly #pending: Buffer = Buffer.allocUnsafe(SEGMENT_SIZE);
  #pendingLength = 0;
  #segmentIndex = 0;
  #size = 0;
  #out: Buffer[] = [];
  #outBytes = 0;
  #state: 'open' | 'busy' | 'closed' = 'open';
  #inFlight: Promise<void> | undefined;
  #writeError: unknown;

  constructor(fh: FileHandle, target: WriterTarget, storeKey: Buffer, keyId: Buffer) {
    this.#fh = fh;
    this.#target = target;
    const salt = randomBytes(16);
    this.#prefix = randomBytes(8);
    this.#key = blobKey(storeKey, salt, target.blobId);
    this.#header = encodeHeader({ keyId, blobId: target.blobId, salt, noncePrefix: this.#prefix, segmentSize: SEGMENT_SIZE });
    this.#out.push(this.#header);
    this.#outBytes = this.#header.length;
  }

  async write(chunk: Buffer): Promise<void> {
    this.#enter('write');
    try {
      this.#hash.update(chunk);
      this.#size += chunk.length;
      let at = 0;
      while (at < chunk.length) {
        // A full segment is sealed only when more data follows: the last segment must be sealed as final.
        if (this.#pendingLength === SEGMENT_SIZE) this.#sealPending(false);
        const n = chunk.copy(this.#pending, this.#pendingLength, at);
        this.#pendingLength += n;
        at += n;
      }
      if (this.#outBytes >= FLUSH_BYTES) await this.#startFlush();
      this.#state = 'open';
    } catch (err) {
      throw await this.#fail(err, 'writing a blob');
    }
  }

  async commit(): Promise<BlobRef> {
    this.#enter('commit');
    try {
      this.#sealPending(true);
      await this.#startFlush();
      await this.#settle();
      await this.#fh.datasync();
      await rename(this.#target.tempPath, this.#target.finalPath);
      // The data is durable and in place; closing the descriptor need not delay the acknowledgement.
      const fh = this.#fh;
      void fh.close().catch(() => undefined);
      this.#state = 'closed';
      this.#target.done(this.#target.blobId);
      return { blobId: this.#target.blobId, size: this.#size, sha256: this.#hash.digest('hex') };
    } catch (err) {
      throw await this.#fail(err, 'committing a blob');
    }
  }

  async abort(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    await this.#discard();
  }

  #enter(what: string): void {
    if (this.#state !== 'open') {
      throw new StoreError('WRITER_CLOSED', `cannot ${what}: the blob writer is ${this.#state === 'busy' ? 'busy' : 'closed'}`);
    }
    this.#state = 'busy';
  }

  #sealPending(final: boolean): void {
    const plain = this.#pending.subarray(0, this.#pendingLength);
    for (const sealed of sealSegment(this.#key, this.#header, this.#prefix, this.#segmentIndex, final, plain)) {
      this.#out.push(sealed);
      this.#outBytes += sealed.length;
    }
    this.#segmentIndex += 1;
    this.#pendingLength = 0;
  }

  /** Waits for the previous writev, then starts one for what is sealed now without waiting for it. */
  async #startFlush(): Promise<void> {
    await this.#settle();
    const buffers = this.#out;
    this.#out = [];
    this.#outBytes = 0;
    // The handler is attached at once, so a failed write is never an unhandled rejection; #settle() rethrows it.
    this.#inFlight = writeAll(this.#fh, buffers).then(
      () => undefined,
      (err: unknown) => {
        this.#writeError = err;
      },
    );
  }

  async #settle(): Promise<void> {
    const pending = this.#inFlight;
    this.#inFlight = undefined;
    if (pending !== undefined) await pending;
    if (this.#writeError !== undefined) throw this.#writeError;
  }

  async #fail(err: unknown, what: string): Promise<StoreError> {
    this.#state = 'closed';
    await this.#discard();
    return asStoreError(err, what);
  }

  async #discard(): Promise<void> {
    await this.#inFlight;
    await this.#fh.close().catch(() => undefined);
    await unlink(this.#target.tempPath).catch(() => undefined);
    this.#target.done(this.#target.blobId);
  }
}

async function writeAll(fh: FileHandle, buffers: Buffer[]): Promise<void> {
  let rest = buffers;
  let remaining = rest.reduce((n, b) => n + b.length, 0);
  while (remaining > 0) {
    const { bytesWritten } = await fh.writev(rest);
    remaining -= bytesWritten;
    if (remaining > 0) rest = skipBytes(rest, bytesWritten);
  }
}

/** A short write (rare on regular files, e.g. just before ENOSPC) leaves a tail to write again. */
function skipBytes(buffers: Buffer[], n: number): Buffer[] {
  let skip = n;
  const rest: Buffer[] = [];
  for (const b of buffers) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    rest.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return rest;
}
