import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { migrations, SCHEMA_VERSION } from './sqlite-schema.ts';
import { SqliteStudyIndex } from './sqlite-study-index.ts';
import { StoreError } from './store-error.ts';
import { fakeBlob, newInstance } from './store-test-support.ts';
import { onEveryIndex } from './index-test-support.ts';
import type { StudyIndex } from './types.ts';

function openIndex(t: import('node:test').TestContext): { index: SqliteStudyIndex; path: string } {
  const path = join(tempDir(t), 'index.sqlite');
  const index = new SqliteStudyIndex(path);
  t.after(() => index.close());
  return { index, path };
}

test('the schema is versioned and in WAL mode; reopening keeps data; a newer schema is refused', async (t) => {
  const { index, path } = openIndex(t);
  await index.recordInstance(newInstance(), fakeBlob(1), 0);
  await index.close();
  const again = new SqliteStudyIndex(path);
  t.after(() => again.close());
  assert.equal((await again.stats()).instances, 1);
  const db = new DatabaseSync(path);
  t.after(() => db.close());
  assert.equal(db.prepare('SELECT max(version) AS v FROM schema_version').get()?.v, SCHEMA_VERSION);
  assert.equal(db.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal');
  db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(SCHEMA_VERSION + 1);
  assert.throws(
    () => new SqliteStudyIndex(path),
    (e) => e instanceof StoreError && e.code === 'SCHEMA_TOO_NEW',
  );
});

test('the hot statements use indexes, not table scans', (t) => {
  const { path } = openIndex(t);
  const db = new DatabaseSync(path);
  t.after(() => db.close());
  const plans = [
    `SELECT pk FROM patients WHERE patient_id = 'x' AND patient_id <> '' AND coalesce(issuer, '') = ''`,
    `SELECT pk FROM studies WHERE study_instance_uid = 'x'`,
    `SELECT pk FROM series WHERE series_instance_uid = 'x'`,
    `SELECT pk FROM instances WHERE sop_instance_uid = 'x'`,
    `SELECT pk FROM studies WHERE study_date >= '2020'`,
    `SELECT pk FROM patients WHERE patient_name_norm GLOB 'jan*'`,
  ].map((sql) =>
    db
      .prepare(`EXPLAIN QUERY PLAN ${sql}`)
      .all()
      .map((r) => String(r.detail))
      .join(' | '),
  );
  for (const plan of plans) assert.match(plan, /USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY/, plan);
});

/** An instance of patient `name`, `n`th study, with the given Patient ID and issuer, and an optional BSN. */
function ofPatient(
  name: string,
  n: number,
  patientId: string,
  issuer: string | null,
  bsn: string | null = null,
): ReturnType<typeof newInstance> {
  const x = newInstance({
    patientName: name,
    patientId,
    issuer,
    study: `9.${n}`,
    series: `9.${n}.1`,
    sop: `9.${n}.1.1`,
  });
  return { ...x, patient: { ...x.patient, bsn } };
}

async function nameOfStudy(index: StudyIndex, study: string): Promise<unknown> {
  return (await index.query('STUDY', [{ key: 'studyInstanceUid', kind: 'single', value: study }]))[0]?.values
    .patientName;
}

test('an index of schema 3 that filed studies without a Patient ID together is split at open; attributes wait for their files', async (t) => {
  const path = join(tempDir(t), 'index.sqlite');
  const db = new DatabaseSync(path);
  db.exec('CREATE TABLE schema_version (version INTEGER NOT NULL)');
  for (const m of migrations.filter((x) => x.version <= 3)) {
    db.exec(m.sql);
    db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(m.version);
  }
  // What version 3 wrote for three studies of three people without a Patient ID, and one with an id: one patient row
  // with the first arrival's name and BSN for the first three.
  db.exec(`
    INSERT INTO patients (pk, patient_id, issuer, bsn, patient_name, patient_name_norm, birth_date, sex) VALUES
      (1, '', NULL, '111222333', 'Jansen^Piet', 'jansen^piet', '19700101', 'M'),
      (2, 'P7', 'HOSP', NULL, 'Bakker^Kees', 'bakker^kees', '19600101', 'M');
    INSERT INTO studies (pk, patient_pk, study_instance_uid) VALUES (1, 1, '9.1'), (2, 1, '9.2'), (3, 2, '9.3'), (4, 1, '9.4');
    INSERT INTO series (pk, study_pk, series_instance_uid) VALUES (1, 1, '9.1.1'), (2, 2, '9.2.1'), (3, 3, '9.3.1'), (4, 4, '9.4.1');
    INSERT INTO instances (series_pk, sop_instance_uid, sop_class_uid, transfer_syntax_uid, blob_id, size, sha256, dataset_offset, received_at, via)
      VALUES (1, '9.1.1.1', '1.2', '1.2.840.10008.1.2.1', 'b1', 1, 'x', 0, '2026-01-01', 'dimse'),
             (2, '9.2.1.1', '1.2', '1.2.840.10008.1.2.1', 'b2', 1, 'x', 0, '2026-01-02', 'dimse'),
             (3, '9.3.1.1', '1.2', '1.2.840.10008.1.2.1', 'b3', 1, 'x', 0, '2026-01-03', 'dimse'),
             (4, '9.4.1.1', '1.2', '1.2.840.10008.1.2.1', 'b4', 1, 'x', 0, '2026-01-04', 'dimse');
  `);
  db.close();

  const index = new SqliteStudyIndex(path);
  t.after(() => index.close());
  assert.equal((await index.stats()).patients, 4, 'each study without a Patient ID has its own patient');
  assert.equal(
    await nameOfStudy(index, '9.1'),
    'Jansen^Piet',
    'the first study keeps the row its own first instance made',
  );
  assert.equal(await nameOfStudy(index, '9.2'), null, "never the first arrival's name");
  assert.equal((await index.getInstance('9.4.1.1'))?.patient.bsn, null, "never the first arrival's BSN");
  assert.equal(await nameOfStudy(index, '9.3'), 'Bakker^Kees');
  const waiting = await index.patientsAwaitingAttributes();
  assert.deepEqual(
    waiting.map((w) => w.blobId),
    ['b2', 'b4'],
  );
  const [second] = waiting;
  assert.ok(second !== undefined);
  await index.restorePatientAttributes(second.patientKey, {
    patientId: '',
    issuerOfPatientId: null,
    bsn: '999999990',
    patientName: 'de Boer^Anna',
    birthDate: '19800101',
    sex: 'F',
  });
  assert.equal(await nameOfStudy(index, '9.2'), 'de Boer^Anna');
  assert.equal((await index.getInstance('9.2.1.1'))?.patient.bsn, '999999990');
  assert.deepEqual(
    (await index.patientsAwaitingAttributes()).map((w) => w.blobId),
    ['b4'],
  );
  // New studies without a Patient ID get their own patient too.
  await index.recordInstance(ofPatient('Visser^Jan', 5, '', null), fakeBlob(5), 0);
  assert.equal(await nameOfStudy(index, '9.5'), 'Visser^Jan');
  assert.equal((await index.stats()).patients, 5);
});

onEveryIndex('the study index', [
  [
    'many instances of one new study recorded at once make one patient, one study and its series, none lost',
    async (t, open) => {
      const index = await open(t);
      // On PostgreSQL these run on several connections: each first instance races to add the patient and study.
      const outcomes = await Promise.all(
        Array.from({ length: 40 }, (_, n) =>
          index.recordInstance(
            newInstance({ study: '7.1', series: `7.1.${n % 4}`, sop: `7.1.${n % 4}.${n}` }),
            fakeBlob(n + 1),
            0,
          ),
        ),
      );
      assert.deepEqual(new Set(outcomes.map((o) => o.outcome)), new Set(['created']));
      assert.deepEqual(await index.stats(), {
        patients: 1,
        studies: 1,
        series: 4,
        instances: 40,
        bytes: 40 * 1000 + 820,
      });
      const again = await Promise.all(
        [0, 1].map(() =>
          index.recordInstance(newInstance({ study: '7.1', series: '7.1.0', sop: '7.1.0.0' }), fakeBlob(99), 0),
        ),
      );
      assert.deepEqual(
        again.map((o) => o.outcome),
        ['duplicate', 'duplicate'],
      );
    },
  ],
  [
    'an instance is recorded with all its attributes, blob and provenance, and read back',
    async (t, open) => {
      const index = await open(t);
      const x = newInstance();
      assert.deepEqual(await index.recordInstance(x, fakeBlob(1), 132), { outcome: 'created' });
      assert.deepEqual(await index.getInstance(x.instance.sopInstanceUid), {
        ...x,
        blob: fakeBlob(1),
        datasetOffset: 132,
      });
      assert.equal(await index.getInstance('9.9.9'), undefined);
      assert.deepEqual(await index.stats(), { patients: 1, studies: 1, series: 1, instances: 1, bytes: 1001 });
    },
  ],
  [
    'recording the same SOP Instance UID twice is idempotent: the first record wins',
    async (t, open) => {
      const index = await open(t);
      const first = newInstance();
      await index.recordInstance(first, fakeBlob(1), 132);
      const again = newInstance({ patientName: 'Other^Name', instanceNumber: 99 });
      const r = await index.recordInstance(again, fakeBlob(2), 200);
      assert.equal(r.outcome, 'duplicate');
      assert.deepEqual(r.existing, { ...first, blob: fakeBlob(1), datasetOffset: 132 });
      assert.deepEqual(await index.referencedBlobIds(), new Set([fakeBlob(1).blobId]));
      assert.deepEqual(
        await index.blobsReferenced([fakeBlob(2).blobId, fakeBlob(1).blobId, fakeBlob(3).blobId]),
        new Set([fakeBlob(1).blobId]),
        'of some blobs, those indexed',
      );
      assert.deepEqual(await index.blobsReferenced([]), new Set());
      assert.equal((await index.stats()).instances, 1);
    },
  ],
  [
    'a study already stored under another patient is STUDY_PATIENT_CONFLICT and nothing is written',
    async (t, open) => {
      const index = await open(t);
      await index.recordInstance(newInstance(), fakeBlob(1), 0);
      const before = await index.stats();
      for (const other of [
        newInstance({ patientId: 'P2', sop: '1.2.3.1.1.2' }),
        newInstance({ issuer: 'OTHER', sop: '1.2.3.1.1.3' }),
        newInstance({ issuer: null, sop: '1.2.3.1.1.4' }),
      ]) {
        await assert.rejects(
          () => index.recordInstance(other, fakeBlob(2), 0),
          (e) => e instanceof StoreError && e.code === 'STUDY_PATIENT_CONFLICT',
        );
      }
      assert.deepEqual(await index.stats(), before, 'no patient row left behind by the failed transaction');
      assert.equal(await index.getInstance('1.2.3.1.1.2'), undefined);
    },
  ],
  [
    'patient identity is patient id + issuer: the same id under another issuer is another patient',
    async (t, open) => {
      const index = await open(t);
      await index.recordInstance(newInstance({ issuer: 'A' }), fakeBlob(1), 0);
      await index.recordInstance(
        newInstance({ issuer: null, study: '1.2.9', series: '1.2.9.1', sop: '1.2.9.1.1' }),
        fakeBlob(2),
        0,
      );
      await index.recordInstance(
        newInstance({ issuer: null, study: '1.2.9', series: '1.2.9.1', sop: '1.2.9.1.2' }),
        fakeBlob(3),
        0,
      );
      assert.equal((await index.stats()).patients, 2);
    },
  ],
  [
    'a series already stored under another study is SERIES_STUDY_CONFLICT',
    async (t, open) => {
      const index = await open(t);
      await index.recordInstance(newInstance(), fakeBlob(1), 0);
      await assert.rejects(
        () => index.recordInstance(newInstance({ study: '1.2.3.2', sop: '1.2.3.2.1' }), fakeBlob(2), 0),
        (e) => e instanceof StoreError && e.code === 'SERIES_STUDY_CONFLICT',
      );
      assert.deepEqual(await index.stats(), { patients: 1, studies: 1, series: 1, instances: 1, bytes: 1001 });
    },
  ],
  [
    'removeInstance removes parents that become empty, and only those',
    async (t, open) => {
      const index = await open(t);
      await index.recordInstance(newInstance({ sop: '1.1' }), fakeBlob(1), 0);
      await index.recordInstance(newInstance({ sop: '1.2' }), fakeBlob(2), 0);
      await index.recordInstance(newInstance({ series: '2.1', sop: '2.1.1' }), fakeBlob(3), 0);
      assert.equal((await index.removeInstance('1.1'))?.blob.blobId, fakeBlob(1).blobId);
      assert.deepEqual(await index.stats(), { patients: 1, studies: 1, series: 2, instances: 2, bytes: 2005 });
      await index.removeInstance('1.2');
      assert.deepEqual(await index.stats(), { patients: 1, studies: 1, series: 1, instances: 1, bytes: 1003 });
      await index.removeInstance('2.1.1');
      assert.deepEqual(await index.stats(), { patients: 0, studies: 0, series: 0, instances: 0, bytes: 0 });
      assert.equal(await index.removeInstance('2.1.1'), undefined);
      // The study can now be stored under another patient: it no longer exists.
      assert.equal((await index.recordInstance(newInstance({ patientId: 'P9' }), fakeBlob(4), 0)).outcome, 'created');
    },
  ],
  [
    'instancesMatching returns every instance under the matching entities, by series number then instance number',
    async (t, open) => {
      const index = await open(t);
      const add = async (
        series: string,
        seriesNumber: number | null,
        sop: string,
        instanceNumber: number | null,
        n: number,
      ): Promise<void> => {
        await index.recordInstance(
          newInstance({ series, seriesNumber, sop, instanceNumber, modality: seriesNumber === 2 ? 'MR' : 'CT' }),
          fakeBlob(n),
          0,
        );
      };
      await add('s2', 2, 's2.i3', 3, 1);
      await add('s1', 1, 's1.i2', 2, 2);
      await add('s2', 2, 's2.i1', 1, 3);
      await add('s1', 1, 's1.inull', null, 4);
      await add('s1', 1, 's1.i1', 1, 5);
      await index.recordInstance(
        newInstance({ study: 'other', series: 'o1', sop: 'o1.1', patientId: 'P2' }),
        fakeBlob(6),
        0,
      );
      const sops = async (
        level: 'STUDY' | 'SERIES' | 'PATIENT',
        m: Parameters<typeof index.instancesMatching>[1],
      ): Promise<string[]> => (await index.instancesMatching(level, m)).map((i) => i.instance.sopInstanceUid);
      assert.deepEqual(await sops('STUDY', [{ key: 'studyInstanceUid', kind: 'single', value: '1.2.3.1' }]), [
        's1.i1',
        's1.i2',
        's1.inull',
        's2.i1',
        's2.i3',
      ]);
      assert.deepEqual(await sops('SERIES', [{ key: 'seriesInstanceUid', kind: 'list', values: ['s2', 'o1'] }]), [
        's2.i1',
        's2.i3',
        'o1.1',
      ]);
      // A study-level key below the level (modality) selects whole studies, not just the CT series.
      assert.deepEqual((await sops('STUDY', [{ key: 'modalitiesInStudy', kind: 'single', value: 'MR' }])).length, 5);
      assert.deepEqual(await sops('PATIENT', [{ key: 'patientId', kind: 'single', value: 'P2' }]), ['o1.1']);
      assert.deepEqual(
        await index.instancesMatching('STUDY', [{ key: 'studyInstanceUid', kind: 'single', value: 'nope' }]),
        [],
      );
    },
  ],
  [
    'studyContents counts a study by modality and SOP class, with its first instance as instancesMatching orders it',
    async (t, open) => {
      const index = await open(t);
      const SR = '1.2.840.10008.5.1.4.1.1.88.22';
      const CT = '1.2.840.10008.5.1.4.1.1.2';
      const add = async (
        series: string,
        seriesNumber: number,
        modality: string,
        sop: string,
        sopClass: string,
        n: number,
      ): Promise<unknown> =>
        index.recordInstance(
          newInstance({ series, seriesNumber, modality, sop, sopClass, instanceNumber: n }),
          fakeBlob(n),
          0,
        );
      await add('s2', 2, 'CT', 's2.i1', CT, 1);
      await add('s9', 9, 'SR', 's9.i1', SR, 2);
      await add('s1', 1, 'CT', 's1.i2', CT, 3);
      await add('s1', 1, 'CT', 's1.i1', CT, 4);
      await index.recordInstance(
        newInstance({ study: 'other', series: 'o1', sop: 'o1.1', patientId: 'P2' }),
        fakeBlob(5),
        0,
      );
      const contents = await index.studyContents('1.2.3.1');
      assert.ok(contents !== undefined);
      const listed = await index.instancesMatching('STUDY', [
        { key: 'studyInstanceUid', kind: 'single', value: '1.2.3.1' },
      ]);
      assert.deepEqual(contents.first, listed[0]);
      assert.equal(contents.first.instance.sopInstanceUid, 's1.i2', 'series 1 first, then by instance number');
      const bytes = (sops: string[]): number =>
        listed.filter((i) => sops.includes(i.instance.sopInstanceUid)).reduce((n, i) => n + i.blob.size, 0);
      assert.deepEqual(contents.kinds, [
        { modality: 'CT', sopClassUid: CT, instances: 3, bytes: bytes(['s1.i1', 's1.i2', 's2.i1']) },
        { modality: 'SR', sopClassUid: SR, instances: 1, bytes: bytes(['s9.i1']) },
      ]);
      assert.equal(await index.studyContents('nope'), undefined);
    },
  ],
  [
    'one patient id with two different BSNs is PATIENT_BSN_CONFLICT: two people are never merged',
    async (t, open) => {
      const index = await open(t);
      const withBsn = (bsn: string | null, sop: string, study: string) => {
        const x = newInstance({ sop, study, series: `${study}.1` });
        return { ...x, patient: { ...x.patient, bsn } };
      };
      await index.recordInstance(withBsn(null, '1.1', '2.1'), fakeBlob(1), 132);
      await index.recordInstance(withBsn('111222333', '1.2', '2.2'), fakeBlob(2), 132);
      assert.equal(
        (await index.getInstance('1.1'))?.patient.bsn,
        '111222333',
        'a BSN learned later fills in the patient',
      );
      await assert.rejects(
        () => index.recordInstance(withBsn('999999990', '1.3', '2.3'), fakeBlob(3), 132),
        (e) => e instanceof StoreError && e.code === 'PATIENT_BSN_CONFLICT',
      );
      assert.equal(await index.getInstance('1.3'), undefined, 'nothing written');
      assert.equal((await index.stats()).instances, 2);
      assert.equal(
        (await index.recordInstance(withBsn('111222333', '1.4', '2.4'), fakeBlob(4), 132)).outcome,
        'created',
        'the same BSN is the same patient',
      );
    },
  ],
  [
    'an instance joining a series already stored keeps every patient rule: BSN filled in or in conflict, another patient, a copy',
    async (t, open) => {
      const index = await open(t);
      const inSeries = (sop: string, o: { bsn?: string; patientId?: string; issuer?: string | null } = {}) => {
        const { bsn = null, ...who } = o;
        const x = newInstance({ sop, study: '3.1', series: '3.1.1', ...who });
        return { ...x, patient: { ...x.patient, bsn } };
      };
      await index.recordInstance(inSeries('3.1.1.1'), fakeBlob(1), 132);
      const second = inSeries('3.1.1.2');
      assert.equal((await index.recordInstance(second, fakeBlob(2), 140)).outcome, 'created');
      const stored = await index.getInstance('3.1.1.2');
      assert.deepEqual(
        [stored?.blob, stored?.datasetOffset, stored?.instance, stored?.provenance],
        [fakeBlob(2), 140, second.instance, second.provenance],
        'every column of the row as given',
      );
      assert.equal(
        (await index.recordInstance(inSeries('3.1.1.2'), fakeBlob(3), 132)).outcome,
        'duplicate',
        'the first copy wins',
      );
      await index.recordInstance(inSeries('3.1.1.3', { bsn: '111222333' }), fakeBlob(4), 132);
      assert.equal((await index.getInstance('3.1.1.1'))?.patient.bsn, '111222333', 'a BSN learned later fills in');
      await assert.rejects(
        () => index.recordInstance(inSeries('3.1.1.4', { bsn: '999999990' }), fakeBlob(5), 132),
        (e) => e instanceof StoreError && e.code === 'PATIENT_BSN_CONFLICT',
      );
      await assert.rejects(
        () => index.recordInstance(inSeries('3.1.1.5', { patientId: 'P2' }), fakeBlob(6), 132),
        (e) => e instanceof StoreError && e.code === 'STUDY_PATIENT_CONFLICT',
      );
      await assert.rejects(
        () => index.recordInstance(inSeries('3.1.1.6', { issuer: null }), fakeBlob(7), 132),
        (e) => e instanceof StoreError && e.code === 'STUDY_PATIENT_CONFLICT',
        'the same Patient ID of another issuer is another patient',
      );
      assert.equal(
        (await index.recordInstance(inSeries('3.1.1.7', { bsn: '111222333' }), fakeBlob(8), 132)).outcome,
        'created',
      );
      assert.equal(
        (await index.recordInstance(inSeries('3.1.1.8'), fakeBlob(9), 132)).outcome,
        'created',
        'an instance without a BSN joins the patient that has one',
      );
      const s = await index.stats();
      assert.deepEqual([s.patients, s.studies, s.series, s.instances], [1, 1, 1, 5]);
    },
  ],
  [
    'an empty Patient ID never joins two people: each study keeps its own patient, at every query level',
    async (t, open) => {
      const index = await open(t);
      await index.recordInstance(ofPatient('Jansen^Piet', 1, '', null), fakeBlob(1), 0);
      await index.recordInstance(ofPatient('de Boer^Anna', 2, '', null), fakeBlob(2), 0);
      await index.recordInstance(ofPatient('Bakker^Kees', 3, '', 'HOSP'), fakeBlob(3), 0);
      assert.equal((await index.stats()).patients, 3);
      assert.equal(await nameOfStudy(index, '9.1'), 'Jansen^Piet');
      assert.equal(await nameOfStudy(index, '9.2'), 'de Boer^Anna');
      assert.equal(await nameOfStudy(index, '9.3'), 'Bakker^Kees');
      const patients = (await index.query('PATIENT', [])).map((r) => [
        r.values.patientName,
        r.numberOfPatientRelatedStudies,
      ]);
      assert.deepEqual(patients, [
        ['Jansen^Piet', 1],
        ['de Boer^Anna', 1],
        ['Bakker^Kees', 1],
      ]);
      // A second instance of a study without a Patient ID joins that study's patient, not a new one.
      const more = ofPatient('Jansen^Piet', 1, '', null);
      await index.recordInstance(
        { ...more, instance: { ...more.instance, sopInstanceUid: '9.1.1.2' } },
        fakeBlob(4),
        0,
      );
      assert.equal((await index.stats()).patients, 3);
      assert.equal(
        (await index.query('PATIENT', [{ key: 'patientName', kind: 'single', value: 'Jansen^Piet' }]))[0]
          ?.numberOfPatientRelatedInstances,
        2,
      );
    },
  ],
  [
    'a study without a Patient ID is not joined by an instance naming one, nor by one of another issuer',
    async (t, open) => {
      const index = await open(t);
      await index.recordInstance(ofPatient('Jansen^Piet', 1, '', null), fakeBlob(1), 0);
      for (const [patientId, issuer] of [
        ['P1', null],
        ['', 'HOSP'],
      ] as const) {
        const x = ofPatient('Jansen^Piet', 1, patientId, issuer);
        await assert.rejects(
          () =>
            index.recordInstance(
              { ...x, instance: { ...x.instance, sopInstanceUid: `9.1.1.${patientId}${issuer ?? ''}` } },
              fakeBlob(2),
              0,
            ),
          (e) => e instanceof StoreError && e.code === 'STUDY_PATIENT_CONFLICT',
        );
      }
      assert.deepEqual((await index.stats()).patients, 1);
    },
  ],
  [
    'the same Patient ID under different issuers is two people, each answering with their own name',
    async (t, open) => {
      const index = await open(t);
      await index.recordInstance(ofPatient('Jansen^Piet', 1, '12345', 'AMC'), fakeBlob(1), 0);
      await index.recordInstance(ofPatient('de Boer^Anna', 2, '12345', 'VUMC'), fakeBlob(2), 0);
      await index.recordInstance(ofPatient('Bakker^Kees', 3, '12345', null), fakeBlob(3), 0);
      assert.equal((await index.stats()).patients, 3);
      assert.deepEqual(await Promise.all(['9.1', '9.2', '9.3'].map((st) => nameOfStudy(index, st))), [
        'Jansen^Piet',
        'de Boer^Anna',
        'Bakker^Kees',
      ]);
    },
  ],
  [
    'with an empty Patient ID a BSN joins nobody; with the same Patient ID and issuer two BSNs still conflict',
    async (t, open) => {
      const index = await open(t);
      await index.recordInstance(ofPatient('Jansen^Piet', 1, '', null, '111222333'), fakeBlob(1), 0);
      await index.recordInstance(ofPatient('de Boer^Anna', 2, '', null, '999999990'), fakeBlob(2), 0);
      assert.equal((await index.stats()).patients, 2);
      await index.recordInstance(ofPatient('Bakker^Kees', 3, 'P7', 'HOSP', '111222333'), fakeBlob(3), 0);
      await assert.rejects(
        () => index.recordInstance(ofPatient('Bakker^Kees', 4, 'P7', 'HOSP', '999999990'), fakeBlob(4), 0),
        (e) => e instanceof StoreError && e.code === 'PATIENT_BSN_CONFLICT',
      );
    },
  ],
  [
    'a query pages through its matches in the order they were stored: limit, offset, or both',
    async (t, open) => {
      const index = await open(t);
      for (let n = 1; n <= 5; n++)
        await index.recordInstance(
          newInstance({ study: `1.2.3.${n}`, series: `1.2.4.${n}`, sop: `1.2.5.${n}` }),
          fakeBlob(n),
          0,
        );
      const studies = async (page?: { limit?: number; offset?: number }): Promise<unknown[]> =>
        (await index.query('STUDY', [], page)).map((r) => r.values.studyInstanceUid);
      assert.deepEqual(await studies(), ['1.2.3.1', '1.2.3.2', '1.2.3.3', '1.2.3.4', '1.2.3.5']);
      assert.deepEqual(await studies({ limit: 2 }), ['1.2.3.1', '1.2.3.2']);
      assert.deepEqual(await studies({ limit: 2, offset: 1 }), ['1.2.3.2', '1.2.3.3']);
      assert.deepEqual(await studies({ offset: 3 }), ['1.2.3.4', '1.2.3.5']);
      assert.deepEqual(await studies({ limit: 10, offset: 5 }), []);
    },
  ],
]);
