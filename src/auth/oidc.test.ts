import assert from 'node:assert/strict';
import { test } from 'node:test';
import { identityOf, isTwoFactor } from './oidc.ts';

test('two factors: a named amr value, or two methods of different kinds', () => {
  assert.equal(isTwoFactor(['pwd', 'otp'], ['mfa']), true, 'know + have');
  assert.equal(isTwoFactor(['pwd', 'fpt'], ['mfa']), true, 'know + are');
  assert.equal(isTwoFactor(['hwk', 'face'], ['mfa']), true, 'have + are');
  assert.equal(isTwoFactor(['mfa'], ['mfa']), true, 'the provider says so');
  assert.equal(isTwoFactor(['pwd'], ['mfa']), false);
  assert.equal(isTwoFactor(['pwd', 'pin', 'kba'], ['mfa']), false, 'three things you know are one factor');
  assert.equal(isTwoFactor(['pwd', 'user', 'geo', 'rba'], ['mfa']), false, 'qualifiers are no factor');
  assert.equal(isTwoFactor([], ['mfa']), false);
  assert.equal(
    isTwoFactor(['urn:hospital:uzipas'], ['mfa', 'urn:hospital:uzipas']),
    true,
    "a hospital's own value, when configured",
  );
});

test('claims to identity: first mapped group wins, unknown groups are refused, the UZI role code is kept only when well-formed', () => {
  const settings = {
    issuer: 'https://idp.noord.example',
    claims: { username: 'preferred_username', name: 'name', groups: 'groups', uziRoleCode: 'uzi' },
    roles: [
      { group: 'audit', role: 'auditor' as const },
      { group: 'radiologie', role: 'radiologist' as const },
    ],
    twoFactorAmr: ['mfa'],
  };
  const both = identityOf(settings, {
    sub: 'abc',
    name: 'Dr. C. Bakker',
    preferred_username: 'C.Bakker',
    groups: ['radiologie', 'audit'],
    amr: ['pwd', 'otp'],
    uzi: '01.015',
  });
  assert.deepEqual(both, {
    ok: true,
    identity: {
      subject: 'https://idp.noord.example abc',
      username: 'c.bakker',
      name: 'Dr. C. Bakker',
      role: 'auditor',
      uziRoleCode: '01.015',
      twoFactor: true,
      amr: ['pwd', 'otp'],
    },
  });
  const single = identityOf(settings, { sub: 'abc', groups: 'radiologie', uzi: 'radioloog' });
  assert.ok(single.ok);
  assert.equal(single.identity.role, 'radiologist', 'a single group may come as a string');
  assert.equal(single.identity.uziRoleCode, undefined);
  assert.equal(single.identity.name, 'abc', 'without a name claim the subject is shown');
  assert.equal(single.identity.twoFactor, false, 'no amr is one factor');
  const none = identityOf(settings, { sub: 'abc', name: 'F. Smit', groups: ['facilitair'] });
  assert.deepEqual(none, {
    ok: false,
    reason: 'no-role',
    detail: 'none of the groups (1) maps to a role',
    subject: 'https://idp.noord.example abc',
    name: 'F. Smit',
  });
  assert.equal(identityOf(settings, { groups: ['audit'] }).ok, false, 'no subject, no identity');
});
