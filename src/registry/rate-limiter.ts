/**
 * A token bucket per client organization: `perSecond` sustained, `burst` at once. In memory: a restart forgives, which
 * is fine for a limit whose point is that one misbehaving node cannot starve the others.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #perMs: number;
  readonly #burst: number;

  constructor(o: { perSecond: number; burst: number }) {
    this.#perMs = o.perSecond / 1000;
    this.#burst = o.burst;
  }

  /** Takes one token for `client`; when none is left, says how many ms until there is one. */
  take(client: string, now = performance.now()): { allowed: true } | { allowed: false; retryAfterMs: number } {
    let b = this.#buckets.get(client);
    if (b === undefined) {
      b = { tokens: this.#burst, at: now };
      this.#buckets.set(client, b);
    }
    b.tokens = Math.min(this.#burst, b.tokens + (now - b.at) * this.#perMs);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterMs: Math.ceil((1 - b.tokens) / this.#perMs) };
  }
}
