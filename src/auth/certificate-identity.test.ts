import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import {
  certificatesOf,
  chainProblem,
  organizationOf,
  otherNamesOf,
  uraOfUziOtherName,
} from './certificate-identity.ts';
import * as der from './der.ts';
import { createIntermediateCa, createTestCa, issueNodeCertificate } from './test-pki.ts';

const noord = { name: 'Ziekenhuis Noord', ura: '10000001' };
const root = createTestCa({ commonName: 'root' });
const issuing = createIntermediateCa(root, { commonName: 'issuing CA' });

test('UZI otherName values: the URA is the fifth of seven fields', () => {
  const cases: [string, string | undefined][] = [
    ['2.16.528.1.1003.1.3.5.5.2-1-12345678-S-10000001-00.000-00000000', '10000001'],
    ['2.16.528.1.1007.99.2110-1-900012345-S-87654321-00.000-12345678', '87654321'],
    ['2.16.528.1.1003.1.3.5.5.2-1-12345678-S-1000001-00.000-00000000', undefined], // seven digits
    ['2.16.528.1.1003.1.3.5.5.2-1-12345678-S-10000001-00.000', undefined], // six fields
    ['2.16.528.1.1003.1.3.5.5.2-1-12345678-S-10000001-00.000-0-extra', undefined],
    ['URA-10000001', undefined],
  ];
  for (const [value, ura] of cases) assert.equal(uraOfUziOtherName(value), ura, value);
});

test('a UZI-shaped server certificate names its organization through the otherName, its serialNumber is not the URA', () => {
  const leaf = new X509Certificate(
    issueNodeCertificate(issuing, { commonName: 'noord.test', organization: noord }).certPem,
  );
  const [[type, value] = ['', '']] = otherNamesOf(leaf);
  assert.equal(type, '2.5.5.5');
  assert.match(value, /^[\d.]+-1-\d{8}-S-10000001-00\.000-\d{8}$/);
  assert.match(leaf.subject, /serialNumber=\d{8}/);
  assert.doesNotMatch(leaf.subject, /organizationIdentifier/);
  assert.deepEqual(organizationOf(leaf), noord);
});

test('the older organizationIdentifier form still reads; a certificate without either names no organization', () => {
  const legacy = new X509Certificate(
    issueNodeCertificate(issuing, { commonName: 'x', organization: noord, profile: 'organization-identifier' }).certPem,
  );
  assert.deepEqual(organizationOf(legacy), noord);
  const none = new X509Certificate(
    issueNodeCertificate(issuing, { commonName: 'x', organization: noord, profile: 'none' }).certPem,
  );
  assert.equal(organizationOf(none), undefined);
  assert.equal(organizationOf(new X509Certificate(root.certPem)), undefined, 'a CA names no organization');
});

/** A self-signed certificate with a chosen subject and subjectAltName, to try shapes the test PKI never makes. */
function shaped(subject: [string, Buffer][], altNames: Buffer[]): X509Certificate {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const name = der.sequence(...subject.map(([oid, value]) => der.set(der.sequence(der.objectIdentifier(oid), value))));
  const alg = der.sequence(der.objectIdentifier('1.2.840.10045.4.3.2'));
  const tbs = der.sequence(
    der.explicit(0, der.smallInteger(2)),
    der.smallInteger(7),
    alg,
    name,
    der.sequence(der.time(new Date(Date.now() - 60_000)), der.time(new Date(Date.now() + 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    der.explicit(
      3,
      der.sequence(der.sequence(der.objectIdentifier('2.5.29.17'), der.octetString(der.sequence(...altNames)))),
    ),
  );
  const cert = der.sequence(tbs, alg, der.bitString(sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' })));
  return new X509Certificate(cert);
}
const otherName = (oid: string, value: Buffer): Buffer =>
  der.tlv(0xa0, Buffer.concat([der.objectIdentifier(oid), der.explicit(0, value)]));
const O = (v: string): [string, Buffer] => ['2.5.4.10', der.utf8String(v)];
const orgId = (v: string): [string, Buffer] => ['2.5.4.97', der.utf8String(v)];

test('shapes that name no organization, or two', () => {
  const uzi = (ura: string): Buffer =>
    otherName('2.5.5.5', der.ia5String(`2.16.528.1.1003.1.3.5.5.2-1-11111111-S-${ura}-00.000-00000000`));
  const cases: [string, X509Certificate, string | undefined][] = [
    ['a UZI otherName', shaped([O('Noord')], [uzi('10000001')]), '10000001'],
    [
      'a UZI otherName as UTF8String',
      shaped(
        [O('Noord')],
        [otherName('2.5.5.5', der.utf8String('2.16.528.1.1003.1.3.5.5.2-1-11111111-S-10000001-00.000-00000000'))],
      ),
      '10000001',
    ],
    [
      'otherName and organizationIdentifier agreeing',
      shaped([O('Noord'), orgId('URA-10000001')], [uzi('10000001')]),
      '10000001',
    ],
    [
      'otherName and organizationIdentifier disagreeing',
      shaped([O('Noord'), orgId('URA-10000002')], [uzi('10000001')]),
      undefined,
    ],
    ['two UZI otherNames disagreeing', shaped([O('Noord')], [uzi('10000001'), uzi('10000002')]), undefined],
    [
      'a UZI otherName that does not parse',
      shaped([O('Noord')], [otherName('2.5.5.5', der.ia5String('10000001'))]),
      undefined,
    ],
    [
      'another otherName type',
      shaped([O('Noord')], [otherName('1.3.6.1.4.1.311.20.2.3', der.utf8String('x-1-2-S-10000001-00.000-0'))]),
      undefined,
    ],
    [
      'an ETSI organizationIdentifier (a KvK number) is not a URA',
      shaped([O('Noord'), orgId('NTRNL-10000001')], []),
      undefined,
    ],
    ['organizationIdentifier URA- with seven digits', shaped([O('Noord'), orgId('URA-1000000')], []), undefined],
    ['no O: the CN names it', shaped([['2.5.4.3', der.utf8String('noord.test')]], [uzi('10000001')]), '10000001'],
  ];
  for (const [what, cert, ura] of cases) assert.equal(organizationOf(cert)?.ura, ura, what);
});

test('chains: through an issuing CA to the root; not past a missing, foreign or expired link', () => {
  const [leaf, ...intermediates] = certificatesOf(
    issueNodeCertificate(issuing, { commonName: 'x', organization: noord }).certPem,
  );
  assert.ok(leaf !== undefined);
  assert.equal(intermediates.length, 1);
  const roots = certificatesOf(root.certPem);
  assert.equal(chainProblem(leaf, intermediates, roots), undefined);
  assert.equal(
    chainProblem(leaf, [], certificatesOf(issuing.certPem)),
    undefined,
    'an issuing CA in the CA file is trusted as configured',
  );
  assert.match(chainProblem(leaf, [], roots) ?? '', /not issued by the trusted CA/);
  assert.match(
    chainProblem(leaf, intermediates, certificatesOf(createTestCa({ commonName: 'other' }).certPem)) ?? '',
    /not issued by the trusted CA/,
  );
  assert.match(chainProblem(leaf, intermediates, roots, Date.now() + 4000 * 86_400_000) ?? '', /not valid now/);
});
