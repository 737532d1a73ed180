// People signed in to a test node: an account made as `beeldbrug user add` makes it, signed in over HTTPS with
// password + TOTP, and a client that calls the node's API with the session's bearer token.
import assert from 'node:assert/strict';
import { beeldbrugCli, run, type RunResult } from './processes.ts';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { type Role, totpCode, totpStep } from '../../src/auth/index.ts';
import { parseConfig } from '../../src/config/index.ts';
import { openAccounts } from '../../src/node/index.ts';
import { type Answer, call, type ExchangeNode, send } from './exchange.ts';

export const PERSON_PASSWORD = 'a long enough passphrase';

export interface SignedIn {
  token: string;
  /** The account's id: what the audit trail names as the user. */
  id: string;
  name: string;
  username: string;
  totpSecret: string;
  /** Calls the node's API with the session (and no client certificate). */
  call(method: string, path: string, json?: unknown): Promise<Answer>;
}

/** Makes a local account on the node and signs it in. */
export async function signedIn(
  t: TestContext,
  n: ExchangeNode,
  a: { username: string; name: string; role: Role; uziRoleCode?: string; organization?: string },
): Promise<SignedIn> {
  const totpSecret = await addAccount(t, n, a);
  const r = await call(n.port, 'POST', '/api/v1/session', n.ca.certPem, undefined, {
    username: a.username,
    password: PERSON_PASSWORD,
    code: totpCode(totpSecret, totpStep(new Date())),
  });
  assert.equal(r.status, 200, r.body);
  const body = JSON.parse(r.body) as { token: string };
  const id =
    (await n.n.node.audit.list({ action: 'login' })).findLast((rec) => rec.user.name === a.name)?.user.id ?? '';
  return {
    token: body.token,
    id,
    name: a.name,
    username: a.username,
    totpSecret,
    call: (method, path, json) =>
      json === undefined
        ? send(n.port, method, path, n.ca.certPem, undefined, undefined, { authorization: `Bearer ${body.token}` })
        : send(n.port, method, path, n.ca.certPem, undefined, Buffer.from(JSON.stringify(json)), {
            authorization: `Bearer ${body.token}`,
            'content-type': 'application/json',
          }),
  };
}

/** Makes a local account on a running node (its accounts database, as `beeldbrug user add` does); returns its TOTP secret. */
export async function addAccount(
  t: TestContext,
  n: ExchangeNode,
  a: { username: string; name: string; role: Role; uziRoleCode?: string; organization?: string },
): Promise<string> {
  const config = parseConfig(
    parseYaml(readFileSync(n.n.configPath, 'utf8')) as Record<string, unknown>,
    n.n.configPath,
  );
  const accounts = await openAccounts(config);
  t.after(() => accounts.close());
  const { totpSecret } = await accounts.createLocal({
    ...a,
    password: PERSON_PASSWORD,
    createdBy: { id: 'os:beheer', name: 'beheer (beeldbrug user add)' },
  });
  return totpSecret;
}

/**
 * Runs the `beeldbrug` CLI as a person at their terminal would, with its own saved sign-in (BEELDBRUG_SESSION) and
 * standard input. Asynchronous: the node under test runs in this process and must keep answering.
 */
export function cliAs(
  sessionFile: string,
  args: readonly string[],
  input = '',
  timeoutMs = 120_000,
): Promise<RunResult> {
  return run(process.execPath, [...beeldbrugCli, ...args], timeoutMs, {
    env: { ...process.env, BEELDBRUG_SESSION: sessionFile },
    input,
  });
}

/** `beeldbrug login` for an account made with `addAccount`: password and the current TOTP code on standard input. */
export async function cliLogin(
  n: ExchangeNode,
  sessionFile: string,
  caFile: string,
  username: string,
  totpSecret: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return cliAs(
    sessionFile,
    ['login', '--node', `https://127.0.0.1:${n.port}`, '--ca', caFile, '--username', username],
    `${PERSON_PASSWORD}\n${totpCode(totpSecret, totpStep(new Date()))}\n`,
  );
}
