interface Waiting<K, V> {
  key: K;
  resolve(value: V): void;
  reject(err: unknown): void;
}

/**
 * Lookups by key that share round trips to a database server. The lookups made in one turn of the event loop (the
 * requests read from several sockets at once) go together, once that turn is done; while `concurrency` batches are
 * out, the next ones wait and go with every other waiting lookup (up to `maxBatch`). An idle process adds no latency
 * worth the name (to the end of the turn), and a busy one asks many per statement: on a machine with few cores, the
 * per-statement cost of the protocol, the system calls and the server's waking up is what limits the rate, not the
 * index reads.
 */
export class BatchedLookup<K, V> {
  readonly #lookup: (keys: K[]) => Promise<V[]>;
  readonly #concurrency: number;
  readonly #maxBatch: number;
  readonly #waiting: Waiting<K, V>[] = [];
  #running = 0;
  #scheduled = false;

  /** `lookup` answers each key, in the order given. */
  constructor(lookup: (keys: K[]) => Promise<V[]>, o: { concurrency: number; maxBatch: number }) {
    this.#lookup = lookup;
    this.#concurrency = o.concurrency;
    this.#maxBatch = o.maxBatch;
  }

  get(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.#waiting.push({ key, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Starts a batch once the event loop has handled everything that came in with this lookup: requests read from
   * several sockets in one turn ask together.
   */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#start();
    });
  }

  #start(): void {
    while (this.#running < this.#concurrency && this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, this.#maxBatch);
      this.#running += 1;
      void this.#run(batch);
    }
  }

  async #run(batch: Waiting<K, V>[]): Promise<void> {
    try {
      const values = await this.#lookup(batch.map((w) => w.key));
      batch.forEach((w, i) => w.resolve(values[i] as V));
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.#running -= 1;
      this.#start();
    }
  }
}
