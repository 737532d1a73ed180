import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodePart10, newUid, readPart10, Tag } from '../dicom/index.ts';
import { silentLogger } from '../log/index.ts';
import { openStudyStore, type Store, type StoredInstance } from '../store/index.ts';
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
  const before = await openStudyStore({ dataDir, encryptionKey: key });
  const uids: string[] = [];
  for (const f of study.files) uids.push((await serviceOn(before).importFile(system, f)).sopInstanceUid);
  const expected = await Promise.all(uids.map(async (uid) => withoutProvenance(await before.index.getInstance(uid))));
  await before.close();
  // synchronous=NORMAL lets a power cut take the last index commits; here it takes all of them.
  for (const suffix of ['', '-wal', '-shm']) rmSync(join(dataDir, `index.sqlite${suffix}`), { force: true });

  const store = await openStudyStore({ dataDir, encryptionKey: key });
  t.after(() => store.close());
  const report = await serviceOn(store).recover();
  assert.equal(report.reindexed, uids.length);
  assert.deepEqual(report.unreadable, []);
  assert.deepEqual(
    await Promise.all(uids.map(async (uid) => withoutProvenance(await store.index.getInstance(uid)))),
    expected,
  );
  assert.equal((await store.index.getInstance(uids[0] ?? ''))?.provenance.via, 'recovery');
  assert.deepEqual((await serviceOn(store).recover()).unindexedBlobs, [], 'a second start finds nothing to do');
});

test('a recovered blob that the index would refuse (its study belongs to another patient) is removed, as ingest would have done', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const key = testKey();
  const before = await openStudyStore({ dataDir, encryptionKey: key });
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

  const store = await openStudyStore({ dataDir, encryptionKey: key });
  t.after(() => store.close());
  const report = await serviceOn(store).recover();
  assert.equal(report.refused, 1);
  assert.equal(report.reindexed, 0);
  const listed: string[] = [];
  for await (const id of store.blobs.list()) listed.push(id);
  assert.ok(!listed.includes(orphan.blobId), 'the refused blob is gone');
  assert.equal(listed.length, 1);
});

test('patients an older index filed together for lack of a Patient ID each get their own attributes back at start-up', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const key = testKey();
  const before = await openStudyStore({ dataDir, encryptionKey: key });
  const studies: { uid: string; name: string }[] = [];
  for (const [seed, name] of [
    [11, 'Jansen^Piet'],
    [12, 'de Boer^Anna'],
  ] as const) {
    const study = await writeCtStudy({ outDir: join(dir, `study${seed}`), instances: 1, seed });
    const part10 = readPart10(readFileSync(study.files[0] ?? ''));
    part10.dataset.set(Tag.PatientID, 'LO', '').set(Tag.IssuerOfPatientID, 'LO', '').set(Tag.PatientName, 'PN', name);
    const file = join(dir, `anonymous${seed}.dcm`);
    writeFileSync(file, Buffer.concat(encodePart10(part10.dataset, part10.transferSyntaxUid)));
    await serviceOn(before).importFile(system, file);
    studies.push({ uid: study.studyInstanceUid, name });
  }
  await before.close();
  // Put the index back as schema 3 left it: both studies under the first arrival's patient row.
  const db = new DatabaseSync(join(dataDir, 'index.sqlite'));
  db.exec(`
    UPDATE studies SET patient_pk = (SELECT min(pk) FROM patients);
    DELETE FROM patients WHERE pk <> (SELECT min(pk) FROM patients);
    DROP INDEX patients_reread;
    DROP INDEX patients_identity;
    ALTER TABLE patients DROP COLUMN reread_from_study;
    CREATE UNIQUE INDEX patients_identity ON patients (patient_id, ifnull(issuer, ''));
    DELETE FROM schema_version WHERE version >= 4;
  `);
  db.close();

  const store = await openStudyStore({ dataDir, encryptionKey: key });
  t.after(() => store.close());
  const nameOf = async (uid: string): Promise<unknown> =>
    (await store.index.query('STUDY', [{ key: 'studyInstanceUid', kind: 'single', value: uid }]))[0]?.values
      .patientName;
  assert.equal(
    await nameOf(studies[1]?.uid ?? ''),
    null,
    'split at open, the second study no longer answers with the first name',
  );
  const report = await serviceOn(store).recover();
  assert.equal(report.patientsRestored, 1);
  assert.deepEqual(
    await Promise.all(studies.map((s) => nameOf(s.uid))),
    studies.map((s) => s.name),
  );
  assert.equal((await serviceOn(store).recover()).patientsRestored, 0, 'a second start finds nothing to do');
});
