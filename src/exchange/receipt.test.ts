import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestCa, issueNodeCertificate, organizationOf } from '../auth/index.ts';
import { signReceipt, verifyReceipt, type ReceiptClaims } from './receipt.ts';

const claims: ReceiptClaims = {
  transferId: '6f1c0d7e-8a3b-4c5d-9e6f-7a8b9c0d1e2f',
  studyInstanceUid: '1.2.3',
  instances: [{ sopInstanceUid: '1.2.3.1', sha256: 'a'.repeat(64) }],
  receivedAt: '2026-11-22T23:00:00.000Z',
  receiver: { ura: '10000002', name: 'Ziekenhuis Midden' },
  sender: { ura: '10000001' },
};

test('a receipt verifies against the CA, names its signer, and any change breaks it', async () => {
  const ca = createTestCa({ commonName: 'test CA' });
  const node = issueNodeCertificate(ca, {
    commonName: 'midden.test',
    organization: { name: 'Ziekenhuis Midden', ura: '10000002' },
  });
  const jws = await signReceipt(claims, node);
  const ok = await verifyReceipt(jws, ca.certPem);
  assert.ok(ok.ok);
  assert.deepEqual(ok.claims, claims);
  assert.equal(organizationOf(ok.signer)?.ura, '10000002', 'the signer is the receiving organization');

  const [h, p, s] = jws.split('.');
  const forged = Buffer.from(JSON.stringify({ ...claims, instances: [] })).toString('base64url');
  assert.deepEqual(await verifyReceipt(`${h}.${forged}.${s}`, ca.certPem), {
    ok: false,
    reason: 'the signature does not match',
  });
  assert.equal((await verifyReceipt(`${h}.${p}`, ca.certPem)).ok, false);
  const otherCa = createTestCa({ commonName: 'other CA' });
  assert.match(JSON.stringify(await verifyReceipt(jws, otherCa.certPem)), /not issued by the trusted CA/);
  const impostor = issueNodeCertificate(otherCa, { commonName: 'x', organization: { name: 'x', ura: '10000002' } });
  assert.equal(
    (await verifyReceipt(await signReceipt(claims, impostor), ca.certPem)).ok,
    false,
    'a key from another CA cannot sign for this network',
  );
});
