import { Worker } from 'node:worker_threads';
import type { WriteReply, WriteRequest } from './blob-write-protocol.ts';
import type { BlobPreparation } from './fs-blob-writer.ts';
import { StoreError } from './store-error.ts';
import type { BlobRef, BlobWriter } from './types.ts';

/**
 * Bytes gathered per message to a writer thread. A 500 KB CT image travels in two, and the thread seals and writes
 * each while the next arrives.
 */
const GATHER_BYTES = 256 * 1024;
/**
 * Buffers at a writer thread, per blob, before the sender waits: 2 MiB, as much as the writes the thread may have
 * queued for the disk, so receiving waits for the disk only when a slow disk lets this much pile up.
 */
const AHEAD = 8;
/** Empty buffers back from the threads, kept to be filled again. */
const spares: ArrayBuffer[] = [];
const MAX_SPARES = 2 * AHEAD;

class WriteThread {
  readonly #worker: Worker;
  readonly #blobs = new Map<number, (r: WriteReply) => void>();
  /** Blobs waiting for an answer (a buffer back, a commit, an abort): while there are any, the thread keeps the process alive. */
  #awaited = 0;
  #broken: StoreError | undefined;

  constructor(onExit: () => void) {
    this.#worker = new Worker(new URL('./blob-write-worker.ts', import.meta.url));
    // Idle, or holding only a prepared blob, the thread keeps nothing alive.
    this.#worker.unref();
    this.#worker.on('message', (r: WriteReply) => this.#blobs.get(r.id)?.(r));
    const fail = (why: string): void => {
      this.#broken = new StoreError('IO', `the blob writer thread stopped: ${why}`);
      onExit();
      // With no buffers to come back: the blobs' last answer.
      for (const [id, reply] of this.#blobs)
        reply({ id, op: 'failed', code: 'IO', message: this.#broken.message, buffers: [] });
      this.#blobs.clear();
    };
    this.#worker.on('error', (err) => fail(err.message));
    this.#worker.on('exit', (code) => fail(`exit code ${code}`));
  }

  /** Blobs prepared here and not yet committed or aborted: the next blob goes to the thread with the fewest. */
  get load(): number {
    return this.#blobs.size;
  }

  open(id: number, onReply: (r: WriteReply) => void): void {
    this.#blobs.set(id, onReply);
    if (this.#broken !== undefined)
      onReply({ id, op: 'failed', code: 'IO', message: this.#broken.message, buffers: [] });
  }

  closed(id: number): void {
    this.#blobs.delete(id);
  }

  /** `false` when the thread has stopped: nothing will answer. */
  send(m: WriteRequest, transfer?: ArrayBuffer[]): boolean {
    if (this.#broken !== undefined) return false;
    this.#worker.postMessage(m, transfer);
    return true;
  }

  /** Counts a blob that waits for an answer; `false` when it has it. */
  awaiting(waits: boolean): void {
    this.#awaited += waits ? 1 : -1;
    if (this.#awaited === (waits ? 1 : 0)) {
      if (waits) this.#worker.ref();
      else this.#worker.unref();
    }
  }
}

/**
 * None unless configured: with threads on, the test of a sending node SIGKILLed 20 times mid-push
 * (test/node/exchange-kill-transfer.test.ts) hung on the receiving side, not yet understood (December 2026).
 */
const DEFAULT_THREADS = 0;
let threadCount = DEFAULT_THREADS;
const threads: (WriteThread | undefined)[] = [];
let ids = 0;

function thread(slot: number): WriteThread {
  let t = threads[slot];
  if (t === undefined) {
    t = new WriteThread(() => {
      if (threads[slot] === t) threads[slot] = undefined;
    });
    threads[slot] = t;
  }
  return t;
}

/** How many writer threads blobs may go to (0: every blob is written on the event loop). */
export function writerThreads(): number {
  return threadCount;
}

function leastLoaded(): WriteThread {
  let best = thread(0);
  for (let slot = 1; slot < threadCount && best.load > 0; slot += 1) {
    const t = thread(slot);
    if (t.load < best.load) best = t;
  }
  return best;
}

/**
 * How many writer threads blobs may go to: a node sets its configured number at start (default none, see DEFAULT_THREADS;
 * 0 writes every blob on the event loop). A thread starts with the first blob sent to it: a node that never receives
 * several instances at once keeps no thread.
 */
export function setBlobWriterThreads(count = DEFAULT_THREADS): void {
  if (!Number.isInteger(count) || count < 0)
    throw new RangeError('the number of blob writer threads is a whole number');
  threadCount = count;
}

/**
 * A blob written on a writer thread: its temp file is opened there at once (the pieces that follow wait there, not
 * here), and each write() only copies the piece into a buffer that travels to the thread, where it is sealed,
 * hashed and written (FsBlobWriter). `done` is called once the blob is committed or discarded.
 */
export class ThreadBlobWriter implements BlobWriter {
  readonly #id = ids++;
  readonly #thread: WriteThread;
  readonly blobId: string;
  readonly #done: () => void;
  #gather: Buffer | undefined;
  #gathered = 0;
  #size = 0;
  /** Buffers at the thread. */
  #out = 0;
  #room: PromiseWithResolvers<void> | undefined;
  #end: PromiseWithResolvers<WriteReply> | undefined;
  #failure: StoreError | undefined;
  #state: 'open' | 'ending' | 'closed' = 'open';
  /** Answers the thread owes this blob (buffers returned, committed or aborted). */
  #owed = 0;

  constructor(preparation: BlobPreparation & { direct: boolean }, done: () => void) {
    this.#thread = leastLoaded();
    this.blobId = preparation.blobId;
    this.#done = done;
    this.#thread.open(this.#id, (r) => this.#reply(r));
    // Not an answer owed: a failure to open is told as any other, and reported by the next write or the commit.
    if (!this.#thread.send({ op: 'prepare', id: this.#id, ...preparation }))
      this.#failure = new StoreError('IO', 'the blob writer thread stopped');
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#state !== 'open') throw new StoreError('WRITER_CLOSED', 'cannot write: the blob writer is closed');
    this.#size += chunk.length;
    for (let from = 0; from < chunk.length;) {
      this.#gather ??= Buffer.from(spares.pop() ?? new ArrayBuffer(GATHER_BYTES));
      const n = chunk.copy(this.#gather, this.#gathered, from);
      this.#gathered += n;
      from += n;
      if (this.#gathered === GATHER_BYTES) this.#flush();
    }
    if (this.#out < AHEAD) return;
    if (this.#room === undefined) {
      this.#room = Promise.withResolvers();
      this.#send({ op: 'return', id: this.#id });
    }
    await this.#room.promise;
    if (this.#failure !== undefined) throw this.#failure;
    // An abort() while this write waited has closed the writer; it stays closed.
    if ((this.#state as string) !== 'open') throw new StoreError('WRITER_CLOSED', 'the blob writer was aborted');
  }

  async commit(): Promise<BlobRef> {
    if (this.#state === 'closed' && this.#failure !== undefined) throw this.#failure;
    if (this.#state !== 'open') throw new StoreError('WRITER_CLOSED', 'cannot commit: the blob writer is closed');
    this.#flush();
    const r = await this.#finish('commit');
    if (r.op !== 'committed') throw this.#failure ?? new StoreError('IO', 'the blob was not committed');
    return { blobId: this.blobId, size: this.#size, sha256: r.sha256 };
  }

  async abort(): Promise<void> {
    if (this.#state !== 'open') {
      await this.#end?.promise;
      return;
    }
    await this.#finish('abort');
  }

  #finish(op: 'commit' | 'abort'): Promise<WriteReply> {
    this.#state = 'ending';
    this.#end = Promise.withResolvers();
    if (!this.#send({ op, id: this.#id })) {
      this.#failure ??= new StoreError('IO', 'the blob writer thread stopped');
      this.#close({ id: this.#id, op: 'failed', code: this.#failure.code, message: this.#failure.message });
    }
    return this.#end.promise;
  }

  #flush(): void {
    const gather = this.#gather;
    if (gather === undefined || this.#gathered === 0) return;
    const buffer = gather.buffer as ArrayBuffer;
    this.#thread.send({ op: 'write', id: this.#id, buffer, length: this.#gathered }, [buffer]);
    this.#gather = undefined;
    this.#gathered = 0;
    this.#out += 1;
  }

  #reply(r: WriteReply): void {
    // Every answer brings the buffers back; a failure told as it happens brings none and answers nothing.
    if (r.buffers !== undefined) {
      this.#answered();
      this.#out -= r.buffers.length;
      for (const b of r.buffers) if (spares.length < MAX_SPARES) spares.push(b);
    }
    if (r.op === 'failed') this.#failure ??= new StoreError(r.code, r.message);
    if (this.#room !== undefined && (this.#out < AHEAD || this.#failure !== undefined)) {
      this.#room.resolve();
      this.#room = undefined;
    }
    if (r.op === 'committed' || r.op === 'aborted' || (r.op === 'failed' && r.buffers !== undefined)) this.#close(r);
  }

  #close(r: WriteReply): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#thread.closed(this.#id);
    if (this.#owed > 0) this.#thread.awaiting(false);
    this.#owed = 0;
    this.#done();
    this.#end?.resolve(r);
  }

  /** While the thread owes this blob an answer, the process stays alive for it. */
  #send(m: WriteRequest, transfer?: ArrayBuffer[]): boolean {
    if (!this.#thread.send(m, transfer)) return false;
    this.#owed += 1;
    if (this.#owed === 1) this.#thread.awaiting(true);
    return true;
  }

  #answered(): void {
    if (this.#owed === 0) return;
    this.#owed -= 1;
    if (this.#owed === 0) this.#thread.awaiting(false);
  }
}
