// Sign-in through the hospital's identity provider (OpenID Connect), against a real OpenID Provider started by the test
// (oidc-provider, over HTTPS with a certificate from the test CA). The browser goes to the provider and back with a
// code; the node exchanges it (PKCE, client secret), checks the ID token's signature, issuer, audience and nonce, fills
// the profile from userinfo, maps groups to a role and `amr` to two factors. A person in no mapped group, an error from
// the provider, a callback this browser did not start, and a replayed callback sign nobody in; each is an audit record.
import assert from 'node:assert/strict';
import { problemOf } from '../../src/http/index.ts';
import { test } from 'node:test';
import { TestBrowser, type Hop } from '../support/browser.ts';
import type { IdpPerson } from '../support/oidc-idp.ts';
import { startNodeBehindIdp } from '../support/oidc-node.ts';

const SIGN_IN_FAILED_BODY = JSON.stringify(problemOf('SIGN_IN_FAILED', 'sign-in failed'));

const people: Record<string, IdpPerson> = {
  'rad-1': {
    name: 'Dr. C. Bakker',
    username: 'c.bakker@noord.example',
    groups: ['medewerkers', 'radiologie'],
    amr: ['pwd', 'otp'],
    uziRoleCode: '01.015',
  },
  'rad-2': { name: 'Dr. E. Mulder', username: 'e.mulder@noord.example', groups: ['radiologie'], amr: ['pwd'] },
  'aud-1': { name: 'A. de Vries', username: 'a.devries@noord.example', groups: ['privacy-audit'], amr: ['pwd'] },
  'aud-2': { name: 'B. Jansen', username: 'b.jansen@noord.example', groups: ['privacy-audit'], amr: ['pwd', 'hwk'] },
  'fac-1': { name: 'F. Smit', username: 'f.smit@noord.example', groups: ['facilitair'], amr: ['pwd', 'otp'] },
};

