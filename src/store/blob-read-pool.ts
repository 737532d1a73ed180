import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { CHUNK_BYTES, type ReadReply, type ReadRequest } from './blob-read-protocol.ts';
import { StoreError } from './store-error.ts';

export { CHUNK_BYTES };

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
      this.#worker.postMessage(m, (m.op === 'open' || m.op === 'next') && m.spare !== undefined ? [m.spare] : []);
    });
  }

  /** Without an answer: the thread closes the blob's file. */
  tell(m: ReadRequest): void {
    if (this.#broken === undefined) this.#worker.postMessage(m);
  }
}

/**
 * Buffers of pieces a consumer has written out and handed back (giveBack), waiting to travel to a reader thread with
 * the next request and be filled again. Without them every MB streamed out was new memory outside V8's heap, and each
 * 30-60 MB of it started a full collection on the main thread (8-10 per 263 MB study in bench:dicomweb).
 */
const handedBack: ArrayBuffer[] = [];
const MAX_HANDED_BACK = 16;
/** The buffers that came from a reader thread and may go back to one: nothing else is ever sent there. */
const fromReaders = new WeakSet<ArrayBuffer>();

/**
 * A consumer is done with a piece from openBlobStream (written to its socket, say): its memory is filled again for a
 * later piece. The piece must not be used afterwards: its buffer is handed over to a reader thread, which leaves every
 * view of it here empty. Anything not from a reader thread is left alone.
 */
export function giveBack(piece: Buffer): void {
  const b = piece.buffer;
  if (!(b instanceof ArrayBuffer) || b.byteLength !== CHUNK_BYTES || !fromReaders.has(b)) return;
  fromReaders.delete(b);
  if (handedBack.length < MAX_HANDED_BACK) handedBack.push(b);
}

const readers: (Reader | undefined)[] = [];
let turn = 0;
let ids = 0;

function reader(slot = turn++ % READERS): Reader {
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
 * Starts the reader threads ahead of the first read (a thread and its modules take some 100 ms, more on a busy
 * machine): a node that sends studies calls this at start. Idle threads keep nothing alive.
 */
export async function startBlobReaders(): Promise<void> {
  await Promise.all(Array.from({ length: READERS }, (_, slot) => reader(slot).request({ op: 'load', id: ids++ })));
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
      const spare = chunkBytes === CHUNK_BYTES ? handedBack.pop() : undefined;
      const m: ReadRequest = opened
        ? { op: 'next', id, ...(spare !== undefined ? { spare } : {}) }
        : {
            op: 'open',
            id,
            path,
            blobId,
            storeKey,
            keyId,
            start,
            chunkBytes,
            ...(spare !== undefined ? { spare } : {}),
          };
      opened = true;
      r.request(m).then(
        (reply) => {
          if (reply.error !== undefined) {
            done = true;
            stream.destroy(new StoreError(reply.error.code, reply.error.message));
            return;
          }
          done = reply.done;
          if (reply.chunk !== undefined) {
            const b = reply.chunk.buffer as ArrayBuffer;
            if (b.byteLength === CHUNK_BYTES) fromReaders.add(b);
            stream.push(Buffer.from(b, reply.chunk.byteOffset, reply.chunk.byteLength));
          }
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
