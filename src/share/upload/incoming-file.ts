import { createHmac } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { type Readable, Transform } from 'node:stream';
import { ctrAt, WRITE_BYTES } from './incoming-cipher.ts';
import { IncomingWriter } from './incoming-write-thread.ts';

const ctrStream = (key: Buffer, offset: number): Transform => {
  const cipher = ctrAt(key, offset);
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
   * A body cut off mid-way leaves what arrived, for the client to resume from, durable before this answers: a resumable
   * upload's offset must hold after a crash.
   */
  async append(offset: number, body: AsyncIterable<Buffer>, max: number): Promise<number> {
    const writer = this.writer(offset, max);
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
  writer(offset: number, max: number): IncomingWriter {
    return new IncomingWriter(this.path, this.#key, offset, max);
  }

  /** The plaintext of `length` bytes from `position` (fewer at the end of the file), read at once. */
  async readAt(position: number, length: number): Promise<Buffer> {
    const f = await open(this.path, 'r');
    try {
      const { buffer, bytesRead } = await f.read(Buffer.alloc(length), 0, length, position);
      return ctrAt(this.#key, position).update(buffer.subarray(0, bytesRead));
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
