import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { SCHEMA_VERSION } from './sqlite-schema.ts';
import { SqliteStudyIndex } from './sqlite-study-index.ts';
import { StoreError } from './store-error.ts';
import { fakeBlob, newInstance } from './store-test-support.ts';

function openIndex(t: import('node:test').TestContext): { index: SqliteStudyIndex; path: string } {
  const path = join(tempDir(t), 'index.sqlite');
  const index = new SqliteStudyIndex(path);
  t.after(() => index.close());
  return { index, path };
}

test('an instance is recorded with all its attributes, blob and provenance, and read back', (t) => {
  const { index } = openIndex(t);
  const x = newInstance();
  assert.deepEqual(index.recordInstance(x, fakeBlob(1), 132), { outcome: 'created' });
  assert.deepEqual(index.getInstance(x.instance.sopInstanceUid), { ...x, blob: fakeBlob(1), datasetOffset: 132 });
  assert.equal(index.getInstance('9.9.9'), undefined);
  assert.deepEqual(index.stats(), { patients: 1, studies: 1, series: 1, instances: 1, bytes: 1001 });
});

test('recording the same SOP Instance UID twice is idempotent: the first record wins', (t) => {
  const { index } = openIndex(t);
  const first = newInstance();
  index.recordInstance(first, fakeBlob(1), 132);
  const again = newInstance({ patientName: 'Other^Name', instanceNumber: 99 });
  const r = index.recordInstance(again, fakeBlob(2), 200);
  assert.equal(r.outcome, 'duplicate');
  assert.deepEqual(r.existing, { ...first, blob: fakeBlob(1), datasetOffset: 132 });
  assert.deepEqual(index.referencedBlobIds(), new Set([fakeBlob(1).blobId]));
  assert.equal(index.stats().instances, 1);
});

test('a study already stored under another patient is STUDY_PATIENT_CONFLICT and nothing is written', (t) => {
  const { index } = openIndex(t);
  index.recordInstance(newInstance(), fakeBlob(1), 0);
  const before = index.stats();
  for (const other of [
    newInstance({ patientId: 'P2', sop: '1.2.3.1.1.2' }),
    newInstance({ issuer: 'OTHER', sop: '1.2.3.1.1.3' }),
    newInstance({ issuer: null, sop: '1.2.3.1.1.4' }),
  ]) {
    assert.throws(
      () => index.recordInstance(other, fakeBlob(2), 0),
      (e) => e instanceof StoreError && e.code === 'STUDY_PATIENT_CONFLICT',
    );
  }
  assert.deepEqual(index.stats(), before, 'no patient row left behind by the failed transaction');
  assert.equal(index.getInstance('1.2.3.1.1.2'), undefined);
});

test('patient identity is patient id + issuer: the same id under another issuer is another patient', (t) => {
  const { index } = openIndex(t);
  index.recordInstance(newInstance({ issuer: 'A' }), fakeBlob(1), 0);
  index.recordInstance(newInstance({ issuer: null, study: '1.2.9', series: '1.2.9.1', sop: '1.2.9.1.1' }), fakeBlob(2), 0);
  index.recordInstance(newInstance({ issuer: null, study: '1.2.9', series: '1.2.9.1', sop: '1.2.9.1.2' }), fakeBlob(3), 0);
  assert.equal(index.stats().patients, 2);
});

test('a series already stored under another study is SERIES_STUDY_CONFLICT', (t) => {
  const { index } = openIndex(t);
  index.recordInstance(newInstance(), fakeBlob(1), 0);
  assert.throws(
    () => index.recordInstance(newInstance({ study: '1.2.3.2', sop: '1.2.3.2.1' }), fakeBlob(2), 0),
    (e) => e instanceof StoreError && e.code === 'SERIES_STUDY_CONFLICT',
  );
  assert.deepEqual(index.stats(), { patients: 1, studies: 1, series: 1, instances: 1, bytes: 1001 });
});

test('removeInstance removes parents that become empty, and only those', (t) => {
  const { index } = openIndex(t);
  index.recordInstance(newInstance({ sop: '1.1' }), fakeBlob(1), 0);
  index.recordInstance(newInstance({ sop: '1.2' }), fakeBlob(2), 0);
  index.recordInstance(newInstance({ series: '2.1', sop: '2.1.1' }), fakeBlob(3), 0);
  assert.equal(index.removeInstance('1.1')?.blob.blobId, fakeBlob(1).blobId);
  assert.deepEqual(index.stats(), { patients: 1, studies: 1, series: 2, instances: 2, bytes: 2005 });
  index.removeInstance('1.2');
  assert.deepEqual(index.stats(), { patients: 1, studies: 1, series: 1, instances: 1, bytes: 1003 });
  index.removeInstance('2.1.1');
  assert.deepEqual(index.stats(), { patients: 0, studies: 0, series: 0, instances: 0, bytes: 0 });
  assert.equal(index.removeInstance('2.1.1'), undefined);
  // The study can now be stored under another patient: it no longer exists.
  assert.equal(index.recordInstance(newInstance({ patientId: 'P9' }), fakeBlob(4), 0).outcome, 'created');
});

