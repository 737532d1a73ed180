import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodePart10, newUid, readPart10, Tag } from '../dicom/index.ts';
import { silentLogger } from '../log/index.ts';
import { openEmbeddedStore, type Store, type StoredInstance } from '../store/index.ts';
import { testKey } from '../store/store-test-support.ts';
import { writeCtStudy } from '../synth/index.ts';
import { tempDir } from '../../test/support/tmp.ts';
import type { AccessContext } from './access-context.ts';
import { StudyService } from './study-service.ts';

const system: AccessContext = { actor: { kind: 'system', task: 'test' }, purpose: 'import' };

function serviceOn(store: Store): StudyService {
  return new StudyService({ store, logger: silentLogger(), retrieveAeTitle: 'TEST' });
}

/** What an instance record says, without how it arrived (recovery cannot know that). */
function withoutProvenance(i: StoredInstance | undefined): unknown {
  if (i === undefined) return undefined;
  const { provenance, ...rest } = i;
  void provenance;
  return rest;
}

test('an index lost to a power cut is rebuilt from the blobs: same attributes, size and digest for every acknowledged instance', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const key = testKey();
  const study = await writeCtStudy({ outDir: join(dir, 'study'), instances: 4, seed: 7 });
  const before = await openEmbeddedStore({ dataDir, encryptionKey: key });
  const uids: string[] = [];
  for (const f of study.files) uids.push((await serviceOn(before).importFile(system, f)).sopInstanceUid);
  const expected = uids.map((uid) => withoutProvenance(before.index.getInstance(uid)));
  await before.close();
  // synchronous=NORMAL lets a power cut take the last index commits; here it takes all of them.
  for (const suffix of ['', '-wal', '-shm']) rmSync(join(dataDir, `index.sqlite${suffix}`), { force: true });

  const store = await openEmbeddedStore({ dataDir, encryptionKey: key });
  t.after(() => store.close());
  const report = await serviceOn(store).recover();
  assert.equal(report.reindexed, uids.length);
  assert.deepEqual(report.unreadable, []);
  assert.deepEqual(
    uids.map((uid) => withoutProvenance(store.index.getInstance(uid))),
    expected,
  );
  assert.equal(store.index.getInstance(uids[0] ?? '')?.provenance.via, 'recovery');
  assert.deepEqual((await serviceOn(store).recover()).unindexedBlobs, [], 'a second start finds nothing to do');
});

test('a recovered blob that the index would refuse (its study belongs to another patient) is removed, as ingest would have done', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const key = testKey();
  const before = await openEmbeddedStore({ dataDir, encryptionKey: key });
  const study = await writeCtStudy({ outDir: join(dir, 'study'), instances: 1, seed: 8 });
  const file = study.files[0] ?? '';
  await serviceOn(before).importFile(system, file);
  // The process died after this blob's fdatasync and before the index refused it: same study, another patient.
  const other = readPart10(readFileSync(file));
  other.dataset.set(Tag.PatientID, 'LO', 'SOMEONE-ELSE').set(Tag.SOPInstanceUID, 'UI', newUid());
  const w = await before.blobs.create();
  for (const b of encodePart10(other.dataset, other.transferSyntaxUid)) await w.write(b);
  const orphan = await w.commit();
  await before.close();
  await sleep(5); // recovery leaves blobs younger than the store it runs in alone

  const store = await openEmbeddedStore({ dataDir, encryptionKey: key });
  t.after(() => store.close());
  const report = await serviceOn(store).recover();
  assert.equal(report.refused, 1);
  assert.equal(report.reindexed, 0);
  const listed: string[] = [];
  for await (const id of store.blobs.list()) listed.push(id);
  assert.ok(!listed.includes(orphan.blobId), 'the refused blob is gone');
  assert.equal(listed.length, 1);
});
