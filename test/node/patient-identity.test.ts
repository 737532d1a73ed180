// Patient safety (issue 19, section 6): patients are told apart by Patient ID with its issuer. Two people whose
// studies carry no Patient ID, and two people with the same Patient ID from different issuers, are four patients;
// stored with storescu and asked with findscu, every study answers with its own patient's name.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Dataset, encodePart10, readPart10, Tag } from '../../src/dicom/index.ts';
import { writeCtStudy } from '../../src/synth/index.ts';
import { run } from '../dimse/helpers.ts';
import { filesIn } from '../support/dicom-files.ts';
import { startTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

const people = [
  { name: 'Jansen^Piet', patientId: '', issuer: '' },
  { name: 'de Boer^Anna', patientId: '', issuer: '' },
  { name: 'Bakker^Kees', patientId: '12345', issuer: 'AMC' },
  { name: 'Visser^Jan', patientId: '12345', issuer: 'VUMC' },
] as const;

test('storescu + findscu: no Patient ID, or one id from two issuers, never makes two people one', async (t) => {
  if (requireTool(t, 'findscu') === undefined || requireTool(t, 'storescu') === undefined) return;
  const work = tempDir(t);
  const upload = join(work, 'upload');
  mkdirSync(upload);
  const studyOf = new Map<string, string>();
  for (const [n, p] of people.entries()) {
    const study = await writeCtStudy({ outDir: join(work, `study${n}`), instances: 2, seed: 40 + n });
    for (const [i, f] of study.files.entries()) {
      const part10 = readPart10(readFileSync(f));
      part10.dataset
        .set(Tag.PatientName, 'PN', p.name)
        .set(Tag.PatientID, 'LO', p.patientId)
        .set(Tag.IssuerOfPatientID, 'LO', p.issuer);
      writeFileSync(
        join(upload, `${n}-${i}.dcm`),
        Buffer.concat(encodePart10(part10.dataset, part10.transferSyntaxUid)),
      );
    }
    studyOf.set(study.studyInstanceUid, p.name);
  }
  assert.equal(studyOf.size, people.length);
  const n = await startTestNode(t, { peers: [{ aeTitle: 'VIEWER', host: '127.0.0.1', description: 'test viewer' }] });
  const peer = ['-aet', 'VIEWER', '-aec', n.aeTitle, '127.0.0.1', String(n.port)];
  const stored = await run('storescu', [...peer, ...filesIn(upload)]);
  assert.equal(stored.code, 0, stored.stderr);

  let queries = 0;
  const find = async (root: '-P' | '-S', keys: Record<string, string>): Promise<Dataset[]> => {
    const dir = join(work, `find-${++queries}`);
    mkdirSync(dir);
    const r = await run('findscu', [
      root,
      '-X',
      '-od',
      dir,
      ...peer,
      ...Object.entries(keys).flatMap(([k, v]) => ['-k', v === '' ? k : `${k}=${v}`]),
    ]);
    assert.equal(r.code, 0, r.stderr);
    return filesIn(dir).map((f) => readPart10(readFileSync(f)).dataset);
  };

  const studies = await find('-S', {
    QueryRetrieveLevel: 'STUDY',
    StudyInstanceUID: '',
    PatientName: '',
    PatientID: '',
    IssuerOfPatientID: '',
  });
  assert.deepEqual(
    studies.map((d) => [d.string(Tag.StudyInstanceUID), d.string(Tag.PatientName)]).sort(),
    [...studyOf].sort(),
    'every study answers with its own patient name',
  );

  const patients = await find('-P', {
    QueryRetrieveLevel: 'PATIENT',
    PatientName: '',
    PatientID: '',
    IssuerOfPatientID: '',
    NumberOfPatientRelatedStudies: '',
  });
  assert.deepEqual(
    patients
      .map(
        (d) =>
          `${d.string(Tag.PatientName) ?? ''}|${d.string(Tag.PatientID) ?? ''}|${d.string(Tag.IssuerOfPatientID) ?? ''}|${d.string(Tag.NumberOfPatientRelatedStudies) ?? ''}`,
      )
      .sort(),
    people.map((p) => `${p.name}|${p.patientId}|${p.issuer}|1`).sort(),
    'four people, one study each',
  );

  for (const p of people.filter((x) => x.patientId !== '')) {
    const own = await find('-P', {
      QueryRetrieveLevel: 'STUDY',
      PatientID: p.patientId,
      IssuerOfPatientID: p.issuer,
      StudyInstanceUID: '',
      PatientName: '',
    });
    assert.deepEqual(
      own.map((d) => d.string(Tag.PatientName)),
      [p.name],
      `Patient ID ${p.patientId} of ${p.issuer} is one person`,
    );
  }
});
