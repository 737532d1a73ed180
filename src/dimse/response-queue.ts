/** Responses to one outstanding request, in order, with a per-response timeout (PS3.7 9.3: pending, then final). */
import { DimseProtocolError } from './errors.ts';
import type { IncomingMessage, ResponseListener } from './upper-layer.ts';

export class ResponseQueue implements ResponseListener {
  private readonly items: IncomingMessage[] = [];
  private error: Error | undefined;
  private waiter: { resolve: (m: IncomingMessage) => void; reject: (e: Error) => void } | undefined;
  private readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
  }

  message(msg: IncomingMessage): void {
    if (this.waiter !== undefined) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(msg);
    } else this.items.push(msg);
  }

  fail(err: Error): void {
    this.error = err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  /** The next response; rejects when the association ends or no response comes within the timeout. */
  next(onTimeout: () => void): Promise<IncomingMessage> {
    const m = this.items.shift();
    if (m !== undefined) return Promise.resolve(m);
    if (this.error !== undefined) return Promise.reject(this.error);
    return new Promise<IncomingMessage>((resolve, reject) => {
      const timer =
        this.timeoutMs > 0
          ? setTimeout(() => {
              this.waiter = undefined;
              onTimeout();
              reject(new DimseProtocolError('TIMEOUT', `no DIMSE response within ${this.timeoutMs} ms`));
            }, this.timeoutMs)
          : undefined;
      this.waiter = {
        resolve: (msg) => {
          clearTimeout(timer);
          resolve(msg);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }
}
