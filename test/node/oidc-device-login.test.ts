// `beeldbrug login --oidc` at a terminal without a browser: the OAuth 2.0 Device Authorization Grant (RFC 8628) against
// a real OpenID Provider (oidc-provider). The CLI shows a page and a code; the person opens the page in any browser,
// confirms the code and signs in at the provider; the node, which alone holds the client secret, polls the provider,
// checks the ID token as for a browser sign-in, and hands the terminal its session. Tested with the real CLI process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { TestBrowser } from '../support/browser.ts';
import type { IdpPerson } from '../support/oidc-idp.ts';
import { startNodeBehindIdp } from '../support/oidc-node.ts';
import { cliAs } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { beeldbrugCli } from '../support/processes.ts';

const people: Record<string, IdpPerson> = {
  'rad-1': {
    name: 'Dr. C. Bakker',
    username: 'c.bakker@noord.example',
    groups: ['radiologie'],
    amr: ['pwd', 'otp'],
    uziRoleCode: '01.015',
  },
  'fac-1': { name: 'F. Smit', username: 'f.smit@noord.example', groups: ['facilitair'], amr: ['pwd', 'otp'] },
};

/** The fields of the first form on a page: its action and every input with a value. */
function formOf(html: string, base: string): { action: string; fields: Record<string, string> } {
  const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/.exec(html);
  assert.ok(form !== null, `a form on the page: ${html.slice(0, 300)}`);
  const fields: Record<string, string> = {};
  for (const m of form[2]!.matchAll(/<input\b([^>]*)>/g)) {
    const name = /name="([^"]+)"/.exec(m[1]!)?.[1];
    const value = /value="([^"]*)"/.exec(m[1]!)?.[1];
    if (name !== undefined && value !== undefined) fields[name] = value;
  }
  return { action: new URL(form[1]!, base).href, fields };
}

