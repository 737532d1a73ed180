// A running node purges transient copies after store.retentionDays, logs it and records it in the audit trail.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { synthesize } from '../../src/synth/index.ts';
import { filesIn } from '../support/dicom-files.ts';
import { waitFor } from '../support/net.ts';
import { filesBesidesSpare, logLines, startTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';

test('the node purges instances older than store.retentionDays, with a log line and an audit record per study, and keeps the audit records', async (t) => {
  // About two seconds, so that the test does not wait seven days.
  const n = await startTestNode(t, { edit: (raw) => ((raw['store'] as Record<string, unknown>)['retentionDays'] = 2 / 86_400) });
  const work = tempDir(t);
  const synth = await synthesize({ outDir: join(work, 'synth'), patients: 1, seed: 62 });
  for (const f of filesIn(join(work, 'synth'))) await n.node.studies.importFile({ actor: { kind: 'system', task: 'test' }, purpose: 'import' }, f);
  assert.equal(n.node.store.index.stats().instances, synth.files);
  const bsn = synth.patients[0]?.bsn ?? assert.fail('a patient');
  n.node.audit.record({ action: 'read', outcome: 'success', description: 'viewed before the purge', user: { id: 'u1', name: 'Dr. A' }, accessPoint: { node: 'test' }, patient: { bsn }, objects: {}, grounds: { purpose: 'treatment' } });

  await waitFor('the purge', async () => n.node.store.index.stats().instances === 0, 15_000);
  await waitFor('the audit records', async () => n.node.audit.list({ action: 'purge' }).length === synth.patients[0]?.studies.length, 5_000);
  const records = n.node.audit.list({ action: 'purge' });
  assert.ok(records.every((r) => r.patient?.bsn === synth.patients[0]?.bsn && r.user.id === 'system:retention'));
  assert.deepEqual(records.map((r) => r.objects.studyInstanceUid).sort(), synth.patients[0]?.studies.map((s) => s.studyInstanceUid).sort());
  assert.deepEqual(
    n.node.audit.list({ bsn }).map((r) => r.action),
    ['read', ...records.map(() => 'purge')],
    'purging the images keeps the audit records about them',
  );
  assert.equal(n.node.audit.verify().ok, true);
  assert.deepEqual(filesBesidesSpare(join(n.dir, 'data'), 'blobs'), [], 'no image file is left');
  assert.ok(logLines(n).some((l) => l['msg'] === 'purged' && l['studyInstanceUid'] !== undefined), 'each purged study is logged');
});
