import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { onEveryIndex, type OpenIndex } from './index-test-support.ts';
import { fakeBlob, newInstance } from './store-test-support.ts';
import type { Matcher, QueryLevel, StudyIndex } from './types.ts';

/**
 * C-FIND matching (PS3.4 C.2.2.2) as a table of cases over a small fixed archive:
 *   P1/HOSP Jansen^Piet   study S1 2026-01-10 10:15  CT series (2 images) + SR series (1)
 *   P1/HOSP               study S2 2025-06-01 08:00  MR series (1)
 *   P2/HOSP Jánssen^Ëva   study S3 2026-03-05 23:59  CT series (1), no accession
 *   P3/null [Bracket]^Bob study S4 (no date)         US series (1)
 */
async function archive(t: TestContext, open: OpenIndex): Promise<StudyIndex> {
  const index = await open(t);
  let n = 0;
  const add = async (o: Parameters<typeof newInstance>[0]): Promise<void> => {
    n += 1;
    await index.recordInstance(newInstance(o), fakeBlob(n), 0);
  };
  const p1 = { patientId: 'P1', patientName: 'Jansen^Piet', birthDate: '19700101' };
  await add({
    ...p1,
    study: 'S1',
    studyDate: '20260110',
    studyTime: '101500',
    accession: 'A-100',
    series: 'S1.1',
    modality: 'CT',
    seriesNumber: 1,
    sop: 'S1.1.1',
    instanceNumber: 1,
  });
  await add({
    ...p1,
    study: 'S1',
    studyDate: '20260110',
    studyTime: '101500',
    accession: 'A-100',
    series: 'S1.1',
    modality: 'CT',
    seriesNumber: 1,
    sop: 'S1.1.2',
    instanceNumber: 2,
  });
  await add({
    ...p1,
    study: 'S1',
    studyDate: '20260110',
    studyTime: '101500',
    accession: 'A-100',
    series: 'S1.2',
    modality: 'SR',
    seriesNumber: 2,
    sop: 'S1.2.1',
    sopClass: '1.2.840.10008.5.1.4.1.1.88.11',
  });
  await add({
    ...p1,
    study: 'S2',
    studyDate: '20250601',
    studyTime: '0800',
    accession: 'A-200',
    series: 'S2.1',
    modality: 'MR',
    sop: 'S2.1.1',
    referring: 'Bakker^Jan',
  });
  await add({
    patientId: 'P2',
    patientName: 'Jánssen^Ëva',
    birthDate: '19851231',
    study: 'S3',
    studyDate: '20260305',
    studyTime: '235959',
    accession: null,
    series: 'S3.1',
    modality: 'CT',
    sop: 'S3.1.1',
  });
  await add({
    patientId: 'P3',
    issuer: null,
    patientName: '[Bracket]^Bob',
    birthDate: null,
    study: 'S4',
    studyDate: null,
    studyTime: null,
    accession: null,
    series: 'S4.1',
    modality: 'US',
    sop: 'S4.1.1',
    seriesNumber: null,
  });
  return index;
}

type Case = [name: string, level: QueryLevel, matchers: Matcher[], expected: string[]];

const s = (key: Matcher['key'], value: string): Matcher => ({ key, kind: 'single', value });
const w = (key: Matcher['key'], pattern: string): Matcher => ({ key, kind: 'wildcard', pattern });
const r = (key: Matcher['key'], from: string | null, to: string | null): Matcher => ({ key, kind: 'range', from, to });
const l = (key: Matcher['key'], ...values: string[]): Matcher => ({ key, kind: 'list', values });