test('beeldbrug login --oidc: the person signs in at the identity provider with the code shown, and the terminal gets a session', async (t) => {
  const {
    node: { n },
    idp,
    ca,
    caFile,
    origin: node,
  } = await startNodeBehindIdp(t, {
    people,
    claims: { uziRoleCode: 'uzi_role_code' },
    roles: [{ group: 'radiologie', role: 'radiologist' }],
  });
  const dir = tempDir(t);

  /** Runs `beeldbrug login --oidc`, signs in at the provider as `person` with the code it shows, and waits for its end. */
  const login = async (
    person: string,
    sessionFile: string,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> => {
    const cli = spawn(process.execPath, [...beeldbrugCli, 'login', '--oidc', '--node', node, '--ca', caFile], {
      env: { ...process.env, BEELDBRUG_SESSION: sessionFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => cli.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const ended = new Promise<number | null>((resolve) => cli.on('close', resolve));
    const shown = await new Promise<{ page: string; code: string; complete: string }>((resolve, reject) => {
      cli.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /open (\S+) and enter the code (\S+)\n\(or open (\S+)\)/.exec(stdout);
        if (m !== null) resolve({ page: m[1]!, code: m[2]!, complete: m[3]! });
      });
      void ended.then((code) => reject(new Error(`the CLI ended (${code}) before showing a code: ${stdout}${stderr}`)));
    });
    assert.ok(shown.page.startsWith(idp.issuer), `the page is the provider's: ${shown.page}`);
    assert.match(stdout, /within \d+ minutes\. Waiting/);

    // The person, in a browser on another device: open the page, confirm the code, sign in.
    const browser = new TestBrowser(ca.certPem);
    let page = await browser.go(shown.complete);
    let from = shown.complete;
    while (page.status === 200) {
      assert.ok(page.body.includes(shown.code), 'the page shows the code the terminal shows');
      const form = formOf(page.body, from);
      page = await browser.go(form.action, { form: form.fields, from });
      from = form.action;
    }
    const interaction = page.location!.includes('/interaction/')
      ? page.location!
      : (await browser.follow(page.location!, (url) => url.includes('/interaction/'), from)).at(-1)!.location!;
    assert.ok(interaction.includes('/interaction/'), `the provider asks who signs in: ${interaction}`);
    const submitted = await browser.go(`${interaction}/login`, { form: { person }, from: interaction });
    const back = await browser.follow(submitted.location!, () => false, interaction);
    assert.equal(back.at(-1)!.status, 200, 'the provider says the device sign-in is done');

    const code = await ended;
    cli.stdout.removeAllListeners('data');
    return { code, stdout, stderr };
  };

  const sessionFile = join(dir, 'session.json');
  const ok = await login('rad-1', sessionFile);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`signed in at ${node} as Dr\\. C\\. Bakker \\(radiologist, UZI role 01\\.015\\)`));
  assert.equal(statSync(sessionFile).mode & 0o777, 0o600, 'the session file is the owner’s alone');
  const saved = JSON.parse(readFileSync(sessionFile, 'utf8')) as { token: string; user: { name: string } };
  assert.equal(saved.user.name, 'Dr. C. Bakker');

  // The saved session is a real one at the node: the next command works with it, in the person's name.
  const whoami = await call('GET', `${node}/api/v1/session`, ca.certPem, undefined, saved.token);
  assert.equal(whoami.status, 200);
  assert.deepEqual(whoami.body['user'], {
    username: 'c.bakker@noord.example',
    name: 'Dr. C. Bakker',
    role: 'radiologist',
    uziRoleCode: '01.015',
  });
  assert.equal(whoami.body['twoFactor'], true, "the provider's password + one-time code count as two factors");
  const signedIn = (await n.node.audit.list({ action: 'login' })).at(-1);
  assert.equal(signedIn?.user.name, 'Dr. C. Bakker');
  assert.equal(signedIn?.grounds.authorization, `OpenID Connect device sign-in (${idp.issuer})`);
  assert.match(signedIn?.description ?? '', /two factors/);

  // A person in no group that maps to a role signs in at the provider, but not at the node: a refusal, recorded.
  const refused = await login('fac-1', join(dir, 'refused.json'));
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /sign-in failed/i);
  const failure = (await n.node.audit.list({ action: 'login-failure' })).at(-1);
  assert.match(failure?.description ?? '', /no-role/);
  assert.equal(failure?.grounds.authorization, `OpenID Connect device sign-in (${idp.issuer})`);

  // A handle the node never gave out is a failed sign-in like any other.
  const forged = await call('POST', `${node}/api/v1/session/oidc/device/token`, ca.certPem, {
    handle: 'x'.repeat(43),
  });
  assert.equal(forged.status, 401);
  assert.equal(forged.body['code'], 'SIGN_IN_FAILED');

  // A newcomer's mistake: neither way of signing in named.
  const neither = await cliAs(sessionFile, ['login', '--node', node, '--ca', caFile]);
  assert.equal(neither.code, 2);
  assert.match(neither.stderr, /either --username .* or --oidc/);
});

function call(
  method: string,
  url: string,
  ca: string,
  body: unknown,
  token?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const payload = body !== undefined ? JSON.stringify(body) : undefined;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca,
        headers: {
          ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
          ...(payload !== undefined
            ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

test('identity-provider sign-ins count against the sign-in rate limit: forged device handles and callbacks get 429', async (t) => {
  const {
    node: { n },
    ca,
    origin: node,
    redirectUri,
  } = await startNodeBehindIdp(t, {
    people,
    signInRateLimit: { perAddress: { attempts: 2, windowSeconds: 600 }, global: { attempts: 50, windowSeconds: 600 } },
    roles: [{ group: 'radiologie', role: 'radiologist' }],
  });
  const forged = (): Promise<{ status: number; body: Record<string, unknown> }> =>
    call('POST', `${node}/api/v1/session/oidc/device/token`, ca.certPem, { handle: 'y'.repeat(43) });
  assert.equal((await forged()).status, 401);
  assert.equal((await forged()).status, 401);
  const held = await forged();
  assert.equal(held.status, 429);
  assert.equal(held.body['code'], 'SIGN_IN_RATE_LIMITED');
  // The same address's callbacks are held back too, before the node asks the provider anything.
  const callback = await new TestBrowser(ca.certPem).go(`${redirectUri}?code=forged&state=forged`);
  assert.equal(callback.status, 429);
  const refusals = await n.node.audit.list({ action: 'login-failure' });
  assert.equal(refusals.length, 2, 'the two refused handles are recorded; the held-back attempts never ran');
});
