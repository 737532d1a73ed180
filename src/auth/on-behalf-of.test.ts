import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { SignJWT } from 'jose';
import { onBehalfOfVerifier } from './on-behalf-of.ts';
import { createTestCa, issueNodeCertificate } from './test-pki.ts';

const idp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ISSUER = 'https://idp.noord.example';
const AUDIENCE = 'https://beeldbrug.noord.example:8443';
const now = new Date('2026-12-04T10:00:00Z');
const seconds = Math.floor(now.getTime() / 1000);

const verify = onBehalfOfVerifier({
  issuers: [{ issuer: ISSUER, publicKeyPem: idp.publicKey.export({ type: 'spki', format: 'pem' }).toString() }],
  audience: AUDIENCE,
  maxAgeSeconds: 300,
  roleCodeClaim: 'uzi_role',
  now: () => now,
});

interface Shape {
  iss?: string;
  aud?: string;
  iat?: number;
  exp?: number;
  sub?: string;
  name?: string;
  key?: typeof idp.privateKey;
}

function assertion(s: Shape = {}): Promise<string> {
  const claims: Record<string, unknown> = { name: s.name ?? 'Dr. A. de Vries', uzi_role: '01.015' };
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(s.iss ?? ISSUER)
    .setAudience(s.aud ?? AUDIENCE)
    .setIssuedAt(s.iat ?? seconds - 10)
    .setExpirationTime(s.exp ?? seconds + 120);
  if (s.sub !== '') jwt = jwt.setSubject(s.sub ?? 'uzi-900012345');
  return jwt.sign(s.key ?? idp.privateKey);
}

test('on-behalf-of: a fresh assertion of the trusted issuer for this node names the person', async () => {
  assert.deepEqual(await verify(await assertion()), {
    ok: true,
    person: { id: 'uzi-900012345', name: 'Dr. A. de Vries', roleCode: '01.015', issuer: ISSUER },
  });
});

const refusals: [string, () => Promise<string>, RegExp][] = [
  ['signed by another key', () => assertion({ key: other.privateKey }), /the signature does not verify/],
  [
    'from an issuer that is not trusted',
    () => assertion({ iss: 'https://idp.elders.example' }),
    /issuer "https:\/\/idp\.elders\.example" is not trusted/,
  ],
  ['expired', () => assertion({ iat: seconds - 200, exp: seconds - 100 }), /the assertion has expired/],
  [
    'issued too long ago, though not expired',
    () => assertion({ iat: seconds - 3600, exp: seconds + 3600 }),
    /claim iat/,
  ],
  ['for another node', () => assertion({ aud: 'https://beeldbrug.midden.example' }), /claim aud/],
  ['without a subject', () => assertion({ sub: '' }), /claim sub/],
  ['without a name', () => assertion({ name: '' }), /names no person/],
  [
    'signed with a shared secret',
    () =>
      new SignJWT({ name: 'X' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject('x')
        .setIssuedAt(seconds)
        .setExpirationTime(seconds + 60)
        .sign(new TextEncoder().encode('a shared secret of enough length!!')),
    /not allowed|does not verify|not valid/,
  ],
  ['not a JWT at all', async () => 'not.a.jwt', /not a JWT/],
];
for (const [name, make, reason] of refusals) {
  test(`on-behalf-of: refused when ${name}`, async () => {
    const r = await verify(await make());
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, reason);
  });
}

test('on-behalf-of: an issuer that publishes its keys (jwks_uri, over HTTPS with the hospital CA) is checked against them', async (t) => {
  const ca = createTestCa({ commonName: 'Ziekenhuis Noord CA' });
  const server = issueNodeCertificate(ca, {
    commonName: 'idp.test',
    organization: { name: 'Ziekenhuis Noord', ura: '10000001' },
    hosts: ['127.0.0.1'],
  });
  const jwk = { ...idp.publicKey.export({ format: 'jwk' }), kid: 'idp-1', alg: 'ES256', use: 'sig' };
  let asked = 0;
  const https = createServer({ key: server.keyPem, cert: server.certPem }, (_req, res) => {
    asked++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  t.after(() => https.close());
  const jwksUri = `https://127.0.0.1:${(https.address() as AddressInfo).port}/jwks`;
  const byJwks = onBehalfOfVerifier({
    issuers: [{ issuer: ISSUER, jwksUri, ca: ca.certPem }],
    audience: AUDIENCE,
    maxAgeSeconds: 300,
    roleCodeClaim: 'uzi_role',
    now: () => now,
  });
  const signed = (key: typeof idp.privateKey, kid: string) =>
    new SignJWT({ name: 'Dr. A. de Vries', uzi_role: '01.015' })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('uzi-900012345')
      .setIssuedAt(seconds - 5)
      .setExpirationTime(seconds + 60)
      .sign(key);

  const good = await byJwks(await signed(idp.privateKey, 'idp-1'));
  assert.equal(good.ok && good.person.name, 'Dr. A. de Vries');
  const forged = await byJwks(await signed(other.privateKey, 'idp-1'));
  assert.deepEqual(forged, { ok: false, reason: 'the signature does not verify' });
  const unknownKey = await byJwks(await signed(other.privateKey, 'elders-1'));
  assert.equal(unknownKey.ok, false);
  assert.ok(asked >= 1, 'the key set was read from the issuer');
  // A key server whose certificate the hospital CA did not issue is not believed.
  const untrusted = onBehalfOfVerifier({
    issuers: [{ issuer: ISSUER, jwksUri }],
    audience: AUDIENCE,
    maxAgeSeconds: 300,
    roleCodeClaim: 'uzi_role',
    now: () => now,
  });
  assert.equal((await untrusted(await signed(idp.privateKey, 'idp-1'))).ok, false);
});
