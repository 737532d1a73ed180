import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { PatientStudy } from '../studies/index.ts';
import { studiesOfPatient } from './source-routes.ts';

const study = (uid: string, date: string, o: Partial<PatientStudy> = {}): PatientStudy => ({
  studyInstanceUid: uid,
  studyDate: date,
  studyTime: '120000',
  accessionNumber: null,
  description: null,
  modalities: ['CT'],
  bodyParts: [],
  series: 1,
  instances: 10,
  hasReport: false,
  ...o,
});
const silent = pino({ level: 'silent' });

test('a source lists its own copies and its PACS once per study, newest first, the larger counts winning', async () => {
  const held = {
    patientStudies: async () => [
      study('1.1', '20200101', { bodyParts: ['CHEST'], instances: 4 }),
      study('1.2', '20240101'),
    ],
  };
  const archive = {
    patientStudies: async () => [
      study('1.1', '20200101', { instances: 12, series: 3, modalities: ['CT', 'SR'], hasReport: true }),
      study('1.3', '20220101'),
    ],
  };
  const r = await studiesOfPatient(held, archive, '111222333', silent);
  assert.equal(r.partial, undefined);
  assert.deepEqual(
    r.studies.map((s) => s.studyInstanceUid),
    ['1.2', '1.3', '1.1'],
  );
  assert.deepEqual(
    r.studies[2],
    study('1.1', '20200101', {
      bodyParts: ['CHEST'],
      instances: 12,
      series: 3,
      modalities: ['CT', 'SR'],
      hasReport: true,
    }),
  );
});

test('a source whose PACS cannot be asked lists its own copies and says the list may be incomplete', async () => {
  const held = { patientStudies: async () => [study('1.1', '20200101')] };
  const archive = {
    patientStudies: async (): Promise<PatientStudy[]> => {
      throw new Error('connection refused');
    },
  };
  const r = await studiesOfPatient(held, archive, '111222333', silent);
  assert.deepEqual(
    r.studies.map((s) => s.studyInstanceUid),
    ['1.1'],
  );
  assert.match(r.partial ?? '', /PACS could not be asked/);
  assert.deepEqual(
    (await studiesOfPatient(held, undefined, '111222333', silent)).studies.length,
    1,
    'no PACS configured: the copies only, not partial',
  );
});
