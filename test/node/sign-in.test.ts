// Staff sign in to a running node: accounts made with `beeldbrug user add` (the first an admin), password + TOTP over
// HTTPS, lockout, sessions by cookie or bearer token, sign-out, and the audit trail readable only by an auditor with
// two factors, that reading itself recorded. Every sign-in, failed or not, is an audit record.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'node:https';
import { problemOf } from '../../src/http/index.ts';
import { test } from 'node:test';
import { issueNodeCertificate, totpCode, totpStep } from '../../src/auth/index.ts';
import { call, send, startExchangeNode } from '../support/exchange.ts';
import { beeldbrugCli } from '../support/processes.ts';

const SIGN_IN_FAILED_BODY = JSON.stringify(problemOf('SIGN_IN_FAILED', 'sign-in failed'));

const PASSWORD = 'a long enough passphrase';

function userAdd(
  configPath: string,
  args: readonly string[],
  password = PASSWORD,
): { code: number | null; out: string; err: string; secret?: string } {
  const r = spawnSync(process.execPath, [...beeldbrugCli, 'user', 'add', '--config', configPath, ...args], {
    input: `${password}\n`,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const secret = /TOTP secret .*: ([A-Z2-7]+)\n/.exec(r.stdout)?.[1];
  return { code: r.status, out: r.stdout, err: r.stderr, ...(secret !== undefined ? { secret } : {}) };
}

/** A code for the next TOTP step: a sign-in in the same 30 seconds as another one may not reuse its code. */
const codeFor = (secret: string, offset = 0): string => totpCode(secret, totpStep(new Date()) + offset);

function withHeaders(
  port: number,
  method: string,
  path: string,
  ca: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        ca,
        agent: false,
        headers: {
          ...headers,
          ...(body !== undefined
            ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('sign-in: password + TOTP, lockout with one answer for every failure, sessions, sign-out, and the audit trail for auditors only', async (t) => {
  const { n, port, ca, partner } = await startExchangeNode(t);
  const signIn = (username: string, password: string, code: string) =>
    call(port, 'POST', '/api/v1/session', ca.certPem, undefined, { username, password, code });

  // The node's first admin exists (it would not start without one); a second one is made here as an operator does.
  const weak = userAdd(n.configPath, ['--username', 'beheer', '--name', 'Beheer', '--role', 'admin'], 'short');
  assert.equal(weak.code, 1);
  assert.match(weak.err, /at least 12 characters/);
  const admin = userAdd(n.configPath, ['--username', 'beheer', '--name', 'Beheer', '--role', 'admin']);
  assert.equal(admin.code, 0, admin.err);
  assert.match(admin.out, /otpauth:\/\/totp\//);
  const auditor = userAdd(n.configPath, ['--username', 'auditor1', '--name', 'A. de Vries', '--role', 'auditor']);
  const radiologist = userAdd(n.configPath, [
    '--username',
    'c.bakker',
    '--name',
    'Dr. C. Bakker',
    '--role',
    'radiologist',
    '--uzi-role',
    '01.015',
  ]);
  assert.ok(auditor.secret !== undefined && radiologist.secret !== undefined);

  // Wrong password, wrong code, unknown user, malformed code: one answer.
  const failures = [
    await signIn('c.bakker', 'not the passphrase', codeFor(radiologist.secret)),
    await signIn('c.bakker', PASSWORD, '000000'),
    await signIn('nobody', PASSWORD, codeFor(radiologist.secret)),
  ];
  for (const f of failures) assert.deepEqual(f, { status: 401, body: SIGN_IN_FAILED_BODY });
  assert.equal(
    (await call(port, 'POST', '/api/v1/session', ca.certPem, undefined, { username: 'c.bakker' })).status,
    400,
  );

  // The radiologist signs in (cookie), may not read the audit trail, and signs out.
  const rad = await withHeaders(
    port,
    'POST',
    '/api/v1/session',
    ca.certPem,
    {},
    JSON.stringify({ username: 'C.Bakker', password: PASSWORD, code: codeFor(radiologist.secret) }),
  );
  assert.equal(rad.status, 200, rad.body);
  const cookie = String(rad.headers['set-cookie']);
  assert.match(cookie, /^beeldbrug_session=[\w-]{43}; Path=\/; HttpOnly; Secure; SameSite=Strict; Max-Age=4319\d/);
  const asRadiologist = { cookie: cookie.split(';')[0] ?? '' };
  const me = await withHeaders(port, 'GET', '/api/v1/session', ca.certPem, asRadiologist);
  assert.deepEqual(JSON.parse(me.body).user, {
    username: 'c.bakker',
    name: 'Dr. C. Bakker',
    role: 'radiologist',
    uziRoleCode: '01.015',
  });
  assert.equal(
    (await withHeaders(port, 'GET', '/api/v1/audit', ca.certPem, asRadiologist)).status,
    403,
    'a radiologist does not read the audit trail',
  );
  assert.equal(
    (await withHeaders(port, 'GET', '/api/v1/audit/verification', ca.certPem, asRadiologist)).status,
    403,
    'nor verify its chain',
  );
  assert.equal(
    (await withHeaders(port, 'GET', '/api/v1/outbox', ca.certPem, asRadiologist)).status,
    200,
    'the session opens the routes that act for a person',
  );
  assert.equal((await withHeaders(port, 'DELETE', '/api/v1/session', ca.certPem, asRadiologist)).status, 204);
  assert.equal(
    (await withHeaders(port, 'GET', '/api/v1/session', ca.certPem, asRadiologist)).status,
    401,
    'signed out',
  );
  assert.equal(
    (await withHeaders(port, 'GET', '/api/v1/outbox', ca.certPem, asRadiologist)).status,
    401,
    'and the ended session opens nothing',
  );
  // An ended session does not fall back to the node's own certificate the same request presents.
  const own = issueNodeCertificate(ca, {
    commonName: 'ris.test',
    organization: { name: 'Ziekenhuis Noord', ura: '10000001' },
  });
  const mixed = await send(port, 'GET', '/api/v1/outbox', ca.certPem, own, undefined, { cookie: asRadiologist.cookie });
  assert.equal(mixed.status, 401, mixed.body);

  // No session, a partner's certificate, a made-up token: refused.
  assert.equal((await call(port, 'GET', '/api/v1/audit', ca.certPem)).status, 401);
  assert.equal((await call(port, 'GET', '/api/v1/audit', ca.certPem, partner)).status, 401);
  assert.equal(
    (
      await send(port, 'GET', '/api/v1/audit', ca.certPem, undefined, undefined, {
        authorization: `Bearer ${'A'.repeat(43)}`,
      })
    ).status,
    401,
  );

  // The auditor reads the trail by patient, by user and by action; the reading is recorded too.
  const aud = await signIn('auditor1', PASSWORD, codeFor(auditor.secret, 1));
  assert.equal(aud.status, 200, aud.body);
  const bearer = { authorization: `Bearer ${(JSON.parse(aud.body) as { token: string }).token}` };
  const read = async (
    query: string,
  ): Promise<
    { action: string; outcome: string; description: string; user: { id: string; name: string; roleCode?: string } }[]
  > => {
    const a = await send(port, 'GET', `/api/v1/audit${query}`, ca.certPem, undefined, undefined, bearer);
    assert.equal(a.status, 200, a.body);
    return (JSON.parse(a.body) as { records: never[] }).records;
  };
  const logins = await read('?action=login-failure');
  assert.deepEqual(
    logins.map((r) => r.description),
    ['sign-in refused (wrong-password)', 'sign-in refused (wrong-code)', 'sign-in refused (unknown-user)'],
  );
  assert.equal(logins[2]?.user.id, 'unknown:nobody');
  const bakker = await read('?action=login');
  assert.equal(bakker[0]?.user.name, 'Dr. C. Bakker');
  assert.equal(bakker[0]?.user.roleCode, '01.015');
  assert.deepEqual(
    (await read('?action=configuration-change')).map((r) => r.description),
    [
      'local account beheer created with role admin',
      'local account auditor1 created with role auditor',
      'local account c.bakker created with role radiologist',
    ],
  );
  assert.equal((await send(port, 'GET', '/api/v1/audit?bsn=12', ca.certPem, undefined, undefined, bearer)).status, 400);
  await read('?bsn=999990019&purpose=complaint%20handling');
  const reads = await read('?action=audit-read');
  assert.equal(reads.length, 5, 'every reading of the trail is itself a record');
  assert.match(reads[3]?.description ?? '', /bsn=999990019/);
  assert.equal(reads[4]?.description, 'audit trail read (action=audit-read)', 'recorded before the records are read');

  // Five failures lock the account: the right credentials then get the same answer until the lock ends.
  for (let i = 0; i < 5; i++)
    assert.equal((await signIn('beheer', 'wrong wrong wrong', codeFor(admin.secret!))).status, 401);
  assert.deepEqual(await signIn('beheer', PASSWORD, codeFor(admin.secret!)), {
    status: 401,
    body: SIGN_IN_FAILED_BODY,
  });
  assert.equal((await read('?action=login-failure')).at(-1)?.description, 'sign-in refused (locked)');
  assert.equal((await n.node.audit.verify()).ok, true);
});