test('instancesMatching returns every instance under the matching entities, by series number then instance number', (t) => {
  const { index } = openIndex(t);
  const add = (series: string, seriesNumber: number | null, sop: string, instanceNumber: number | null, n: number): void => {
    index.recordInstance(newInstance({ series, seriesNumber, sop, instanceNumber, modality: seriesNumber === 2 ? 'MR' : 'CT' }), fakeBlob(n), 0);
  };
  add('s2', 2, 's2.i3', 3, 1);
  add('s1', 1, 's1.i2', 2, 2);
  add('s2', 2, 's2.i1', 1, 3);
  add('s1', 1, 's1.inull', null, 4);
  add('s1', 1, 's1.i1', 1, 5);
  index.recordInstance(newInstance({ study: 'other', series: 'o1', sop: 'o1.1', patientId: 'P2' }), fakeBlob(6), 0);
  const sops = (level: 'STUDY' | 'SERIES' | 'PATIENT', m: Parameters<typeof index.instancesMatching>[1]): string[] =>
    index.instancesMatching(level, m).map((i) => i.instance.sopInstanceUid);
  assert.deepEqual(sops('STUDY', [{ key: 'studyInstanceUid', kind: 'single', value: '1.2.3.1' }]), ['s1.i1', 's1.i2', 's1.inull', 's2.i1', 's2.i3']);
  assert.deepEqual(sops('SERIES', [{ key: 'seriesInstanceUid', kind: 'list', values: ['s2', 'o1'] }]), ['s2.i1', 's2.i3', 'o1.1']);
  // A study-level key below the level (modality) selects whole studies, not just the CT series.
  assert.deepEqual(sops('STUDY', [{ key: 'modalitiesInStudy', kind: 'single', value: 'MR' }]).length, 5);
  assert.deepEqual(sops('PATIENT', [{ key: 'patientId', kind: 'single', value: 'P2' }]), ['o1.1']);
  assert.deepEqual(index.instancesMatching('STUDY', [{ key: 'studyInstanceUid', kind: 'single', value: 'nope' }]), []);
});

test('the schema is versioned and in WAL mode; reopening keeps data; a newer schema is refused', (t) => {
  const { index, path } = openIndex(t);
  index.recordInstance(newInstance(), fakeBlob(1), 0);
  index.close();
  const again = new SqliteStudyIndex(path);
  t.after(() => again.close());
  assert.equal(again.stats().instances, 1);
  const db = new DatabaseSync(path);
  t.after(() => db.close());
  assert.equal(db.prepare('SELECT max(version) AS v FROM schema_version').get()?.v, SCHEMA_VERSION);
  assert.equal(db.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal');
  db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(SCHEMA_VERSION + 1);
  assert.throws(() => new SqliteStudyIndex(path), (e) => e instanceof StoreError && e.code === 'SCHEMA_TOO_NEW');
});

test('the hot statements use indexes, not table scans', (t) => {
  const { path } = openIndex(t);
  const db = new DatabaseSync(path);
  t.after(() => db.close());
  const plans = [
    `SELECT pk FROM patients WHERE patient_id = 'x' AND ifnull(issuer, '') = ''`,
    `SELECT pk FROM studies WHERE study_instance_uid = 'x'`,
    `SELECT pk FROM series WHERE series_instance_uid = 'x'`,
    `SELECT pk FROM instances WHERE sop_instance_uid = 'x'`,
    `SELECT pk FROM studies WHERE study_date >= '2020'`,
    `SELECT pk FROM patients WHERE patient_name_norm GLOB 'jan*'`,
  ].map((sql) => db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all().map((r) => String(r.detail)).join(' | '));
  for (const plan of plans) assert.match(plan, /USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY/, plan);
});

test('one patient id with two different BSNs is PATIENT_BSN_CONFLICT: two people are never merged', (t) => {
  const { index } = openIndex(t);
  const withBsn = (bsn: string | null, sop: string, study: string) => {
    const x = newInstance({ sop, study, series: `${study}.1` });
    return { ...x, patient: { ...x.patient, bsn } };
  };
  index.recordInstance(withBsn(null, '1.1', '2.1'), fakeBlob(1), 132);
  index.recordInstance(withBsn('111222333', '1.2', '2.2'), fakeBlob(2), 132);
  assert.equal(index.getInstance('1.1')?.patient.bsn, '111222333', 'a BSN learned later fills in the patient');
  assert.throws(
    () => index.recordInstance(withBsn('999999990', '1.3', '2.3'), fakeBlob(3), 132),
    (e) => e instanceof StoreError && e.code === 'PATIENT_BSN_CONFLICT',
  );
  assert.equal(index.getInstance('1.3'), undefined, 'nothing written');
  assert.equal(index.stats().instances, 2);
  assert.equal(index.recordInstance(withBsn('111222333', '1.4', '2.4'), fakeBlob(4), 132).outcome, 'created', 'the same BSN is the same patient');
});
