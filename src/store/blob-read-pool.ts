import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { SEGMENT_SIZE } from './blob-format.ts';
import type { ReadReply, ReadRequest } from './blob-read-protocol.ts';
import { StoreError } from './store-error.ts';

/** Plaintext per step when the reader does not say: about the MB the reader thread takes from the disk at once. */
export const CHUNK_BYTES = 16 * SEGMENT_SIZE;

/**
 * Reader threads, one fewer than the cores (at least one, at most four): the main thread keeps a core for the
 * sockets. Streaming a study out through the thread pool cost an open, a read, a close and a key derivation there per
 * instance, each a wake-up of a pool thread and of the event loop, and the decryption on the event loop itself; on a
 * 2-core virtual machine the wake-ups alone took a fifth of the node's CPU. A reader thread does all of it in one
 * request per piece.
 */
const READERS = Math.max(1, Math.min(4, availableParallelism() - 1));

class Reader {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, (r: ReadReply) => void>();
  #broken: StoreError | undefined;

  constructor(onExit: () => void) {
    this.#worker = new Worker(new URL('./blob-read-worker.ts', import.meta.url));
    // Idle, the thread keeps nothing alive: a command that has read what it needs exits.
    this.#worker.unref();
    this.#worker.on('message', (r: ReadReply) => {
      const waiter = this.#waiting.get(r.id);
      this.#waiting.delete(r.id);
      if (this.#waiting.size === 0) this.#worker.unref();
      waiter?.(r);
    });
    const fail = (why: string): void => {
      this.#broken = new StoreError('IO', `the blob reader thread stopped: ${why}`);
      onExit();
      for (const waiter of this.#waiting.values())
        waiter({ id: -1, error: { code: 'IO', message: this.#broken.message } });
      this.#waiting.clear();
    };
    this.#worker.on('error', (err) => fail(err.message));
    this.#worker.on('exit', (code) => fail(`exit code ${code}`));
  }

  request(m: ReadRequest): Promise<ReadReply> {
    if (this.#broken !== undefined) return Promise.reject(this.#broken);
    return new Promise((resolve) => {
      if (this.#waiting.size === 0) this.#worker.ref();
      this.#waiting.set(m.id, resolve);
      this.#worker.postMessage(m);
    });
  }

  /** Without an answer: the thread closes the blob's file. */
  tell(m: ReadRequest): void {
    if (this.#broken === undefined) this.#worker.postMessage(m);
  }
}

const readers: (Reader | undefined)[] = [];
let turn = 0;
let ids = 0;

function reader(): Reader {
  const slot = turn++ % READERS;
  let r = readers[slot];
  if (r === undefined) {
    r = new Reader(() => {
      if (readers[slot] === r) readers[slot] = undefined;
    });
    readers[slot] = r;
  }
  return r;
}

/**
 * Streams the plaintext of one blob from byte `start`, in pieces of about `chunkBytes` (a reader that needs only the
 * start of a blob asks for little, so little is decrypted). Each segment is authenticated before any of its bytes are
 * pushed, so a consumer never sees unverified plaintext; a bad segment ends the stream with a StoreError
 * (BLOB_CORRUPT, KEY_MISMATCH, BLOB_NOT_FOUND, RANGE_INVALID).
 */
export function openBlobStream(
  path: string,
  blobId: string,
  storeKey: Buffer,
  keyId: Buffer,
  start: number,
  chunkBytes: number = CHUNK_BYTES,
): Readable {
  const r = reader();
  const id = ids++;
  let opened = false;
  let done = false;
  const stream = new Readable({
    // One piece ahead of the consumer.
    highWaterMark: 2 * chunkBytes,
    read() {
      const m: ReadRequest = opened
        ? { op: 'next', id }
        : { op: 'open', id, path, blobId, storeKey, keyId, start, chunkBytes };
      opened = true;
      r.request(m).then(
        (reply) => {
          if (reply.error !== undefined) {
            done = true;
            stream.destroy(new StoreError(reply.error.code, reply.error.message));
            return;
          }
          done = reply.done;
          if (reply.chunk !== undefined)
            stream.push(Buffer.from(reply.chunk.buffer, reply.chunk.byteOffset, reply.chunk.byteLength));
          if (reply.done) stream.push(null);
        },
        (err: unknown) => stream.destroy(err instanceof Error ? err : new Error(String(err))),
      );
    },
    destroy(err, callback) {
      if (opened && !done) r.tell({ op: 'close', id });
      callback(err);
    },
  });
  return stream;
}
