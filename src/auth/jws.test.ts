import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';
import { createIntermediateCa, createTestCa, issueNodeCertificate } from './test-pki.ts';
import { signJws, verifyJws } from './jws.ts';

const midden = { name: 'Ziekenhuis Midden', ura: '10000002' };
const TYP = 'beeldbrug-test+jwt';
const root = createTestCa({ commonName: 'root' });
const issuing = createIntermediateCa(root, { commonName: 'issuing CA' });
const node = issueNodeCertificate(issuing, { commonName: 'midden.test', organization: midden });

const parts = (jws: string): [string, string, string] => {
  const [h = '', p = '', s = ''] = jws.split('.');
  return [h, p, s];
};
const headerOf = (jws: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(parts(jws)[0], 'base64url').toString('utf8')) as Record<string, unknown>;
/** The same claims and signature under another header: what an attacker can change without the key. */
const withHeader = (jws: string, header: Record<string, unknown>): string => {
  const [, p, s] = parts(jws);
  return `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.${s}`;
};

test('a signature under an issuing CA verifies against the root alone; x5c carries the chain', async () => {
  const jws = await signJws({ hello: 'world' }, TYP, node);
  assert.equal((headerOf(jws)['x5c'] as unknown[]).length, 2, 'leaf and issuing CA, never the root');
  const ok = await verifyJws(jws, TYP, root.certPem);
  assert.ok(ok.ok, JSON.stringify(ok));
  assert.deepEqual(ok.claims, { hello: 'world' });
  assert.match(ok.signer.subject, /CN=midden\.test/);
});

test('what a signed claim may not get past', async () => {
  const jws = await signJws({ n: 1 }, TYP, node);
  const header = headerOf(jws);
  const x5c = header['x5c'] as string[];
  const otherRoot = createTestCa({ commonName: 'other root' });
  const foreignIssuing = createIntermediateCa(otherRoot, { commonName: 'foreign issuing CA' });
  const foreign = issueNodeCertificate(foreignIssuing, { commonName: 'x', organization: midden });
  // A leaf that signs another leaf: not a CA, so it cannot stand between a signer and the root.
  const leafAsIssuer = issueNodeCertificate(
    { certPem: node.certPem, keyPem: node.keyPem },
    { commonName: 'y', organization: midden },
  );
  const expiredIssuing = createIntermediateCa(root, { commonName: 'old issuing CA', validDays: -1 });
  const { privateKey: ed } = generateKeyPairSync('ed25519');
  const cases: [string, Promise<{ ok: boolean; reason?: string }>, RegExp][] = [
    [
      'the intermediate left out of x5c',
      verifyJws(withHeader(jws, { ...header, x5c: x5c.slice(0, 1) }), TYP, root.certPem),
      /not issued by the trusted CA/,
    ],
    [
      'trusting only the issuing CA file of another root',
      verifyJws(jws, TYP, otherRoot.certPem),
      /not issued by the trusted CA/,
    ],
    [
      'a chain to another root',
      signJws({ n: 1 }, TYP, foreign).then((j) => verifyJws(j, TYP, root.certPem)),
      /not issued by the trusted CA/,
    ],
    [
      'a leaf certificate acting as a CA',
      signJws({ n: 1 }, TYP, leafAsIssuer).then((j) => verifyJws(j, TYP, root.certPem)),
      /not issued by the trusted CA/,
    ],
    [
      'an expired intermediate',
      signJws({ n: 1 }, TYP, issueNodeCertificate(expiredIssuing, { commonName: 'z', organization: midden })).then(
        (j) => verifyJws(j, TYP, root.certPem),
      ),
      /not valid now/,
    ],
    ['another typ', verifyJws(jws, 'beeldbrug-receipt+jwt', root.certPem), /not a beeldbrug-receipt\+jwt/],
    [
      'alg none',
      verifyJws(withHeader(jws, { ...header, alg: 'none' }), TYP, root.certPem),
      /algorithm none does not fit/,
    ],
    [
      'alg HS256 (the public key as a MAC secret)',
      verifyJws(withHeader(jws, { ...header, alg: 'HS256' }), TYP, root.certPem),
      /does not fit/,
    ],
    [
      'no x5c',
      verifyJws(withHeader(jws, { alg: header['alg'], typ: TYP }), TYP, root.certPem),
      /no signer certificate/,
    ],
    ['garbage in x5c', verifyJws(withHeader(jws, { ...header, x5c: ['AAAA'] }), TYP, root.certPem), /unreadable/],
    [
      'a changed payload',
      verifyJws(`${parts(jws)[0]}.${Buffer.from('{"n":2}').toString('base64url')}.${parts(jws)[2]}`, TYP, root.certPem),
      /the signature does not match/,
    ],
    ['two parts', verifyJws(`${parts(jws)[0]}.${parts(jws)[1]}`, TYP, root.certPem), /not a compact JWS/],
    [
      'a signature by another key',
      Promise.resolve(`${parts(jws)[0]}.${parts(jws)[1]}`).then((input) =>
        verifyJws(`${input}.${sign(null, Buffer.from(input), ed).toString('base64url')}`, TYP, root.certPem),
      ),
      /signature does not match|unreadable/,
    ],
  ];
  for (const [what, verification, reason] of cases) {
    const v = await verification;
    assert.equal(v.ok, false, what);
    assert.match(v.reason ?? '', reason, what);
  }
});
