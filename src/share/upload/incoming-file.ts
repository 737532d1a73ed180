import { createCipheriv, createHmac } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { type Readable, Transform } from 'node:stream';

const BLOCK = 16;

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
   * A body cut off mid-way leaves what arrived, for the client to resume from. `durable` (the default) makes it so
   * before answering: a resumable upload's offset must hold after a crash. A file that arrives whole or not at all
   * (SFTP) skips that: after a crash it is sent again anyway, and a flush of a whole file to disk would only be waited
   * for.
   */
  async append(
    offset: number,
    body: Readable,
    max: number,
    o: { durable: boolean } = { durable: true },
  ): Promise<number> {
    let taken = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, done) {
        taken += chunk.length;
        if (taken > max) done(new RangeError('more bytes than the upload announced'));
        else done(null, chunk);
      },
    });
    const out = createWriteStream(this.path, { flags: 'r+', start: offset, mode: 0o600 });
    try {
      await pipeline(body, limit, ctrStream(this.#key, offset), out);
    } finally {
      // Whatever arrived is kept, and made durable, so a resumed upload goes on from the offset it is told.
      if (o.durable) {
        const f = await open(this.path, 'r+');
        await f.sync();
        await f.close();
      }
    }
    return offset + taken;
  }

  /** The plaintext of bytes [start, end), decrypted as it streams. */
  read(start = 0, end?: number): Readable {
    return createReadStream(this.path, { start, ...(end !== undefined ? { end: end - 1 } : {}) }).pipe(
      ctrStream(this.#key, start),
    );
  }

  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }
}
