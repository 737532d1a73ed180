/**
 * Runs asynchronous work one piece at a time, in the order asked: a transaction on a single SQLite connection must not
 * interleave with another at its await points (the second BEGIN would fail, or read the first one's uncommitted rows).
 */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(work, work);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
