import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rateKeyOf, SignInRateLimit } from './sign-in-rate-limit.ts';

const settings = { perAddress: { attempts: 3, windowSeconds: 60 }, global: { attempts: 5, windowSeconds: 120 } };

function limiter(): { limit: SignInRateLimit; clock: { now: number } } {
  const clock = { now: Date.parse('2026-12-05T08:00:00Z') };
  return { limit: new SignInRateLimit(settings, () => clock.now), clock };
}

test('an address gets its attempts per window, then waits until the oldest leaves it', () => {
  const { limit, clock } = limiter();
  for (let i = 0; i < 3; i++) {
    assert.equal(limit.admit('10.0.0.1').ok, true);
    clock.now += 10_000;
  }
  assert.deepEqual(limit.admit('10.0.0.1'), { ok: false, limit: 'address', retryAfterSeconds: 30, first: true });
  assert.equal(limit.admit('10.0.0.2').ok, true, 'another address is not held up');
  clock.now += 29_000;
  assert.deepEqual(limit.admit('10.0.0.1'), { ok: false, limit: 'address', retryAfterSeconds: 1, first: false });
  clock.now += 1_000;
  assert.equal(limit.admit('10.0.0.1').ok, true, 'the first attempt left the window');
});

test('all addresses together stop at the global limit', () => {
  const { limit, clock } = limiter();
  for (let i = 1; i <= 5; i++) assert.equal(limit.admit(`10.0.1.${i}`).ok, true);
  clock.now += 20_000;
  assert.deepEqual(limit.admit('10.0.1.99'), { ok: false, limit: 'global', retryAfterSeconds: 100, first: true });
  clock.now += 100_000;
  assert.equal(limit.admit('10.0.1.99').ok, true);
});

test('a successful sign-in gives its place back; an attempt in progress holds it', () => {
  const { limit } = limiter();
  const running = [limit.admit('10.0.0.1'), limit.admit('10.0.0.1'), limit.admit('10.0.0.1')];
  assert.equal(limit.admit('10.0.0.1').ok, false, 'three attempts still running fill the window');
  for (const r of running) if (r.ok) r.succeeded();
  for (const r of running) if (r.ok) r.succeeded();
  for (let i = 0; i < 3; i++) assert.equal(limit.admit('10.0.0.1').ok, true, 'succeeded once, given back once');
  assert.equal(limit.admit('10.0.0.1').ok, false);
});

test('addresses count as a client has them: IPv4-mapped as IPv4, IPv6 per /64', () => {
  for (const [address, key] of [
    ['10.0.0.1', '10.0.0.1'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['2001:db8:0:1::5', '2001:db8:0:1::/64'],
    ['2001:0db8:0000:0001:ffff:1:2:3', '2001:db8:0:1::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1', 'fe80:0:0:0::/64'],
  ] as const) {
    assert.equal(rateKeyOf(address), key, address);
  }
  const { limit } = limiter();
  for (let i = 1; i <= 3; i++) assert.equal(limit.admit(`2001:db8:0:1::${i}`).ok, true);
  assert.equal(limit.admit('2001:db8:0:1::99').ok, false, 'another address of the same /64');
});
