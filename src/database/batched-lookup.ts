interface Waiting<K, V> {
  key: K;
  resolve(value: V): void;
  reject(err: unknown): void;
}

/**
 * Lookups by key that share round trips to a database server under load. A lookup runs at once while fewer than
 * `concurrency` batches are out; otherwise it waits and goes with every other waiting lookup (up to `maxBatch`) as the
 * next batch. So an idle server answers each question alone, with no added latency, and a busy one answers many per
 * statement: on a machine with few cores, the per-statement cost of parsing, planning and the protocol is what limits
 * the rate, not the index reads.
 */
export class BatchedLookup<K, V> {
  readonly #lookup: (keys: K[]) => Promise<V[]>;
  readonly #concurrency: number;
  readonly #maxBatch: number;
  readonly #waiting: Waiting<K, V>[] = [];
  #running = 0;

  /** `lookup` answers each key, in the order given. */
  constructor(lookup: (keys: K[]) => Promise<V[]>, o: { concurrency: number; maxBatch: number }) {
    this.#lookup = lookup;
    this.#concurrency = o.concurrency;
    this.#maxBatch = o.maxBatch;
  }

  get(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.#waiting.push({ key, resolve, reject });
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
