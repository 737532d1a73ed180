import type { Readable } from 'node:stream';

/**
 * A stream read in pieces of a requested length, as SFTP READ requests ask for it: each piece is as long as asked
 * (a short piece would make a client ask again for the rest, out of order) until the stream ends.
 */
export class SequentialReader {
  readonly #source: Readable;
  readonly #it: AsyncIterator<Buffer>;
  readonly #pending: Buffer[] = [];
  #pendingBytes = 0;
  #ended = false;
  /** Where the next piece starts. */
  position = 0;

  constructor(source: Readable) {
    this.#source = source;
    this.#it = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  /** Read to its end: nothing more will come. */
  get atEnd(): boolean {
    return this.#ended && this.#pendingBytes === 0;
  }

  /** The next `length` bytes (fewer only at the end), or null at the end. */
  async read(length: number): Promise<Buffer | null> {
    while (this.#pendingBytes < length && !this.#ended) {
      const next = await this.#it.next();
      if (next.done === true) this.#ended = true;
      else if (next.value.length > 0) {
        this.#pending.push(next.value);
        this.#pendingBytes += next.value.length;
      }
    }
    if (this.#pendingBytes === 0) return null;
    const take = Math.min(length, this.#pendingBytes);
    const first = this.#pending[0]!;
    let piece: Buffer;
    if (first.length >= take) {
      // Within one chunk: a view, no copy.
      piece = first.subarray(0, take);
      if (first.length === take) this.#pending.shift();
      else this.#pending[0] = first.subarray(take);
    } else {
      const parts: Buffer[] = [];
      let left = take;
      while (left > 0) {
        const b = this.#pending[0]!;
        if (b.length <= left) {
          parts.push(b);
          this.#pending.shift();
          left -= b.length;
        } else {
          parts.push(b.subarray(0, left));
          this.#pending[0] = b.subarray(left);
          left = 0;
        }
      }
      piece = Buffer.concat(parts, take);
    }
    this.#pendingBytes -= take;
    this.position += take;
    return piece;
  }

  destroy(): void {
    this.#source.destroy();
  }
}