const cases: Case[] = [
  ['no keys: every study', 'STUDY', [], ['S1', 'S2', 'S3', 'S4']],
  ['single patient id', 'STUDY', [s('patientId', 'P1')], ['S1', 'S2']],
  ['single is exact for ids (no prefix match)', 'STUDY', [s('patientId', 'P')], []],
  ['single is case-sensitive for non-names', 'STUDY', [s('accessionNumber', 'a-100')], []],
  ['single name, case-insensitive', 'PATIENT', [s('patientName', 'JANSEN^PIET')], ['P1']],
  ['single name, case-insensitive beyond ASCII', 'PATIENT', [s('patientName', 'JÁNSSEN^ËVA')], ['P2']],
  ['wildcard * prefix', 'PATIENT', [w('patientName', 'jans*')], ['P1']],
  ['wildcard ? one character', 'PATIENT', [w('patientName', 'J?nss*')], ['P2']],
  [
    'wildcard * alone is universal, matching empty values too',
    'STUDY',
    [w('accessionNumber', '*')],
    ['S1', 'S2', 'S3', 'S4'],
  ],
  ['wildcard on a non-name is case-sensitive', 'STUDY', [w('accessionNumber', 'a-*')], []],
  ['wildcard with a bracket is literal', 'PATIENT', [w('patientName', '[bracket]*')], ['P3']],
  // LIKE's own wildcards and escape character are plain characters to DICOM.
  ['an underscore is literal, not any one character', 'STUDY', [w('accessionNumber', 'A_100')], []],
  ['a percent sign is literal, not any characters', 'STUDY', [w('accessionNumber', 'A%')], []],
  ['a backslash is literal', 'STUDY', [w('accessionNumber', 'A\\*')], []],
  ['wildcard with SQL LIKE characters is literal', 'STUDY', [w('accessionNumber', 'A%')], []],
  ['wildcard does not match a missing value', 'STUDY', [w('accessionNumber', 'A*')], ['S1', 'S2']],
  ['referring physician name, case-insensitive wildcard', 'STUDY', [w('referringPhysicianName', 'BAKKER*')], ['S2']],
  ['date range closed', 'STUDY', [r('studyDate', '20260101', '20260131')], ['S1']],
  ['date range inclusive at both ends', 'STUDY', [r('studyDate', '20250601', '20260110')], ['S1', 'S2']],
  ['date range open start', 'STUDY', [r('studyDate', null, '20251231')], ['S2']],
  ['date range open end', 'STUDY', [r('studyDate', '20260201', null)], ['S3']],
  ['date range excludes studies without a date', 'STUDY', [r('studyDate', '19000101', null)], ['S1', 'S2', 'S3']],
  [
    'time range: an upper bound of lower precision includes its whole minute',
    'STUDY',
    [r('studyTime', '0800', '1015')],
    ['S1', 'S2'],
  ],
  ['birth date single', 'PATIENT', [s('birthDate', '19851231')], ['P2']],
  ['UID list', 'STUDY', [l('studyInstanceUid', 'S1', 'S3', 'nope')], ['S1', 'S3']],
  ['UID list at series level', 'SERIES', [l('seriesInstanceUid', 'S1.2', 'S4.1')], ['S1.2', 'S4.1']],
  ['series level with study key above', 'SERIES', [s('studyInstanceUid', 'S1')], ['S1.1', 'S1.2']],
  ['series level: modality', 'SERIES', [s('modality', 'CT')], ['S1.1', 'S3.1']],
  ['series number as integer', 'SERIES', [s('seriesNumber', '2')], ['S1.2']],
  ['series number that is not a number matches nothing', 'SERIES', [s('seriesNumber', 'x')], []],
  [
    'image level: instance number list',
    'IMAGE',
    [s('seriesInstanceUid', 'S1.1'), l('instanceNumber', '2', '7')],
    ['S1.1.2'],
  ],
  ['image level: SOP class', 'IMAGE', [s('sopClassUid', '1.2.840.10008.5.1.4.1.1.88.11')], ['S1.2.1']],
  ['modalities in study: a study with any series of that modality', 'STUDY', [s('modalitiesInStudy', 'SR')], ['S1']],
  ['modalities in study as a list', 'STUDY', [l('modalitiesInStudy', 'MR', 'US')], ['S2', 'S4']],
  ['modalities in study at patient level', 'PATIENT', [s('modalitiesInStudy', 'MR')], ['P1']],
  ['key below the level: patients with a CT series', 'PATIENT', [s('modality', 'CT')], ['P1', 'P2']],
  ['key below the level: studies holding an instance', 'STUDY', [s('sopInstanceUid', 'S3.1.1')], ['S3']],
  ['combined keys are ANDed', 'STUDY', [s('patientId', 'P1'), r('studyDate', '20260101', null)], ['S1']],
  ['issuer single', 'PATIENT', [s('issuerOfPatientId', 'HOSP')], ['P1', 'P2']],
];

