// An admin manages local accounts over the API the workspace uses: adds one (its TOTP secret shown once), disables
// and enables it, ends a lockout, gives it a new second factor. Each change is the admin's, in the audit trail; the
// person whose account it is feels it at once; no one else may do it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { totpCode, totpStep } from '../../src/auth/index.ts';
import { call, send, startExchangeNode } from '../support/exchange.ts';
import { PERSON_PASSWORD, signedIn } from '../support/sign-in.ts';

test('an admin adds, disables, enables, unlocks and re-keys an account; each change is recorded in the admin’s name', async (t) => {
  const n = await startExchangeNode(t);
  const admin = await signedIn(t, n, { username: 'b.beheer', name: 'B. Beheer', role: 'admin' });
  const signIn = (password: string, code: string) =>
    call(n.port, 'POST', '/api/v1/session', n.ca.certPem, undefined, { username: 'c.bakker', password, code });
  const codeAt = (secret: string, ahead = 0) => totpCode(secret, totpStep(new Date()) + ahead);
  const lastFailure = async () => (await n.n.node.audit.list({ action: 'login-failure' })).at(-1)?.description;

  // Refusals first: a body naming a weak password, a taken name, a role that does not exist.
  const add = (body: Record<string, unknown>) => admin.call('POST', '/api/v1/accounts', body);
  const person = { username: 'c.bakker', name: 'Dr. C. Bakker', role: 'radiologist', uziRoleCode: '01.015' };
  assert.equal((await add({ ...person, password: 'short' })).status, 400);
  assert.equal((await add({ ...person, role: 'superuser', password: PERSON_PASSWORD })).status, 400);
  assert.equal((await add({ ...person, uziRoleCode: 'radioloog', password: PERSON_PASSWORD })).status, 400);
  const created = await add({ ...person, password: PERSON_PASSWORD });
  assert.equal(created.status, 201, created.body);
  const { account, totpSecret, totpUri } = JSON.parse(created.body) as {
    account: { id: string; username: string; role: string; disabled: boolean; lockedUntil: string | null };
    totpSecret: string;
    totpUri: string;
  };
  assert.deepEqual(
    [account.username, account.role, account.disabled, account.lockedUntil],
    ['c.bakker', 'radiologist', false, null],
  );
  assert.match(totpUri, /^otpauth:\/\/totp\/Beeldbrug%20.*%3Ac\.bakker\?secret=[A-Z2-7]+&issuer=Beeldbrug/);
  const taken = await add({ ...person, password: PERSON_PASSWORD });
  assert.equal(taken.status, 409);
  assert.equal((JSON.parse(taken.body) as { code: string }).code, 'ACCOUNT_EXISTS');

  const listed = JSON.parse((await admin.call('GET', '/api/v1/accounts')).body) as {
    accounts: { username: string }[];
  };
  assert.deepEqual(
    listed.accounts.map((a) => a.username),
    ['admin', 'b.beheer', 'c.bakker'],
  );
  assert.ok(!JSON.stringify(listed).includes(totpSecret), 'the list never shows a secret');

  // The new account signs in with the secret it was given.
  const first = await signIn(PERSON_PASSWORD, codeAt(totpSecret));
  assert.equal(first.status, 200, first.body);
  const bakker = (JSON.parse(first.body) as { token: string }).token;
  const asBakker = (method: string, path: string, body?: unknown) =>
    send(
      n.port,
      method,
      path,
      n.ca.certPem,
      undefined,
      body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
      { authorization: `Bearer ${bakker}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    );
  assert.equal((await asBakker('GET', '/api/v1/session')).status, 200);
  assert.equal((await asBakker('GET', '/api/v1/accounts')).status, 403, 'a radiologist manages no accounts');
  assert.equal((await asBakker('POST', `/api/v1/accounts/${account.id}/unlock`, {})).status, 403);
  assert.equal((await asBakker('GET', '/api/v1/configuration')).status, 403);
  assert.equal((await asBakker('GET', '/api/v1/doctor')).status, 403);
  const configuration = await admin.call('GET', '/api/v1/configuration');
  assert.equal(configuration.status, 200, configuration.body);
  const shownConfig = JSON.parse(configuration.body) as { dimse: { aeTitle: string }; retentionDays: number };
  assert.deepEqual([shownConfig.dimse.aeTitle, shownConfig.retentionDays], ['BB_0001', 7]);
  assert.doesNotMatch(configuration.body, /keyFile|\.key|secret/i, 'no key file or secret named');

  // Disabled: the session ends at once, and sign-in is refused with the one answer every failure gets.
  const disabled = await admin.call('POST', `/api/v1/accounts/${account.id}/disable`, {});
  assert.equal(disabled.status, 200, disabled.body);
  assert.equal((JSON.parse(disabled.body) as { account: { disabled: boolean } }).account.disabled, true);
  assert.equal((await asBakker('GET', '/api/v1/session')).status, 401);
  const refused = await signIn(PERSON_PASSWORD, codeAt(totpSecret, 1));
  assert.equal(refused.status, 401);
  assert.equal((JSON.parse(refused.body) as { code: string }).code, 'SIGN_IN_FAILED');
  assert.match((await lastFailure()) ?? '', /\(disabled\)/);

  const enabled = await admin.call('POST', `/api/v1/accounts/${account.id}/enable`, {});
  assert.equal(enabled.status, 200, enabled.body);
  assert.equal((await signIn(PERSON_PASSWORD, codeAt(totpSecret, 1))).status, 200, 'enabled, the same factors work');

  // Five wrong passwords lock it; the admin ends the lock at once.
  for (let i = 0; i < 5; i++) assert.equal((await signIn('not the password at all', '000000')).status, 401);
  const locked = JSON.parse((await admin.call('GET', '/api/v1/accounts')).body) as {
    accounts: { username: string; lockedUntil: string | null }[];
  };
  assert.notEqual(locked.accounts.find((a) => a.username === 'c.bakker')?.lockedUntil, null);
  await signIn(PERSON_PASSWORD, codeAt(totpSecret, 1));
  assert.match((await lastFailure()) ?? '', /\(locked\)/);
  const unlocked = await admin.call('POST', `/api/v1/accounts/${account.id}/unlock`, {});
  assert.equal((JSON.parse(unlocked.body) as { account: { lockedUntil: string | null } }).account.lockedUntil, null);
  await signIn(PERSON_PASSWORD, '000000');
  assert.match((await lastFailure()) ?? '', /\(wrong-code\)/, 'no longer locked: the code is what is wrong now');

  // The authenticator is lost: a new secret, shown once; the old one stops working.
  const reset = await admin.call('POST', `/api/v1/accounts/${account.id}/reset-second-factor`, {});
  assert.equal(reset.status, 200, reset.body);
  const fresh = (JSON.parse(reset.body) as { totpSecret: string }).totpSecret;
  assert.notEqual(fresh, totpSecret);
  assert.equal((await signIn(PERSON_PASSWORD, codeAt(totpSecret, 1))).status, 401);
  assert.equal((await signIn(PERSON_PASSWORD, codeAt(fresh))).status, 200, 'the new secret signs in');

  // The admin cannot lock themselves out, nor act on an account that is not there.
  const self = await admin.call('POST', `/api/v1/accounts/${admin.id}/disable`, {});
  assert.equal(self.status, 400);
  assert.match((JSON.parse(self.body) as { detail: string }).detail, /your own account/);
  assert.equal((await admin.call('POST', '/api/v1/accounts/no-such-id/unlock', {})).status, 404);
  assert.equal((await admin.call('POST', `/api/v1/accounts/${account.id}/unlock`, { force: true })).status, 400);

  const changes = (await n.n.node.audit.list({ action: 'configuration-change' }))
    .filter((r) => r.user.id === admin.id)
    .map((r) => r.description);
  assert.deepEqual(changes, [
    'local account c.bakker (Dr. C. Bakker) created with role radiologist',
    'account c.bakker (Dr. C. Bakker) disabled; its sessions ended',
    'account c.bakker (Dr. C. Bakker) enabled',
    'account c.bakker (Dr. C. Bakker) unlocked',
    'account c.bakker (Dr. C. Bakker): second factor (TOTP) replaced; the old one no longer works, its sessions ended',
  ]);
});
