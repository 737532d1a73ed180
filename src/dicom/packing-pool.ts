import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DicomError } from './errors.ts';
import type { PackingReply, PackingRequest } from './packing-protocol.ts';

/**
 * Packing threads, one fewer than the cores (at least one, at most four), as the blob readers: JPEG-LS coding of a CT
 * slice takes some 10 ms of CPU, which on the event loop held up every socket of the node meanwhile.
 */
const THREADS = Math.max(1, Math.min(4, availableParallelism() - 1));

class Coder {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, (r: PackingReply) => void>();
  #broken: Error | undefined;

  constructor(onExit: () => void) {
    // A small young generation: the thread's garbage is the coded slices it hands back, a few MB at a time.
    this.#worker = new Worker(new URL('./packing-worker.ts', import.meta.url), {
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    // Idle, the thread keeps nothing alive: a command that has done its work exits.
    this.#worker.unref();
    this.#worker.on('message', (r: PackingReply) => {
      const waiter = this.#waiting.get(r.id);
      this.#waiting.delete(r.id);
      if (this.#waiting.size === 0) this.#worker.unref();
      waiter?.(r);
    });
    const fail = (why: string): void => {
      this.#broken = new Error(`the packing thread stopped: ${why}`);
      onExit();
      for (const waiter of this.#waiting.values()) waiter({ id: -1, error: { code: 'INTERNAL', message: why } });
      this.#waiting.clear();
    };
    this.#worker.on('error', (err) => fail(err.message));
    this.#worker.on('exit', (code) => fail(`exit code ${code}`));
  }

  get load(): number {
    return this.#waiting.size;
  }

  request(m: PackingRequest): Promise<PackingReply> {
    if (this.#broken !== undefined) return Promise.reject(this.#broken);
    return new Promise((resolve) => {
      if (this.#waiting.size === 0) this.#worker.ref();
      this.#waiting.set(m.id, resolve);
      this.#worker.postMessage(m, m.op !== 'load' ? [m.bytes.buffer as ArrayBuffer] : []);
    });
  }
}

let coders: Coder[] = [];
let nextId = 0;

/** The threads, started when first needed; one that stopped is replaced by the next request. */
function started(): Coder[] {
  if (coders.length === 0) {
    const made: Coder[] = [];
    for (let i = 0; i < THREADS; i++) made.push(new Coder(() => (coders = coders.filter((c) => !made.includes(c)))));
    coders = made;
  }
  return coders;
}

/** The least busy thread. */
const coder = (): Coder => started().reduce((a, b) => (b.load < a.load ? b : a));

/**
 * Starts the packing threads and has each compile its codec, without data: a node that exchanges studies calls this
 * at start, so that its first transfer, sent or received, does not wait some 100 ms (a busy machine: more) for a
 * thread, its modules and the codec. Idle threads keep nothing alive.
 */
export async function startPackingThreads(): Promise<void> {
  await Promise.all(started().map((c) => c.request({ id: nextId++, op: 'load' })));
}

/** A copy in memory of its own: the transfer to the thread must not take a pooled buffer's neighbours along. */
function own(b: Buffer): Uint8Array {
  return new Uint8Array(b);
}

async function ask(op: 'pack' | 'unpack', bytes: Buffer, maxBytes: number): Promise<Buffer | undefined> {
  const reply = await coder().request({ id: nextId++, op, bytes: own(bytes), maxBytes });
  if (reply.error !== undefined) {
    if (reply.error.code === 'INTERNAL') throw new Error(reply.error.message);
    throw new DicomError(reply.error.code, reply.error.message);
  }
  return reply.bytes === null || reply.bytes === undefined
    ? undefined
    : Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength);
}

/** packInstance on a packing thread. */
export function packInstanceOffThread(file: Buffer): Promise<Buffer | undefined> {
  return ask('pack', file, 0);
}

/** unpackInstance on a packing thread: the same result, and the same DicomError for what cannot be restored. */
export async function unpackInstanceOffThread(packed: Buffer, maxBytes: number): Promise<Buffer> {
  const out = await ask('unpack', packed, maxBytes);
  if (out === undefined) throw new DicomError('BAD_VALUE', 'the packed instance restored to nothing');
  return out;
}
