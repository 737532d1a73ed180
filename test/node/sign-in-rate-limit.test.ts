// Password guessing against a running node over HTTPS: besides the per-account lockout, failed sign-ins are limited per
// client address and for all addresses together. Beyond a limit the answer is 429 with Retry-After and RFC 9457 problem
// details, before any password is checked; once the window has passed (an injected clock, no waiting) sign-in works.
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { totpCode, totpStep } from '../../src/auth/index.ts';
import { parseConfig } from '../../src/config/index.ts';
import { openAccounts } from '../../src/node/index.ts';
import { startExchangeNode } from '../support/exchange.ts';

const PASSWORD = 'a long enough passphrase';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A sign-in from a chosen loopback address (127.0.0.0/8 all reach the node), as different clients would send it. */
function signIn(
  port: number,
  ca: string,
  from: string,
  credentials: { username: string; password: string; code: string },
): Promise<Reply> {
  const body = JSON.stringify(credentials);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/v1/session',
        method: 'POST',
        ca,
        agent: false,
        localAddress: from,
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function assertThrottled(r: Reply, retryAfter: number, detail: RegExp): void {
  assert.equal(r.status, 429, r.body);
  assert.equal(r.headers['retry-after'], String(retryAfter));
  assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  const problem = JSON.parse(r.body) as Record<string, unknown>;
  assert.equal(problem['status'], 429);
  assert.equal(problem['code'], 'SIGN_IN_RATE_LIMITED');
  assert.match(String(problem['detail']), detail);
}

test('sign-in is limited per address and in all: 429 with Retry-After, and allowed again once the window has passed', async (t) => {
  const clock = { now: Date.parse('2026-12-05T08:00:00Z') };
  const { n, port, ca } = await startExchangeNode(t, {
    signInRateLimit: { perAddress: { attempts: 3, windowSeconds: 60 }, global: { attempts: 5, windowSeconds: 120 } },
    now: () => clock.now,
  });
  const accounts = await openAccounts(
    parseConfig(parseYaml(readFileSync(n.configPath, 'utf8')) as Record<string, unknown>, n.configPath),
  );
  const { totpSecret } = await accounts.createLocal({
    username: 'c.bakker',
    name: 'Dr. C. Bakker',
    role: 'radiologist',
    password: PASSWORD,
  });
  await accounts.close();
  const wrong = { username: 'c.bakker', password: 'not the passphrase', code: '000000' };
  const right = (offset: number) => ({
    username: 'c.bakker',
    password: PASSWORD,
    code: totpCode(totpSecret, totpStep(new Date()) + offset),
  });

  // A successful sign-in does not count against the address.
  assert.equal((await signIn(port, ca.certPem, '127.0.0.1', right(-1))).status, 200);
  // Per address: three failures, then 429 even for the right credentials, while another address still gets through.
  for (let i = 0; i < 3; i++)
    assert.equal((await signIn(port, ca.certPem, '127.0.0.1', { ...wrong, username: `user${i}` })).status, 401);
  assertThrottled(await signIn(port, ca.certPem, '127.0.0.1', wrong), 60, /from this address/);
  clock.now += 45_000;
  assertThrottled(await signIn(port, ca.certPem, '127.0.0.1', right(0)), 15, /from this address/);
  assert.equal((await signIn(port, ca.certPem, '127.0.0.2', wrong)).status, 401, 'another address is not held up');

  // The window has passed for 127.0.0.1: sign-in works again.
  clock.now += 15_000;
  assert.equal((await signIn(port, ca.certPem, '127.0.0.1', right(0))).status, 200);

  // In all: five failures within two minutes from any addresses hold every address back.
  assert.equal((await signIn(port, ca.certPem, '127.0.0.3', wrong)).status, 401);
  assertThrottled(await signIn(port, ca.certPem, '127.0.0.4', wrong), 60, /at this node/);
  clock.now += 60_000;
  assert.equal(
    (await signIn(port, ca.certPem, '127.0.0.4', right(1))).status,
    200,
    'after the oldest failures left the window',
  );

  // Throttled attempts are not audited one by one (a flood would fill the trail); the attempts that ran are.
  assert.equal((await n.node.audit.list({ action: 'login-failure' })).length, 5);
  assert.equal((await n.node.audit.list({ action: 'login' })).length, 3);
});
