// A running node purges transient copies after store.retentionDays, logs it and records it in the audit trail.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { synthesize } from '../../src/synth/index.ts';
import { filesIn } from '../support/dicom-files.ts';
import { waitFor } from '../support/net.ts';
import { filesBesidesSpare, logLines, restartTestNode, startTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { importFiles } from '../support/patient-data.ts';

test('the node purges instances older than store.retentionDays, with a log line and an audit record per study, and keeps the audit records', async (t) => {
  // Imported while retention is off (0 keeps everything), so that no purge pass can run while the study is still
  // arriving, however slow the machine: a pass in the middle would purge part of a study and record it twice.
  const first = await startTestNode(t, {
    edit: (raw) => ((raw['store'] as Record<string, unknown>)['retentionDays'] = 0),
  });
  const work = tempDir(t);
  const synth = await synthesize({ outDir: join(work, 'synth'), patients: 1, seed: 62 });
  await importFiles(first.node, filesIn(join(work, 'synth')));
  const importedAt = Date.now();
  assert.equal((await first.node.store.index.stats()).instances, synth.files);
  const bsn = synth.patients[0]?.bsn ?? assert.fail('a patient');
  await first.node.audit.record({
    action: 'read',
    outcome: 'success',
    description: 'viewed before the purge',
    user: { id: 'u1', name: 'Dr. A' },
    accessPoint: { node: 'test' },
    patient: { bsn },
    objects: {},
    grounds: { purpose: 'treatment' },
  });

  // One second instead of seven days. Once every instance is older than that, a restart with it purges them all in its
  // first pass; the wait is for the clock to pass that point, not a guess at how fast anything runs.
  const config = parseYaml(readFileSync(first.configPath, 'utf8')) as { store: Record<string, unknown> };
  config.store['retentionDays'] = 1 / 86_400;
  writeFileSync(first.configPath, stringifyYaml(config));
  await waitFor('every instance to be older than the retention period', async () => Date.now() > importedAt + 1000);
  const n = await restartTestNode(t, first);
  await waitFor('the purge', async () => (await n.node.store.index.stats()).instances === 0);
  await waitFor(
    'the audit records',
    async () => (await n.node.audit.list({ action: 'purge' })).length === synth.patients[0]?.studies.length,
  );
  const records = await n.node.audit.list({ action: 'purge' });
  assert.ok(records.every((r) => r.patient?.bsn === synth.patients[0]?.bsn && r.user.id === 'system:retention'));
  assert.deepEqual(
    records.map((r) => r.objects.studyInstanceUid).sort(),
    synth.patients[0]?.studies.map((s) => s.studyInstanceUid).sort(),
  );
  assert.deepEqual(
    (await n.node.audit.list({ bsn })).map((r) => r.action),
    [...synth.patients[0]!.studies.map(() => 'import'), 'read', ...records.map(() => 'purge')],
    'purging the images keeps the audit records about them',
  );
  assert.equal((await n.node.audit.verify()).ok, true);
  assert.deepEqual(filesBesidesSpare(join(n.dir, 'data'), 'blobs'), [], 'no image file is left');
  assert.ok(
    logLines(n).some((l) => l['msg'] === 'purged' && l['studyInstanceUid'] !== undefined),
    'each purged study is logged',
  );
});
