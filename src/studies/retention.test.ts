import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../log/index.ts';
import { openStudyStore } from '../store/index.ts';
import { testKey } from '../store/store-test-support.ts';
import { synthesize } from '../synth/index.ts';
import { tempDir } from '../../test/support/tmp.ts';
import type { AccessContext } from './access-context.ts';
import { StudyService } from './study-service.ts';

const system: AccessContext = { actor: { kind: 'system', task: 'test' }, purpose: 'import' };

test('retention purges what was received before the cutoff, study by study, and a restart does not bring it back', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const key = testKey();
  const synth = await synthesize({ outDir: join(dir, 'synth'), patients: 2, seed: 61 });
  const [older, newer] = synth.patients;
  assert.ok(older !== undefined && newer !== undefined);
  const store = await openStudyStore({ dataDir, encryptionKey: key });
  const studies = new StudyService({ store, logger: silentLogger(), retrieveAeTitle: 'T' });
  const filesOf = (p: typeof older): string[] => p.studies.flatMap((s) => s.files);
  for (const f of filesOf(older)) await studies.importFile(system, f);
  await sleep(20);
  const cutoff = new Date();
  await sleep(20);
  for (const f of filesOf(newer)) await studies.importFile(system, f);
  const before = await store.index.stats();

  const purged = await studies.purgeReceivedBefore(
    { actor: { kind: 'system', task: 'retention' }, purpose: 'retention' },
    cutoff,
  );
  assert.deepEqual(purged.map((s) => s.studyInstanceUid).sort(), older.studies.map((s) => s.studyInstanceUid).sort());
  assert.ok(purged.every((s) => s.patient.bsn === older.bsn && s.instances > 0 && s.bytes > 0));
  const olderInstances = older.studies.reduce((n, s) => n + s.instances, 0);
  assert.equal((await store.index.stats()).instances, before.instances - olderInstances);
  assert.equal((await store.index.stats()).patients, 1, 'the emptied patient is gone too');
  let blobs = 0;
  for await (const id of store.blobs.list()) blobs += id.length > 0 ? 1 : 0;
  assert.equal(blobs, (await store.index.stats()).instances, 'the purged files are deleted');
  await store.close();
  await sleep(5);

  const reopened = await openStudyStore({ dataDir, encryptionKey: key });
  t.after(() => reopened.close());
  const report = await new StudyService({ store: reopened, logger: silentLogger(), retrieveAeTitle: 'T' }).recover();
  assert.equal(report.reindexed, 0, 'nothing purged comes back');
  assert.equal((await reopened.index.stats()).instances, before.instances - olderInstances);
});
