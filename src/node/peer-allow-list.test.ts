import assert from 'node:assert/strict';
import { test } from 'node:test';
import { admit, normalizeAddress, resolvePeers } from './peer-allow-list.ts';

const peers = [
  { aeTitle: 'PACS', addresses: ['127.0.0.1'] },
  { aeTitle: 'CT1', addresses: ['10.1.2.3', '10.1.2.4'] },
];

const cases: [string, { callingAeTitle: string; calledAeTitle: string; remoteAddress: string }, string][] = [
  ['known AE from its host', { callingAeTitle: 'PACS', calledAeTitle: 'NOORD', remoteAddress: '127.0.0.1' }, 'accept'],
  ['padding is not part of the AE title', { callingAeTitle: 'PACS  ', calledAeTitle: 'NOORD ', remoteAddress: '::ffff:127.0.0.1' }, 'accept'],
  ['second address of a peer', { callingAeTitle: 'CT1', calledAeTitle: 'NOORD', remoteAddress: '10.1.2.4' }, 'accept'],
  ['known AE from another host', { callingAeTitle: 'PACS', calledAeTitle: 'NOORD', remoteAddress: '10.9.9.9' }, 'calling-ae-not-recognized'],
  ['unknown AE from a known host', { callingAeTitle: 'ANY-SCU', calledAeTitle: 'NOORD', remoteAddress: '127.0.0.1' }, 'calling-ae-not-recognized'],
  ['AE titles are case-sensitive', { callingAeTitle: 'pacs', calledAeTitle: 'NOORD', remoteAddress: '127.0.0.1' }, 'calling-ae-not-recognized'],
  ["a partner's AE title, called by the PACS's send-to menu", { callingAeTitle: 'PACS', calledAeTitle: 'MIDDEN', remoteAddress: '127.0.0.1' }, 'accept'],
  ["a partner's AE title does not open the door to unknown callers", { callingAeTitle: 'ANY-SCU', calledAeTitle: 'MIDDEN', remoteAddress: '127.0.0.1' }, 'calling-ae-not-recognized'],
  ['wrong called AE title', { callingAeTitle: 'PACS', calledAeTitle: 'ANY-SCP', remoteAddress: '127.0.0.1' }, 'called-ae-not-recognized'],
];

for (const [name, request, expected] of cases) {
  test(`allow-list: ${name}`, () => {
    const decision = admit(request, ['NOORD', 'MIDDEN'], peers);
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
