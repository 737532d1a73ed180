import { type Cipher, createCipheriv, createHmac } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, rm, stat } from 'node:fs/promises';
import { type Readable, Transform } from 'node:stream';

const BLOCK = 16;
/** How much of a file is encrypted and written, or read and decrypted, at a time. */
const WRITE_BYTES = 1024 * 1024;

/**
 * AES-256-CTR over a whole file, so any byte range can be written or read on its own: an upload resumes at any offset
 * and a zip is read where its directory points. The key is the upload's own (derived from the node's key), the counter
 * starts at the block of the first byte.
 */
function ctrAt(key: Buffer, offset: number): { cipher: ReturnType<typeof createCipheriv>; skip: number } {
  const iv = Buffer.alloc(BLOCK);
  // The counter is the block number; files stay far below 2^53 bytes, so the low 8 bytes hold it.
  iv.writeBigUInt64BE(BigInt(Math.floor(offset / BLOCK)), 8);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const skip = offset % BLOCK;
  if (skip > 0) cipher.update(Buffer.alloc(skip));
  return { cipher, skip };
}

const ctrStream = (key: Buffer, offset: number): Transform => {
  const { cipher } = ctrAt(key, offset);
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      done(null, cipher.update(chunk));
    },
  });
};

/** Encrypted writes waiting for the disk, at most: then the sender waits. */
const WRITES_AHEAD = 8 * WRITE_BYTES;

/**
 * Pieces appended to an incoming file: gathered (copied) into one buffer, encrypted and written a MiB at a time, as one
 * cipher call and one write per piece (SFTP: 32 KB each) cost more than the bytes themselves, and a copy of each
 * piece is a GB of garbage per GB received.
 */
export class IncomingWriter {
  readonly #file: FileHandle;
  readonly #cipher: Cipher;
  readonly #max: number;
  readonly #gather = Buffer.allocUnsafe(WRITE_BYTES);
  #gathered = 0;
  #taken = 0;
  /** Where the next encrypted MiB goes. */
  #at: number;
  #writing: Promise<void> = Promise.resolve();
  #ahead = 0;
  #failed: unknown;

  constructor(file: FileHandle, cipher: Cipher, offset: number, max: number) {
    this.#file = file;
    this.#cipher = cipher;
    this.#at = offset;
    this.#max = max;
  }

  /** The file's size once what was taken is written. */
  get size(): number {
    return this.#at + this.#gathered;
  }

  /**
   * Takes a piece (its memory may be reused once this returns); answers a promise when the sender should wait for the
   * disk before the next, and throws a RangeError past `max`, or what failed to be written.
   */
  write(piece: Buffer): Promise<void> | undefined {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#taken + piece.length > this.#max) throw new RangeError('more bytes than the upload announced');
    this.#taken += piece.length;
    for (let from = 0; from < piece.length;) {
      const n = piece.copy(this.#gather, this.#gathered, from);
      this.#gathered += n;
      from += n;
      if (this.#gathered === WRITE_BYTES) this.#flush();
    }
    return this.#ahead >= WRITES_AHEAD ? this.#writing : undefined;
  }

  /** Writes what is left, makes all of it durable and closes the file (also after a failure, for what did arrive). */
  async end(): Promise<void> {
    try {
      if (this.#failed === undefined) this.#flush();
      await this.#writing;
      await this.#file.sync();
    } finally {
      await this.#file.close();
    }
    if (this.#failed !== undefined) throw this.#failed;
  }

  #flush(): void {
    if (this.#gathered === 0) return;
    // The cipher's output is new memory: the gathering buffer is free again at once.
    const encrypted = this.#cipher.update(this.#gather.subarray(0, this.#gathered));
    const at = this.#at;
    this.#at += this.#gathered;
    this.#gathered = 0;
    this.#ahead += encrypted.length;
    this.#writing = this.#writing.then(async () => {
      if (this.#failed !== undefined) return;
      try {
        await this.#file.write(encrypted, 0, encrypted.length, at);
      } catch (err) {
        this.#failed = err;
      } finally {
        this.#ahead -= encrypted.length;
      }
    });
  }
}

/**
 * A file as it arrives from an upload, kept encrypted in the quarantine's incoming folder (0600) until it is complete
 * and taken in: the node writes no patient data in plaintext, not even for a moment.
 */
export class IncomingFile {
  readonly path: string;
  readonly #key: Buffer;

  constructor(path: string, nodeKey: Buffer, uploadId: string) {
    this.path = path;
    this.#key = createHmac('sha256', nodeKey).update(`quarantine incoming file:${uploadId}`).digest();
  }

  /** Creates the empty file, private to the node. */
  async create(): Promise<void> {
    const f = await open(this.path, 'wx', 0o600);
    await f.close();
  }

  async size(): Promise<number> {
    return (await stat(this.path)).size;
  }

  /**
   * Appends what `body` brings at `offset` (which must be the file's size), at most `max` bytes: answers the new size.
   * A body cut off mid-way leaves what arrived, for the client to resume from, durable before this answers: a resumable
   * upload's offset must hold after a crash.
   */
  async append(offset: number, body: AsyncIterable<Buffer>, max: number): Promise<number> {
    const writer = await this.writer(offset, max);
    try {
      for await (const chunk of body) await writer.write(chunk);
    } finally {
      await writer.end();
    }
    return writer.size;
  }

  /**
   * A writer that appends at `offset` (the file's size), at most `max` bytes, for pieces that come one by one (an SFTP
   * client's writes); `end()` makes what it took durable.
   */
  async writer(offset: number, max: number): Promise<IncomingWriter> {
    return new IncomingWriter(await open(this.path, 'r+'), ctrAt(this.#key, offset).cipher, offset, max);
  }

  /** The plaintext of `length` bytes from `position` (fewer at the end of the file), read at once. */
  async readAt(position: number, length: number): Promise<Buffer> {
    const f = await open(this.path, 'r');
    try {
      const { buffer, bytesRead } = await f.read(Buffer.alloc(length), 0, length, position);
      return ctrAt(this.#key, position).cipher.update(buffer.subarray(0, bytesRead));
    } finally {
      await f.close();
    }
  }

  /** The plaintext of bytes [start, end), decrypted as it streams. */
  read(start = 0, end?: number): Readable {
    return createReadStream(this.path, {
      start,
      ...(end !== undefined ? { end: end - 1 } : {}),
      highWaterMark: WRITE_BYTES,
    }).pipe(ctrStream(this.#key, start));
  }

  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }
}
