import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptTotp, base32Decode, base32Encode, newTotpSecret, totpCode, totpStep } from './totp.ts';

// RFC 6238 appendix B, SHA-1 rows: the secret is the ASCII "12345678901234567890", codes are the last 6 of 8 digits.
const RFC_SECRET = base32Encode(Buffer.from('12345678901234567890'));
const vectors: [number, string][] = [
  [59, '287082'],
  [1111111109, '081804'],
  [1111111111, '050471'],
  [1234567890, '005924'],
  [2000000000, '279037'],
  [20000000000, '353130'],
];

for (const [seconds, code] of vectors) {
  test(`TOTP matches RFC 6238 at T=${seconds}`, () => {
    assert.equal(totpCode(RFC_SECRET, totpStep(new Date(seconds * 1000))), code);
  });
}

test('base32 round-trips and a fresh secret is 160 bits', () => {
  for (const n of [0, 1, 5, 19, 20, 33]) {
    const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + 11) & 255));
    assert.deepEqual(base32Decode(base32Encode(bytes)), bytes);
  }
  assert.equal(base32Decode(newTotpSecret()).length, 20);
  assert.throws(() => base32Decode('not*base32'), /base32/);
});

test('a code is accepted within one step of drift, never twice, and never malformed', () => {
  const secret = newTotpSecret();
  const at = new Date('2026-11-23T10:00:15Z');
  const step = totpStep(at);
  assert.equal(acceptTotp(secret, totpCode(secret, step), at), step);
  assert.equal(acceptTotp(secret, totpCode(secret, step - 1), at), step - 1, 'the previous step still counts');
  assert.equal(acceptTotp(secret, totpCode(secret, step + 1), at), step + 1, 'a clock a step ahead still counts');
  assert.equal(acceptTotp(secret, totpCode(secret, step - 2), at), undefined, 'two steps old is too old');
  assert.equal(acceptTotp(secret, totpCode(secret, step), at, step), undefined, 'a code already used is refused');
  assert.equal(acceptTotp(secret, '12345', at), undefined);
  assert.equal(acceptTotp(secret, 'abcdef', at), undefined);
});
