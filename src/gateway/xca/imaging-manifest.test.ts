import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readPart10, SopClass, Tag, TransferSyntax, writePart10 } from '../../dicom/index.ts';
import { synthesize } from '../../synth/index.ts';
import { requireTool } from '../../../test/support/tools.ts';
import { imagingManifest, type ManifestStudy } from './imaging-manifest.ts';

const REPOSITORY = '2.16.840.1.113883.2.4.3.111.99.1';

test("an imaging manifest lists every instance of the study by series, with the repository as retrieve location; DCMTK's dsrdump reads it as a valid Key Object Selection document", async (t) => {
  if (requireTool(t, 'dsrdump') === undefined || requireTool(t, 'dcmdump') === undefined) return;
  const dir = mkdtempSync(join(tmpdir(), 'beeldbrug-kos-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const synth = await synthesize({ outDir: join(dir, 'synth'), patients: 1, seed: 7, modalities: ['CR'] });
  const s = synth.patients[0]?.studies[0];
  assert.ok(s !== undefined);
  const files = s.files.map((f) => readPart10(readFileSync(f)).dataset);
  const bySeries = new Map<string, { sopClassUid: string; sopInstanceUid: string }[]>();
  for (const d of files) {
    const uid = d.string(Tag.SeriesInstanceUID) ?? '';
    bySeries.set(uid, [
      ...(bySeries.get(uid) ?? []),
      { sopClassUid: d.string(Tag.SOPClassUID) ?? '', sopInstanceUid: d.string(Tag.SOPInstanceUID) ?? '' },
    ]);
  }
  const study: ManifestStudy = {
    patient: { patientId: synth.patients[0]?.bsn ?? '', issuer: '2.16.840.1.113883.2.4.6.3', name: 'Post^Wouter' },
    studyInstanceUid: s.studyInstanceUid,
    studyDate: s.studyDate,
    description: 'X-thorax',
    series: [...bySeries].map(([seriesInstanceUid, instances]) => ({ seriesInstanceUid, instances })),
  };
  const kos = imagingManifest(study, { repositoryUniqueId: REPOSITORY, institution: 'Ziekenhuis Midden' });
  const file = join(dir, 'manifest.dcm');
  await writePart10(file, kos, TransferSyntax.ExplicitVRLittleEndian);

  const dump = spawnSync('dsrdump', ['-v', file], { encoding: 'utf8' });
  assert.equal(dump.status, 0, dump.stderr);
  // dsrdump says what it cannot check (UTF-8 values, templates); anything else it warns of is a fault of ours.
  const complaints = `${dump.stdout}${dump.stderr}`
    .split('\n')
    .filter((l) => /^[WE]: /.test(l) && !/does not support this Specific Character Set|not yet supported/.test(l));
  assert.deepEqual(complaints, [], 'no warning or error from the SR reader');
  assert.match(dump.stdout, /Key Object Selection Document/);
  assert.match(dump.stdout, /<.*Manifest.*>/);
  assert.equal(spawnSync('dcmdump', ['-q', file]).status, 0);

  const back = readPart10(readFileSync(file)).dataset;
  assert.equal(back.string(Tag.SOPClassUID), SopClass.KeyObjectSelectionDocumentStorage);
  assert.equal(back.string(Tag.StudyInstanceUID), s.studyInstanceUid, 'filed in the study it lists');
  const evidence = back.items(Tag.CurrentRequestedProcedureEvidenceSequence)[0];
  const series = evidence?.items(Tag.ReferencedSeriesSequence) ?? [];
  assert.ok(series.every((x) => x.string(Tag.RetrieveLocationUID) === REPOSITORY));
  const listed = series.flatMap((x) =>
    x.items(Tag.ReferencedSOPSequence).map((r) => r.string(Tag.ReferencedSOPInstanceUID)),
  );
  assert.deepEqual(listed.sort(), files.map((d) => d.string(Tag.SOPInstanceUID)).sort(), 'every instance, once');
  const items = back.items(Tag.ContentSequence);
  assert.equal(items.length, s.instances);
  const sr = files.find((d) => d.string(Tag.Modality) === 'SR');
  if (sr !== undefined) {
    const ref = items.find(
      (i) =>
        i.items(Tag.ReferencedSOPSequence)[0]?.string(Tag.ReferencedSOPInstanceUID) === sr.string(Tag.SOPInstanceUID),
    );
    assert.equal(
      ref?.string(Tag.ValueType),
      'COMPOSITE',
      'the report is referenced as a composite object, not an image',
    );
  }
});
