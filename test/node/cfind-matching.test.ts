// C-FIND as a PACS or viewer asks it (PS3.4 C.4.1): patient root and study root, every level, single value, wildcard,
// date range and UID matching, with findscu against a node holding two patients' studies.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Dataset, readPart10, Tag } from '../../src/dicom/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { run } from '../dimse/helpers.ts';
import { filesIn } from '../support/dicom-files.ts';
import { startTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

test('findscu: patient and study root, all levels, wildcard, range and UID matching', async (t) => {
  if (requireTool(t, 'findscu') === undefined || requireTool(t, 'storescu') === undefined) return;
  const work = tempDir(t);
  const synth = await synthesize({ outDir: join(work, 'synth'), patients: 2, seed: 5 });
  const n = await startTestNode(t, { peers: [{ aeTitle: 'VIEWER', host: '127.0.0.1', description: 'test viewer' }] });
  const peer = ['-aet', 'VIEWER', '-aec', n.aeTitle, '127.0.0.1', String(n.port)];
  const stored = await run('storescu', [...peer, ...filesIn(join(work, 'synth'))]);
  assert.equal(stored.code, 0, stored.stderr);

  let queries = 0;
  const find = async (root: '-P' | '-S', keys: Record<string, string>): Promise<Dataset[]> => {
    const dir = join(work, `find-${++queries}`);
    const args = [
      root,
      '-X',
      '-od',
      dir,
      ...peer,
      ...Object.entries(keys).flatMap(([k, v]) => ['-k', v === '' ? k : `${k}=${v}`]),
    ];
    mkdirSync(dir);
    const r = await run('findscu', args);
    assert.equal(r.code, 0, r.stderr);
    return filesIn(dir).map((f) => readPart10(readFileSync(f)).dataset);
  };

  const [p1, p2] = synth.patients;
  assert.ok(p1 !== undefined && p2 !== undefined);

  const patients = await find('-P', {
    QueryRetrieveLevel: 'PATIENT',
    PatientID: p1.patientId,
    PatientName: '',
    NumberOfPatientRelatedStudies: '',
  });
  assert.equal(patients.length, 1);
  assert.equal(patients[0]?.string(Tag.PatientName), p1.name);
  assert.equal(Number(patients[0]?.string(Tag.NumberOfPatientRelatedStudies)), p1.studies.length);

  const wildcard = await find('-P', {
    QueryRetrieveLevel: 'PATIENT',
    PatientID: `${p2.patientId.slice(0, 8)}?`,
    PatientBirthDate: '',
  });
  assert.deepEqual(
    wildcard.map((d) => d.string(Tag.PatientBirthDate)),
    [p2.birthDate],
    '? matches one character',
  );

  const allStudies = [...p1.studies, ...p2.studies].sort((a, b) => a.studyDate.localeCompare(b.studyDate));
  const cut = allStudies[Math.floor(allStudies.length / 2)]?.studyDate ?? '';
  const upTo = await find('-S', { QueryRetrieveLevel: 'STUDY', StudyDate: `-${cut}`, StudyInstanceUID: '' });
  assert.deepEqual(
    upTo.map((d) => d.string(Tag.StudyInstanceUID)).sort(),
    allStudies
      .filter((s) => s.studyDate <= cut)
      .map((s) => s.studyInstanceUid)
      .sort(),
    'an open-ended date range',
  );
  const from = await find('-S', { QueryRetrieveLevel: 'STUDY', StudyDate: `${cut}-`, StudyInstanceUID: '' });
  assert.equal(from.length, allStudies.filter((s) => s.studyDate >= cut).length);

  const study = p1.studies[0];
  assert.ok(study !== undefined);
  const inPatientRoot = await find('-P', {
    QueryRetrieveLevel: 'STUDY',
    PatientID: p1.patientId,
    StudyInstanceUID: '',
    AccessionNumber: '',
  });
  assert.equal(inPatientRoot.length, p1.studies.length, 'patient root, study level');
  assert.ok(inPatientRoot.some((d) => d.string(Tag.AccessionNumber) === study.accessionNumber));

  const series = await find('-S', {
    QueryRetrieveLevel: 'SERIES',
    StudyInstanceUID: study.studyInstanceUid,
    SeriesInstanceUID: '',
    Modality: '',
    NumberOfSeriesRelatedInstances: '',
  });
  assert.equal(series.length, study.series, 'one answer per series (images and report)');
  assert.equal(
    series.reduce((sum, d) => sum + Number(d.string(Tag.NumberOfSeriesRelatedInstances)), 0),
    study.instances,
  );

  const firstSeries = series[0]?.string(Tag.SeriesInstanceUID) ?? '';
  const images = await find('-S', {
    QueryRetrieveLevel: 'IMAGE',
    StudyInstanceUID: study.studyInstanceUid,
    SeriesInstanceUID: firstSeries,
    SOPInstanceUID: '',
    InstanceNumber: '',
  });
  assert.equal(images.length, Number(series[0]?.string(Tag.NumberOfSeriesRelatedInstances)));

  const none = await find('-S', { QueryRetrieveLevel: 'STUDY', StudyInstanceUID: '1.2.3.999', PatientID: '' });
  assert.deepEqual(none, [], 'an unknown UID matches nothing');
});
