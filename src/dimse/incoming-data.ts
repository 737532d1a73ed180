/**
 * The data set of an incoming DIMSE message (PS3.7 6.3.1) as it arrives in PDV fragments: an async iterable of
 * chunk views with backpressure (the socket is paused while the consumer lags), or collected whole under a cap
 * for small data sets such as identifiers.
 */
import { DimseProtocolError } from './errors.ts';

export interface FlowControl {
  pause(): void;
  resume(): void;
}

export class IncomingData implements AsyncIterable<Buffer> {
  private readonly flow: FlowControl;
  private readonly highWater: number;
  private readonly lowWater: number;
  private queue: Buffer[] = [];
  private queued = 0;
  private paused = false;
  private ended = false;
  private error: Error | undefined;
  private discarding = false;
  private wake: (() => void) | undefined;
  private readonly done: Promise<void>;
  private settle!: (err?: Error) => void;
  /** total bytes received so far */
  received = 0;

  constructor(flow: FlowControl, highWater = 1024 * 1024) {
    this.flow = flow;
    this.highWater = highWater;
    this.lowWater = highWater >> 2;
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err === undefined ? resolve() : reject(err));
    });
    // Nobody may be awaiting `finished` when the association dies; that is not an unhandled rejection.
    this.done.catch(() => undefined);
  }

  /** Resolves when the last fragment arrived; rejects when the association ended first. */
  get finished(): Promise<void> {
    return this.done;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  push(chunk: Buffer): void {
    this.received += chunk.length;
    if (this.discarding) return;
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (!this.paused && this.queued >= this.highWater) {
      this.paused = true;
      this.flow.pause();
    }
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.settle();
    this.notify();
  }

  fail(err: Error): void {
    if (this.ended) return;
    this.error = err;
    this.ended = true;
    this.settle(err);
    this.notify();
  }

  /** The consumer is done: drop what is queued and whatever still arrives, and let the socket flow. */
  discard(): void {
    this.discarding = true;
    this.queue = [];
    this.queued = 0;
    this.unpause();
  }

  /** Buffers the whole data set; above `maxBytes` it stops buffering and rejects with IDENTIFIER_TOO_LARGE. */
  async collect(maxBytes: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let total = 0;
    for await (const chunk of this) {
      total += chunk.length;
      if (total > maxBytes) {
        this.discard();
        throw new DimseProtocolError('IDENTIFIER_TOO_LARGE', `data set larger than ${maxBytes} bytes`);
      }
      parts.push(chunk);
    }
    return parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts, total);
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private unpause(): void {
    if (this.paused) {
      this.paused = false;
      this.flow.resume();
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    try {
      for (;;) {
        const chunk = this.queue.shift();
        if (chunk !== undefined) {
          this.queued -= chunk.length;
          if (this.queued <= this.lowWater) this.unpause();
          yield chunk;
          continue;
        }
        if (this.error !== undefined) throw this.error;
        if (this.ended) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } finally {
      if (!this.ended || this.queue.length > 0) this.discard();
    }
  }
}