onEveryIndex('C-FIND matching', [
  [
    'C-FIND matching, table of cases',
    async (t, open) => {
      const index = await archive(t, open);
      const idOf = (level: QueryLevel, v: Record<string, unknown>): string =>
        String(
          level === 'PATIENT'
            ? v.patientId
            : level === 'STUDY'
              ? v.studyInstanceUid
              : level === 'SERIES'
                ? v.seriesInstanceUid
                : v.sopInstanceUid,
        );
      for (const [name, level, matchers, expected] of cases) {
        await t.test(name, async () => {
          const got = (await index.query(level, matchers)).map((row) => idOf(level, row.values));
          assert.deepEqual(got.sort(), [...expected].sort());
        });
      }
    },
  ],
  [
    'rows carry the attributes of their level and above, and the counts',
    async (t, open) => {
      const index = await archive(t, open);
      const [p1] = await index.query('PATIENT', [s('patientId', 'P1')]);
      assert.deepEqual(p1, {
        values: {
          patientId: 'P1',
          issuerOfPatientId: 'HOSP',
          bsn: null,
          patientName: 'Jansen^Piet',
          birthDate: '19700101',
          sex: 'M',
        },
        numberOfPatientRelatedStudies: 2,
        numberOfPatientRelatedSeries: 3,
        numberOfPatientRelatedInstances: 4,
      });
      const [s1] = await index.query('STUDY', [s('studyInstanceUid', 'S1')]);
      assert.equal(s1?.values.studyDate, '20260110');
      assert.equal(s1?.values.patientName, 'Jansen^Piet');
      assert.equal(s1?.values.seriesInstanceUid, undefined, 'no series attributes at study level');
      assert.equal(s1?.numberOfStudyRelatedSeries, 2);
      assert.equal(s1?.numberOfStudyRelatedInstances, 3);
      assert.deepEqual(s1?.modalitiesInStudy, ['CT', 'SR']);
      assert.equal(s1?.values.modalitiesInStudy, 'CT\\SR');
      assert.deepEqual(s1?.sopClassesInStudy, ['1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.5.1.4.1.1.88.11']);
      const [se] = await index.query('SERIES', [s('seriesInstanceUid', 'S1.1')]);
      assert.equal(se?.numberOfSeriesRelatedInstances, 2);
      assert.equal(se?.values.seriesNumber, 1);
      assert.equal(se?.values.studyInstanceUid, 'S1');
      const [im] = await index.query('IMAGE', [s('sopInstanceUid', 'S1.1.2')]);
      assert.equal(im?.values.instanceNumber, 2);
      assert.equal(im?.values.modality, 'CT');
      const [us] = await index.query('SERIES', [s('seriesInstanceUid', 'S4.1')]);
      assert.equal(us?.values.seriesNumber, null);
      assert.equal(us?.values.issuerOfPatientId, null);
    },
  ],
  [
    'limit caps the number of rows',
    async (t, open) => {
      const index = await archive(t, open);
      assert.equal((await index.query('STUDY', [], { limit: 2 })).length, 2);
      assert.equal((await index.query('IMAGE', [])).length, 6);
    },
  ],
  [
    'person names match by component group too (PS3.5 6.2.1.1): 山田* finds a Japanese name by its ideographs',
    async (t, open) => {
      const index = await open(t);
      const name = 'Yamada^Tarou=山田^太郎=やまだ^たろう';
      await index.recordInstance(
        newInstance({ patientId: 'P4', patientName: name, study: 'S5', series: 'S5.1', modality: 'MR', sop: 'S5.1.1' }),
        fakeBlob(1),
        0,
      );
      const table: [string, Matcher, string[]][] = [
        ['ideographic group, wildcard', { key: 'patientName', kind: 'wildcard', pattern: '山田*' }, ['P4']],
        ['phonetic group, exactly', { key: 'patientName', kind: 'single', value: 'やまだ^たろう' }, ['P4']],
        ['alphabetic group, any case', { key: 'patientName', kind: 'wildcard', pattern: 'YAMADA*' }, ['P4']],
        ['all groups', { key: 'patientName', kind: 'single', value: name }, ['P4']],
        ['a group is matched whole', { key: 'patientName', kind: 'single', value: '太郎' }, []],
        [
          'a key with its own = is matched against the whole value',
          { key: 'patientName', kind: 'wildcard', pattern: '山田*=*' },
          [],
        ],
      ];
      for (const [what, matcher, expected] of table)
        assert.deepEqual(
          (await index.query('PATIENT', [matcher])).map((r) => r.values.patientId),
          expected,
          what,
        );
    },
  ],
]);
