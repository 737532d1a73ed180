import { isIP } from 'node:net';

/** At most `attempts` failed or unfinished sign-ins within any `windowSeconds`. */
export interface RateWindow {
  attempts: number;
  windowSeconds: number;
}

export interface SignInRateLimitSettings {
  /** Per client address (an IPv6 client counts per /64: one host can have a whole prefix). */
  perAddress: RateWindow;
  /** All addresses together: what the per-account lockout and the per-address limit miss, many addresses guessing. */
  global: RateWindow;
}

export type SignInAdmission =
  | {
      ok: true;
      /** The sign-in succeeded: its attempt no longer counts against the address or the node. */ succeeded(): void;
    }
  | {
      ok: false;
      limit: 'address' | 'global';
      retryAfterSeconds: number;
      /** The first refusal since this limit last let the address through: worth a log line, the rest are not. */ first: boolean;
    };

/** The key an address counts under: IPv4 as is (also when IPv4-mapped), IPv6 by its /64 prefix. */
export function rateKeyOf(address: string): string {
  const a = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  if (isIP(a) !== 6) return a;
  const [head = '', tail = ''] = a.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = a.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * The sign-in rate limit, beside the per-account lockout: password guessing from one address, and from many, is slowed
 * before any password is checked (which also bounds the argon2 work an attacker can make the node do). An attempt holds
 * its place while it runs, so that a burst of parallel requests cannot all pass; a successful sign-in gives it back, so
 * staff signing in at the start of a shift never fill the window. Sliding windows: the oldest attempt leaving the
 * window frees a place, and Retry-After says when that is.
 */
export class SignInRateLimit {
  readonly #settings: SignInRateLimitSettings;
  readonly #now: () => number;
  readonly #byAddress = new Map<string, number[]>();
  #all: number[] = [];
  readonly #refused = new Set<string>();

  constructor(settings: SignInRateLimitSettings, now: () => number = Date.now) {
    this.#settings = settings;
    this.#now = now;
  }

  admit(address: string): SignInAdmission {
    const at = this.#now();
    const key = rateKeyOf(address);
    const global = this.#settings.global;
    this.#all = recent(this.#all, at, global.windowSeconds);
    const mine = recent(this.#byAddress.get(key) ?? [], at, this.#settings.perAddress.windowSeconds);
    if (mine.length >= this.#settings.perAddress.attempts) {
      this.#byAddress.set(key, mine);
      return {
        ok: false,
        limit: 'address',
        retryAfterSeconds: retryAfter(mine, at, this.#settings.perAddress.windowSeconds),
        first: this.#firstRefusal(key),
      };
    }
    if (this.#all.length >= global.attempts) {
      this.#keep(key, mine);
      return {
        ok: false,
        limit: 'global',
        retryAfterSeconds: retryAfter(this.#all, at, global.windowSeconds),
        first: this.#firstRefusal(''),
      };
    }
    this.#refused.delete(key);
    this.#refused.delete('');
    mine.push(at);
    this.#byAddress.set(key, mine);
    this.#all.push(at);
    this.#sweep(at);
    let given = false;
    return {
      ok: true,
      succeeded: () => {
        if (given) return;
        given = true;
        removeOne(this.#byAddress.get(key), at);
        removeOne(this.#all, at);
      },
    };
  }

  #firstRefusal(key: string): boolean {
    if (this.#refused.has(key)) return false;
    // Bounded like the address map: past that, a refusal is simply not the first.
    if (this.#refused.size > this.#settings.global.attempts) return false;
    this.#refused.add(key);
    return true;
  }

  #keep(key: string, times: number[]): void {
    if (times.length === 0) this.#byAddress.delete(key);
    else this.#byAddress.set(key, times);
  }

  /**
   * Forgets addresses whose attempts all left their window. Only an admitted attempt adds an address and the global
   * limit bounds those, so the map stays small whatever an attacker sends.
   */
  #sweep(at: number): void {
    if (this.#byAddress.size <= this.#settings.global.attempts) return;
    for (const [key, times] of this.#byAddress)
      this.#keep(key, recent(times, at, this.#settings.perAddress.windowSeconds));
  }
}

function recent(times: readonly number[], at: number, windowSeconds: number): number[] {
  const since = at - windowSeconds * 1000;
  return times.filter((t) => t > since);
}

/** Whole seconds until the oldest attempt leaves the window (at least 1). */
function retryAfter(times: readonly number[], at: number, windowSeconds: number): number {
  const oldest = times[0] ?? at;
  return Math.max(1, Math.ceil((oldest + windowSeconds * 1000 - at) / 1000));
}

function removeOne(times: number[] | undefined, at: number): void {
  const i = times?.indexOf(at) ?? -1;
  if (i >= 0) times?.splice(i, 1);
}
