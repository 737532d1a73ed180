/**
 * The bodies of several items, one after the other, with the next few already being read while the current one is
 * sent. A study's instances are separate encrypted files: read strictly one after another, each file's open, header,
 * key derivation and reads wait on the disk and the thread pool while the connection sits idle. Reading ahead keeps
 * those waits off the critical path; `maxBytesEach` bounds what each item holds unread (about (ahead + 1) times that in
 * all), so a study is never buffered whole, and a reader that needs only the start of each body decrypts little more.
 */
export interface ReadAheadOptions {
  /** Items whose bodies are read before their turn (besides the current one). */
  ahead: number;
  /** An item's reading pauses once it holds this many bytes not yet taken. */
  maxBytesEach: number;
}

/** One item and its body, in order; read `body` to its end (or stop the whole iteration) before asking for the next. */
export interface ReadAheadItem<T> {
  item: T;
  body: AsyncIterable<Buffer>;
}

class Pending<T> {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  done = false;
  error: unknown = undefined;
  failed = false;
  #consumer: (() => void) | undefined;
  #producer: (() => void) | undefined;
  #iterator: AsyncIterator<Buffer> | undefined;
  #stopped = false;

  readonly item: T;
  readonly #source: () => AsyncIterable<Buffer>;
  readonly #mayRead: (p: Pending<T>) => boolean;

  constructor(item: T, source: () => AsyncIterable<Buffer>, mayRead: (p: Pending<T>) => boolean) {
    this.item = item;
    this.#source = source;
    this.#mayRead = mayRead;
  }

  start(): void {
    void this.#pump();
  }

  async #pump(): Promise<void> {
    try {
      this.#iterator = this.#source()[Symbol.asyncIterator]();
      for (;;) {
        while (!this.#stopped && !this.#mayRead(this)) await new Promise<void>((r) => (this.#producer = r));
        if (this.#stopped) break;
        const next = await this.#iterator.next();
        if (next.done === true) break;
        this.chunks.push(next.value);
        this.bytes += next.value.length;
        this.#wakeConsumer();
      }
    } catch (err) {
      this.error = err;
      this.failed = true;
    }
    this.done = true;
    this.#wakeConsumer();
  }

  /** The reader may go on (the budget changed, or it became the current item). */
  wakeProducer(): void {
    const r = this.#producer;
    this.#producer = undefined;
    r?.();
  }

  #wakeConsumer(): void {
    const r = this.#consumer;
    this.#consumer = undefined;
    r?.();
  }

  async *drain(): AsyncGenerator<Buffer> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk !== undefined) {
        this.bytes -= chunk.length;
        this.wakeProducer();
        yield chunk;
        continue;
      }
      if (this.done) {
        if (this.failed) throw this.error;
        return;
      }
      await new Promise<void>((r) => (this.#consumer = r));
    }
  }

  /** Stops reading and releases the source (its file closes). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.wakeProducer();
    await this.#iterator?.return?.().catch(() => undefined);
  }
}

export async function* readAhead<T>(
  items: readonly T[],
  open: (item: T) => AsyncIterable<Buffer>,
  o: ReadAheadOptions,
): AsyncGenerator<ReadAheadItem<T>> {
  const window: Pending<T>[] = [];
  const mayRead = (p: Pending<T>): boolean => p.bytes < o.maxBytesEach;
  let next = 0;
  try {
    while (next < items.length || window.length > 0) {
      while (next < items.length && window.length <= o.ahead) {
        const item = items[next++] as T;
        const p = new Pending(item, () => open(item), mayRead);
        window.push(p);
        p.start();
      }
      const current = window[0];
      if (current === undefined) return;
      yield { item: current.item, body: current.drain() };
      window.shift();
      await current.stop();
    }
  } finally {
    await Promise.all(window.map((p) => p.stop()));
  }
}
