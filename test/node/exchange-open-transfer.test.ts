// Opening a push transfer at the receiving node (docs/exchange-protocol.md, step 1): the manifest is validated, the
// purpose rules apply, re-posting resumes, and the answer lists only what the receiver does not already hold.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { readPart10Header, Tag } from '../../src/dicom/index.ts';
import { writeCtStudy } from '../../src/synth/index.ts';
import { call, startExchangeNode } from '../support/exchange.ts';
import { tempDir } from '../support/tmp.ts';
import { testAccess } from '../support/patient-data.ts';

test('a partner opens a transfer; the receiver answers what it still needs', async (t) => {
  const { n, port, ca, partner } = await startExchangeNode(t);
  const ct = await writeCtStudy({ outDir: join(tempDir(t), 'ct'), instances: 4, seed: 8 });
  // The receiver already holds the first instance (say, from an earlier transfer): it must not be asked for again.
  const held = await testAccess(n.node, 'import').importFile(ct.files[0] ?? '');
  assert.equal(held.outcome, 'created');
  const instances = await Promise.all(
    ct.files.map(async (f) => {
      const p = await readPart10Header(f);
      const uid = p.dataset.string(Tag.SOPInstanceUID) ?? '';
      const stored = await n.node.store.index.getInstance(uid);
      return {
        sopInstanceUid: uid,
        sopClassUid: p.dataset.string(Tag.SOPClassUID) ?? '',
        seriesInstanceUid: p.dataset.string(Tag.SeriesInstanceUID) ?? '',
        transferSyntaxUid: p.transferSyntaxUid,
        size: 1000,
        sha256: stored?.blob.sha256 ?? 'b'.repeat(64),
      };
    }),
  );
  const manifest = {
    transferId: randomUUID(),
    purpose: 'transfer',
    urgency: 'urgent',
    reason: 'Overplaatsing naar IC, CT thorax ter vergelijking',
    sender: { user: { id: 'radioloog-1', name: 'Dr. A. de Vries', roleCode: '01.015' } },
    patient: { bsn: '999999990', patientId: '999999990' },
    study: { studyInstanceUid: ct.studyInstanceUid },
    instances,
  };
  const post = (body: unknown) => call(port, 'POST', '/exchange/v1/transfers', ca.certPem, partner, body);

  const first = await post(manifest);
  assert.equal(first.status, 201, first.body);
  const needed = (JSON.parse(first.body) as { needed: string[] }).needed;
  assert.deepEqual(
    needed,
    instances.slice(1).map((i) => i.sopInstanceUid),
    'everything but the instance already held',
  );

  const again = await post(manifest);
  assert.equal(again.status, 200, 're-posting the same manifest resumes the transfer');
  assert.deepEqual((JSON.parse(again.body) as { needed: string[] }).needed, needed);

  const conflict = await post({ ...manifest, urgency: 'routine' });
  assert.equal(conflict.status, 409, 'the same transfer id with another manifest');
  assert.equal((JSON.parse(conflict.body) as { code: string }).code, 'TRANSFER_ID_CONFLICT');

  const consultation = await post({ ...manifest, transferId: randomUUID(), purpose: 'consultation' });
  assert.equal(consultation.status, 422);
  assert.match(consultation.body, /consent-reference-missing/);
  assert.equal((JSON.parse(consultation.body) as { code: string }).code, 'CONSENT_REFERENCE_MISSING');
  assert.equal(
    (await post({ ...manifest, transferId: randomUUID(), purpose: 'consultation', consentReference: 'Consent/42' }))
      .status,
    201,
  );
  const internal = await post({ ...manifest, transferId: randomUUID(), purpose: 'internal' });
  assert.equal(internal.status, 403, 'internal transfers only within one organization');

  const unknownPurpose = await post({ ...manifest, transferId: randomUUID(), purpose: 'research' });
  assert.equal(unknownPurpose.status, 400);
  assert.match(unknownPurpose.body, /purpose/);
  const invalid = JSON.parse(unknownPurpose.body) as { code: string; problems: string[] };
  assert.equal(invalid.code, 'MANIFEST_INVALID');
  assert.ok(
    invalid.problems.some((p) => p.startsWith('purpose')),
    invalid.problems.join('; '),
  );
  const smuggled = await post({ ...manifest, transferId: randomUUID(), senderOrganization: { ura: '10000001' } });
  assert.equal(smuggled.status, 400, 'the sender organization comes from the certificate, never the body');
  assert.equal((await n.node.store.index.stats()).instances, 1, 'opening transfers stores nothing');
});
