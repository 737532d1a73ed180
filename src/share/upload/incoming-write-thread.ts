import { Worker } from 'node:worker_threads';
import { WRITE_BYTES } from './incoming-cipher.ts';

/** What the main thread asks the write thread, per incoming file: in order, one file's messages after another's. */
export type WriteRequest =
  | { op: 'open'; id: number; path: string; key: Uint8Array; offset: number }
  /** `length` bytes of `buffer` (handed over) are the file's next. */
  | { op: 'write'; id: number; buffer: ArrayBuffer; length: number }
  | { op: 'end'; id: number };

export type WriteReply =
  | { id: number; op: 'written'; buffer: ArrayBuffer }
  | { id: number; op: 'ended' }
  /** `final`: nothing more comes for this file (its end failed, or the thread stopped). */
  | { id: number; op: 'failed'; message: string; code: string | undefined; final: boolean };

/** Gathered MiBs at the write thread, per file, before the sender waits: 8 MiB keeps the link busy. */
const AHEAD = 8;
/** Empty MiBs back from the write thread, kept to be filled again. */
const spares: ArrayBuffer[] = [];
const MAX_SPARES = 2 * AHEAD;

/**
 * The one thread that encrypts and writes incoming files. On the event loop, the encryption's output was a GB of new
 * memory outside V8's heap per GB received (beside ssh2's own), and every 64 MB of that started a full collection:
 * a 1 GB SFTP put spent a second collecting garbage. The buffers travel to the thread and back, and are used again.
 */
class WriteThread {
  readonly #worker: Worker;
  readonly #files = new Map<number, (r: WriteReply) => void>();
  #broken: Error | undefined;

  constructor(onExit: () => void) {
    this.#worker = new Worker(new URL('./incoming-write-worker.ts', import.meta.url));
    // Idle, the thread keeps nothing alive.
    this.#worker.unref();
    this.#worker.on('message', (r: WriteReply) => this.#files.get(r.id)?.(r));
    const fail = (why: string): void => {
      this.#broken = new Error(`the thread writing uploads stopped: ${why}`);
      onExit();
      for (const [id, f] of this.#files)
        f({ id, op: 'failed', message: this.#broken.message, code: undefined, final: true });
      this.#files.clear();
    };
    this.#worker.on('error', (err) => fail(err.message));
    this.#worker.on('exit', (code) => fail(`exit code ${code}`));
  }

  open(id: number, path: string, key: Buffer, offset: number, onReply: (r: WriteReply) => void): void {
    if (this.#broken !== undefined) throw this.#broken;
    if (this.#files.size === 0) this.#worker.ref();
    this.#files.set(id, onReply);
    this.#worker.postMessage({ op: 'open', id, path, key, offset } satisfies WriteRequest);
  }

  write(id: number, buffer: ArrayBuffer, length: number): void {
    this.#worker.postMessage({ op: 'write', id, buffer, length } satisfies WriteRequest, [buffer]);
  }

  end(id: number): void {
    this.#worker.postMessage({ op: 'end', id } satisfies WriteRequest);
  }

  closed(id: number): void {
    this.#files.delete(id);
    if (this.#files.size === 0) this.#worker.unref();
  }
}

let thread: WriteThread | undefined;
let ids = 0;

function writeThread(): WriteThread {
  thread ??= new WriteThread(() => (thread = undefined));
  return thread;
}

/**
 * Pieces appended to an incoming file, as they come (an SFTP client's 32 KB writes, a PATCH's chunks): copied into a
 * MiB buffer, which goes to the write thread once full. The piece's memory is free again as soon as write() returns.
 */
export class IncomingWriter {
  readonly #id = ids++;
  readonly #thread: WriteThread;
  readonly #max: number;
  #gather: Buffer | undefined;
  #gathered = 0;
  #taken = 0;
  #written: number;
  /** MiBs at the write thread. */
  #out = 0;
  #room: { promise: Promise<void>; resolve: () => void } | undefined;
  #ended: { promise: Promise<void>; resolve: () => void } | undefined;
  #failed: Error | undefined;

  /** A writer appending at `offset` (the file's size), at most `max` bytes, encrypted with `key` as IncomingFile reads. */
  constructor(path: string, key: Buffer, offset: number, max: number) {
    this.#thread = writeThread();
    this.#written = offset;
    this.#max = max;
    this.#thread.open(this.#id, path, key, offset, (r) => this.#reply(r));
  }

  /** The file's size once what was taken is written. */
  get size(): number {
    return this.#written + this.#gathered;
  }

  /**
   * Takes a piece whole; answers a promise when the sender should wait for the disk before the next, and throws a
   * RangeError past `max`, or what failed to be written.
   */
  write(piece: Buffer): Promise<void> | undefined {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#taken + piece.length > this.#max) throw new RangeError('more bytes than the upload announced');
    this.#taken += piece.length;
    for (let from = 0; from < piece.length;) {
      this.#gather ??= Buffer.from(spares.pop() ?? new ArrayBuffer(WRITE_BYTES));
      const n = piece.copy(this.#gather, this.#gathered, from);
      this.#gathered += n;
      from += n;
      if (this.#gathered === WRITE_BYTES) this.#send();
    }
    if (this.#out < AHEAD) return undefined;
    this.#room ??= withResolve();
    return this.#room.promise;
  }

  /** Writes what is left, makes all of it durable and closes the file (also after a failure, for what did arrive). */
  async end(): Promise<void> {
    if (this.#ended === undefined) {
      this.#send();
      this.#ended = withResolve();
      this.#thread.end(this.#id);
    }
    await this.#ended.promise;
    if (this.#failed !== undefined) throw this.#failed;
  }

  #send(): void {
    const gather = this.#gather;
    if (gather === undefined || this.#gathered === 0) return;
    this.#thread.write(this.#id, gather.buffer as ArrayBuffer, this.#gathered);
    this.#written += this.#gathered;
    this.#gather = undefined;
    this.#gathered = 0;
    this.#out++;
  }

  #reply(r: WriteReply): void {
    if (r.op === 'written') {
      if (spares.length < MAX_SPARES) spares.push(r.buffer);
      this.#out--;
    } else if (r.op === 'failed') {
      this.#failed ??= Object.assign(new Error(r.message), r.code !== undefined ? { code: r.code } : {});
    }
    if (r.op === 'ended' || (r.op === 'failed' && r.final)) {
      this.#thread.closed(this.#id);
      this.#ended ??= withResolve();
      this.#ended.resolve();
    }
    if (this.#room !== undefined && (this.#out < AHEAD || this.#failed !== undefined)) {
      this.#room.resolve();
      this.#room = undefined;
    }
  }
}

function withResolve(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
