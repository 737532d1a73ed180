import { createCipheriv, createHmac } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
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
    body: AsyncIterable<Buffer>,
    max: number,
    o: { durable: boolean } = { durable: true },
  ): Promise<number> {
    const f = await open(this.path, 'r+');
    const { cipher } = ctrAt(this.#key, offset);
    let taken = 0;
    let written = offset;
    // An upload arrives in small pieces (SFTP: 32 KB each); they are encrypted and written a MiB at a time, as one
    // cipher call and one write per piece cost more than the bytes themselves.
    const pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return;
      const encrypted = cipher.update(pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes));
      pending.length = 0;
      pendingBytes = 0;
      await f.write(encrypted, 0, encrypted.length, written);
      written += encrypted.length;
    };
    try {
      for await (const chunk of body) {
        if (taken + chunk.length > max) throw new RangeError('more bytes than the upload announced');
        taken += chunk.length;
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= WRITE_BYTES) await flush();
      }
    } finally {
      // Whatever arrived is kept, and made durable, so a resumed upload goes on from the offset it is told.
      await flush();
      if (o.durable) await f.sync();
      await f.close();
    }
    return offset + taken;
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
