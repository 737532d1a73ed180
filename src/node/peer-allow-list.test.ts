import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { createIntermediateCa, createTestCa, issueNodeCertificate } from '../auth/index.ts';
import { admit, type AllowedPeer, certificateProblem, normalizeAddress, resolvePeers } from './peer-allow-list.ts';

const peers = [
  { aeTitle: 'PACS', addresses: ['127.0.0.1'] },
  { aeTitle: 'CT1', addresses: ['10.1.2.3', '10.1.2.4'] },
];

const cases: [string, { callingAeTitle: string; calledAeTitle: string; remoteAddress: string }, string][] = [
  ['known AE from its host', { callingAeTitle: 'PACS', calledAeTitle: 'NOORD', remoteAddress: '127.0.0.1' }, 'accept'],
  [
    'padding is not part of the AE title',
    { callingAeTitle: 'PACS  ', calledAeTitle: 'NOORD ', remoteAddress: '::ffff:127.0.0.1' },
    'accept',
  ],
  ['second address of a peer', { callingAeTitle: 'CT1', calledAeTitle: 'NOORD', remoteAddress: '10.1.2.4' }, 'accept'],
  [
    'known AE from another host',
    { callingAeTitle: 'PACS', calledAeTitle: 'NOORD', remoteAddress: '10.9.9.9' },
    'calling-ae-not-recognized',
  ],
  [
    'unknown AE from a known host',
    { callingAeTitle: 'ANY-SCU', calledAeTitle: 'NOORD', remoteAddress: '127.0.0.1' },
    'calling-ae-not-recognized',
  ],
  [
    'AE titles are case-sensitive',
    { callingAeTitle: 'pacs', calledAeTitle: 'NOORD', remoteAddress: '127.0.0.1' },
    'calling-ae-not-recognized',
  ],
  [
    "a partner's AE title, called by the PACS's send-to menu",
    { callingAeTitle: 'PACS', calledAeTitle: 'MIDDEN', remoteAddress: '127.0.0.1' },
    'accept',
  ],
  [
    "a partner's AE title does not open the door to unknown callers",
    { callingAeTitle: 'ANY-SCU', calledAeTitle: 'MIDDEN', remoteAddress: '127.0.0.1' },
    'calling-ae-not-recognized',
  ],
  [
    'wrong called AE title',
    { callingAeTitle: 'PACS', calledAeTitle: 'ANY-SCP', remoteAddress: '127.0.0.1' },
    'called-ae-not-recognized',
  ],
];

for (const [name, request, expected] of cases) {
  test(`allow-list: ${name}`, () => {
    const decision = admit(request, ['NOORD', 'MIDDEN'], peers, '10000001');
    assert.equal(decision.accept ? 'accept' : decision.reason, expected);
  });
}

test('IPv4-mapped IPv6 addresses compare as IPv4', () => {
  assert.equal(normalizeAddress('::ffff:192.168.1.5'), '192.168.1.5');
  assert.equal(normalizeAddress('::1'), '::1');
});

test('peer host names are resolved once at start', async () => {
  const resolved = await resolvePeers([{ aeTitle: 'LOCAL', host: 'localhost', tls: false }]);
  assert.ok(resolved[0]?.addresses.includes('127.0.0.1') || resolved[0]?.addresses.includes('::1'));
});

// Certificates as the DICOM TLS listener sees them after the chain check: of our own organization, of a partner, of
// an organization we never bound, and one that names no organization, all from the same trusted CA.
const root = createTestCa({ commonName: 'test root' });
const issuing = createIntermediateCa(root, { commonName: 'test issuing CA' });
const certOf = (ura: string, profile?: 'none' | 'organization-identifier'): X509Certificate =>
  new X509Certificate(
    issueNodeCertificate(issuing, {
      commonName: `pacs-${ura}`,
      organization: { name: `Org ${ura}`, ura },
      ...(profile !== undefined ? { profile } : {}),
    }).certPem,
  );
const own = certOf('10000001');
const partner = certOf('10000002');
const other = certOf('10000003');
const anonymous = certOf('10000002', 'none');
const legacy = certOf('10000001', 'organization-identifier');

const unbound: AllowedPeer = { aeTitle: 'PACS', addresses: ['127.0.0.1'] };
const byUra: AllowedPeer = { ...unbound, certificate: { ura: '10000002' } };
const bySubject: AllowedPeer = {
  ...unbound,
  certificate: { subject: partner.subject.split('\n').join(', ').replaceAll('=', ' = ') },
};
const byFingerprint: AllowedPeer = {
  ...unbound,
  certificate: { sha256: partner.fingerprint256.replaceAll(':', '').toLowerCase() },
};

const certificateCases: [string, AllowedPeer, boolean, X509Certificate | undefined, 'accept' | RegExp][] = [
  ['unbound, plain port: as before', unbound, false, undefined, 'accept'],
  ['unbound, TLS, our own organization', unbound, true, own, 'accept'],
  ['unbound, TLS, our own organization in the older organizationIdentifier form', unbound, true, legacy, 'accept'],
  ['unbound, TLS, another organization', unbound, true, other, /URA 10000003, not ours; bind/],
  ['unbound, TLS, a certificate without organization', unbound, true, anonymous, /names no organization/],
  ['bound by URA, its certificate', byUra, true, partner, 'accept'],
  [
    'bound by URA, a certificate of another organization',
    byUra,
    true,
    other,
    /bound to URA 10000002; the certificate is of URA 10000003/,
  ],
  ['bound by URA, a certificate without organization', byUra, true, anonymous, /names no organization/],
  ['bound by URA, our own certificate is not the partner', byUra, true, own, /is of URA 10000001/],
  ['bound, on a plain port', byUra, false, undefined, /must use a DICOM TLS port/],
  ['bound by subject (spaces and commas as openssl prints it)', bySubject, true, partner, 'accept'],
  ['bound by subject, another subject', bySubject, true, other, /bound to subject/],
  ['bound by fingerprint (no colons, lower case)', byFingerprint, true, partner, 'accept'],
  [
    'bound by fingerprint, a certificate with the same subject fields but another key',
    byFingerprint,
    true,
    certOf('10000002'),
    /another certificate/,
  ],
];

for (const [name, peer, tls, cert, expected] of certificateCases) {
  test(`peer certificate: ${name}`, () => {
    const problem = certificateProblem(peer, tls, cert, '10000001');
    if (expected === 'accept') assert.equal(problem, undefined);
    else assert.match(problem ?? 'accepted', expected);
  });
}

test('admit refuses a trusted certificate of another organization for an allow-listed AE title, with its own log code', () => {
  const request = { callingAeTitle: 'PACS', calledAeTitle: 'NOORD', remoteAddress: '127.0.0.1', tls: true };
  assert.equal(admit({ ...request, peerCertificate: own }, ['NOORD'], [unbound], '10000001').accept, true);
  const refused = admit({ ...request, peerCertificate: other }, ['NOORD'], [unbound], '10000001');
  assert.ok(!refused.accept);
  assert.equal(refused.reason, 'calling-ae-not-recognized');
  assert.equal(refused.code, 'PEER_CERTIFICATE_MISMATCH');
});