test('OpenID Connect sign-in: groups become roles, amr becomes two factors, and everything that is not a sign-in this browser started is refused', async (t) => {
  const {
    node: { n },
    idp,
    ca,
    origin: node,
    port,
    redirectUri,
  } = await startNodeBehindIdp(t, {
    people,
    claims: { uziRoleCode: 'uzi_role_code' },
    roles: [
      { group: 'privacy-audit', role: 'auditor' },
      { group: 'radiologie', role: 'radiologist' },
    ],
  });
  const signInRoutes = (n.node.https?.routes ?? [])
    .filter((r) => r.access === 'sign-in')
    .map((r) => `${r.method} ${r.url}`);
  assert.deepEqual(signInRoutes.sort(), [
    'GET /api/v1/session/oidc',
    'GET /api/v1/session/oidc/callback',
    'POST /api/v1/session',
    'POST /api/v1/session/oidc/device',
    'POST /api/v1/session/oidc/device/token',
  ]);

  /** Start at the node, log in at the provider as `person`, and stop when the browser is about to return to the node. */
  const toCallback = async (
    browser: TestBrowser,
    person: string,
  ): Promise<{ callback: string; interaction: string }> => {
    const out = await browser.follow(`${node}/api/v1/session/oidc`, (url) => url.includes('/interaction/'));
    assert.equal(out[0]?.status, 303);
    assert.ok(out[0]?.location?.startsWith(`${idp.issuer}/auth?`), 'the node sends the browser to the provider');
    const authorize = new URL(out[0]!.location!);
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(authorize.searchParams.get('nonce') !== null && authorize.searchParams.get('state') !== null);
    const interaction = out.at(-1)!.location!;
    const submitted = await browser.go(`${interaction}/login`, { form: { person }, from: interaction });
    const back = await browser.follow(submitted.location!, (url) => url.startsWith(redirectUri), interaction);
    const callback = back.at(-1)!.location!;
    assert.ok(callback.startsWith(`${redirectUri}?`), `the provider sends the browser back to the node: ${callback}`);
    return { callback, interaction: back.at(-1)!.url };
  };
  const signIn = async (person: string): Promise<{ browser: TestBrowser; hop: Hop }> => {
    const browser = new TestBrowser(ca.certPem);
    const { callback, interaction } = await toCallback(browser, person);
    return { browser, hop: await browser.go(callback, { from: interaction }) };
  };
  const session = async (
    browser: TestBrowser,
  ): Promise<{
    status: number;
    body: { user?: { name: string; role: string; uziRoleCode?: string; username: string }; twoFactor?: boolean };
  }> => {
    const r = await browser.go(`${node}/api/v1/session`);
    return { status: r.status, body: r.body !== '' ? (JSON.parse(r.body) as never) : {} };
  };
  const records = (action: 'login' | 'login-failure') => n.node.audit.list({ action });

  // A radiologist who signed in with password + one-time code: role, name and UZI role code from the provider.
  const rad = await signIn('rad-1');
  assert.equal(rad.hop.status, 303);
  assert.equal(rad.hop.location, `${node}/`);
  const radSession = await session(rad.browser);
  assert.equal(radSession.status, 200);
  assert.deepEqual(radSession.body.user, {
    username: 'c.bakker@noord.example',
    name: 'Dr. C. Bakker',
    role: 'radiologist',
    uziRoleCode: '01.015',
  });
  assert.equal(radSession.body.twoFactor, true);
  assert.equal(
    rad.browser.cookie(`127.0.0.1:${port}`, 'beeldbrug_oidc'),
    undefined,
    'the state cookie is cleared once used',
  );
  assert.equal(
    (await rad.browser.go(`${node}/api/v1/audit`)).status,
    403,
    'a radiologist does not read the audit trail',
  );
  // Signed in through the identity provider, the radiologist reaches the routes that act for a person.
  assert.equal((await rad.browser.go(`${node}/api/v1/outbox`)).status, 200, 'the outbox, as the signed-in radiologist');
  assert.equal((await rad.browser.go(`${node}/api/v1/inbox`)).status, 200, 'the inbox too');
  const firstLogin = (await records('login')).at(-1)!;
  assert.equal(firstLogin.user.name, 'Dr. C. Bakker');
  assert.equal(firstLogin.user.roleCode, '01.015');
  assert.equal(firstLogin.user.organizationUra, '10000001');
  assert.equal(firstLogin.grounds.authorization, `OpenID Connect (${idp.issuer})`);
  assert.match(firstLogin.description, /amr pwd\+otp; two factors/);
  assert.equal(firstLogin.accessPoint.ip, '127.0.0.1');

  // The same person again is the same account.
  await signIn('rad-1');
  assert.equal((await records('login')).at(-1)!.user.id, firstLogin.user.id);

  // An auditor with a password only is signed in with one factor, which is not enough to read the trail.
  const oneFactor = await signIn('aud-1');
  assert.deepEqual((await session(oneFactor.browser)).body.twoFactor, false);
  assert.equal((await oneFactor.browser.go(`${node}/api/v1/audit`)).status, 403);
  assert.equal((await oneFactor.browser.go(`${node}/api/v1/outbox`)).status, 403, 'an auditor does not see the outbox');
  // A radiologist with a password only sees no patient data: the inbox, outbox and timeline need two factors.
  const radOneFactor = await signIn('rad-2');
  assert.equal((await session(radOneFactor.browser)).body.user?.role, 'radiologist');
  const inbox = await radOneFactor.browser.go(`${node}/api/v1/inbox`);
  assert.equal(inbox.status, 403);
  assert.match(inbox.body, /two factors/);
  assert.equal((await radOneFactor.browser.go(`${node}/api/v1/outbox`)).status, 403);
  // Password and a hardware key are two factors: the auditor reads the trail, and that reading is recorded.
  const twoFactors = await signIn('aud-2');
  assert.equal((await session(twoFactors.browser)).body.user?.role, 'auditor');
  const trail = await twoFactors.browser.go(`${node}/api/v1/audit?action=login`);
  assert.equal(trail.status, 200);
  assert.ok((JSON.parse(trail.body) as { records: unknown[] }).records.length >= 4);
  assert.equal((await n.node.audit.list({ action: 'audit-read' })).at(-1)?.user.name, 'B. Jansen');

  // Someone the provider knows but who is in no mapped group gets no session.
  const facilitair = await signIn('fac-1');
  assert.deepEqual(
    { status: facilitair.hop.status, body: facilitair.hop.body },
    { status: 401, body: SIGN_IN_FAILED_BODY },
  );
  assert.equal((await session(facilitair.browser)).status, 401);
  const noRole = (await records('login-failure')).at(-1)!;
  assert.equal(noRole.user.name, 'F. Smit');
  assert.match(noRole.description, /no-role/);

  // A person the provider refuses comes back with an error, not a code.
  const refusedBrowser = new TestBrowser(ca.certPem);
  const out = await refusedBrowser.follow(`${node}/api/v1/session/oidc`, (url) => url.includes('/interaction/'));
  const interaction = out.at(-1)!.location!;
  const submitted = await refusedBrowser.go(`${interaction}/login`, { form: { person: 'nobody' }, from: interaction });
  const back = await refusedBrowser.follow(submitted.location!, () => false, interaction);
  assert.equal(back.at(-1)?.status, 401);
  assert.match(
    (await records('login-failure')).at(-1)!.description,
    /provider-error: the identity provider answered access_denied/,
  );

  // Login CSRF: a callback with someone else's code, in a browser that did not start that sign-in, signs nobody in.
  const victim = new TestBrowser(ca.certPem);
  const attacker = new TestBrowser(ca.certPem);
  const stolen = await toCallback(attacker, 'rad-1');
  const csrf = await victim.go(stolen.callback, { from: stolen.interaction });
  assert.equal(csrf.status, 401);
  assert.equal((await session(victim)).status, 401);
  // The state was spent by that attempt: the attacker's own browser cannot use it either.
  assert.equal((await attacker.go(stolen.callback, { from: stolen.interaction })).status, 401);
  // A callback replayed after a sign-in finished is refused too.
  const replay = new TestBrowser(ca.certPem);
  const used = await toCallback(replay, 'aud-2');
  assert.equal((await replay.go(used.callback, { from: used.interaction })).status, 303);
  assert.equal((await replay.go(used.callback, { from: used.interaction })).status, 401);
  assert.equal((await records('login-failure')).filter((r) => /unknown-state/.test(r.description)).length, 3);

  // Nothing in the answers, the log or the trail carries a code, a token or the client secret.
  const log = JSON.stringify(await n.node.audit.list({}));
  for (const secret of [idp.clientSecret, new URL(stolen.callback).searchParams.get('code')!])
    assert.ok(!log.includes(secret));
});
