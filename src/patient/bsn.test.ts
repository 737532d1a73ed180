import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BSN_ISSUER_OID, isValidBsn, randomBsn } from './index.ts';

test('the elfproef accepts valid BSNs and rejects the rest', () => {
  // 111222333: 9+8+7+12+10+8+9+6 = 69, 69 - 3 = 66 = 6 x 11.
  for (const ok of ['111222333', '123456782', '999999990', '010000008']) assert.ok(isValidBsn(ok), ok);
  for (const bad of [
    '111222334',
    '123456789',
    '000000000',
    '12345678',
    '1234567820',
    '12345678a',
    ' 23456782',
    '',
    '１２３４５６７８２',
  ]) {
    assert.ok(!isValidBsn(bad), JSON.stringify(bad));
  }
});

test('every single-digit change of a valid BSN is caught', () => {
  const bsn = '123456782';
  for (let i = 0; i < 9; i++) {
    for (let d = 0; d <= 9; d++) {
      const c = bsn.slice(0, i) + String(d) + bsn.slice(i + 1);
      if (c !== bsn) assert.ok(!isValidBsn(c), c);
    }
  }
});

test('randomBsn gives valid, varied BSNs and is deterministic for a seeded rng', () => {
  const seeded = (seed: number) => () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  const a = Array.from(
    { length: 500 },
    (
      (r) => () =>
        randomBsn(r)
    )(seeded(7)),
  );
  const b = Array.from(
    { length: 500 },
    (
      (r) => () =>
        randomBsn(r)
    )(seeded(7)),
  );
  assert.deepEqual(a, b);
  for (const s of a) assert.ok(isValidBsn(s), s);
  assert.ok(new Set(a).size > 490);
  assert.ok(isValidBsn(randomBsn(() => 0.999999999)));
  assert.ok(isValidBsn(randomBsn(Math.random)));
  assert.throws(() => randomBsn(() => 0), RangeError, 'a stuck random source fails instead of looping');
});

test('the BSN issuer OID', () => {
  assert.equal(BSN_ISSUER_OID, '2.16.840.1.113883.2.4.6.3');
});
