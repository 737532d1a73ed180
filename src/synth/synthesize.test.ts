import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { test } from 'node:test';
import { requireTool } from '../../test/support/tools.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { type Dataset, isValidUid, readPart10, SopClass, Tag } from '../dicom/index.ts';
import { BSN_ISSUER_OID, isValidBsn } from '../patient/index.ts';
import { synthesize, writeCtStudy } from './index.ts';

function load(file: string): Dataset {
  return readPart10(readFileSync(file)).dataset;
}

test('synthesize: patients with valid BSNs, studies with images and a report in the same study; dcmdump accepts every file', async (t) => {
  const dir = tempDir(t);
  const result = await synthesize({ outDir: dir, patients: 4, seed: 11, ctSlices: [6, 8], mrSlices: [4, 5] });
  assert.equal(result.patients.length, 4);
  const allFiles = result.patients.flatMap((p) => p.studies.flatMap((s) => s.files));
  assert.equal(result.files, allFiles.length);
  const modalities = new Set<string>();
  const reportKinds = new Set<string>();
  for (const p of result.patients) {
    assert.ok(isValidBsn(p.bsn), p.bsn);
    assert.equal(p.patientId, p.bsn);
    assert.match(p.name, /^[^^]+\^[^^]+$/);
    assert.match(p.birthDate, /^(19|20)\d{6}$/);
    assert.ok(p.studies.length >= 1 && p.studies.length <= 3);
    for (const s of p.studies) {
      modalities.add(s.modality);
      reportKinds.add(s.reportKind);
      assert.ok(s.studyDate > p.birthDate, 'studies after birth');
      assert.ok(isValidUid(s.studyInstanceUid));
      assert.equal(s.instances, s.files.length);
      const series = new Set<string>();
      let reports = 0;
      for (const file of s.files) {
        assert.ok(!relative(dir, file).startsWith('..'), 'files stay under outDir');
        assert.match(relative(dir, file), /^patient-\d{3}\/study-\d{2}\/series-\d{2}\/\d{5}\.dcm$/);
        const ds = load(file);
        assert.equal(ds.string(Tag.PatientID), p.bsn);
        assert.equal(ds.string(Tag.IssuerOfPatientID), BSN_ISSUER_OID);
        assert.equal(ds.string(Tag.PatientName), p.name);
        assert.equal(ds.string(Tag.StudyInstanceUID), s.studyInstanceUid);
        assert.equal(ds.string(Tag.AccessionNumber), s.accessionNumber);
        assert.equal(ds.string(Tag.StudyDate), s.studyDate);
        series.add(ds.string(Tag.SeriesInstanceUID) ?? '');
        const sop = ds.string(Tag.SOPClassUID);
        if (sop === SopClass.BasicTextSRStorage || sop === SopClass.EncapsulatedPDFStorage) reports++;
        else assert.equal(ds.string(Tag.Modality), s.modality);
      }
      assert.equal(reports, 1, 'exactly one report per study');
      assert.equal(series.size, s.series);
    }
  }
  assert.ok(modalities.size >= 2, `several modalities: ${[...modalities].join(',')}`);

  const dcmdump = requireTool(t, 'dcmdump');
  if (dcmdump === undefined) return;
  for (let i = 0; i < allFiles.length; i += 50) {
    const r: SpawnSyncReturns<string> = spawnSync(dcmdump, ['+E', ...allFiles.slice(i, i + 50)], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'dcmdump reports no errors or warnings');
    assert.doesNotMatch(r.stdout, /^[EW]: /m);
  }
});

test('the same seed gives identical files; another seed gives other patients', async (t) => {
  const a = await synthesize({ outDir: tempDir(t), patients: 2, seed: 5, ctSlices: [3, 4], mrSlices: [2, 3] });
  const b = await synthesize({ outDir: tempDir(t), patients: 2, seed: 5, ctSlices: [3, 4], mrSlices: [2, 3] });
  const c = await synthesize({ outDir: tempDir(t), patients: 2, seed: 6, ctSlices: [3, 4], mrSlices: [2, 3] });
  assert.deepEqual(
    a.patients.map((p) => [p.bsn, p.name, p.studies.map((s) => s.studyInstanceUid)]),
    b.patients.map((p) => [p.bsn, p.name, p.studies.map((s) => s.studyInstanceUid)]),
  );
  const fa = a.patients.flatMap((p) => p.studies.flatMap((s) => s.files));
  const fb = b.patients.flatMap((p) => p.studies.flatMap((s) => s.files));
  assert.equal(fa.length, fb.length);
  fa.forEach((f, i) => assert.ok(readFileSync(f).equals(readFileSync(fb[i] ?? '')), `byte-identical ${i}`));
  assert.notDeepEqual(
    a.patients.map((p) => p.bsn),
    c.patients.map((p) => p.bsn),
  );
});

test('reports: Basic Text SR content tree and a valid embedded PDF', async (t) => {
  const result = await synthesize({
    outDir: tempDir(t),
    patients: 8,
    seed: 2,
    modalities: ['CR'],
    studiesPerPatient: [1, 1],
  });
  const studies = result.patients.flatMap((p) => p.studies);
  const sr = studies.find((s) => s.reportKind === 'sr');
  const pdf = studies.find((s) => s.reportKind === 'pdf');
  assert.ok(sr !== undefined && pdf !== undefined, 'both report kinds occur');

  const srDs = load(sr.files.at(-1) ?? '');
  assert.equal(srDs.string(Tag.SOPClassUID), SopClass.BasicTextSRStorage);
  assert.equal(srDs.string(Tag.Modality), 'SR');
  assert.equal(srDs.string(Tag.ValueType), 'CONTAINER');
  assert.equal(srDs.string(Tag.CompletionFlag), 'COMPLETE');
  assert.equal(srDs.string(Tag.VerificationFlag), 'VERIFIED');
  assert.equal(srDs.items(Tag.ConceptNameCodeSequence)[0]?.string(Tag.CodeValue), '18748-4');
  const headings = srDs.items(Tag.ContentSequence);
  assert.deepEqual(
    headings.map((h) => h.items(Tag.ConceptNameCodeSequence)[0]?.string(Tag.CodeMeaning)),
    ['Findings', 'Conclusions'],
  );
  for (const h of headings) {
    assert.equal(h.string(Tag.ValueType), 'CONTAINER');
    assert.equal(h.string(Tag.RelationshipType), 'CONTAINS');
    const text = h.items(Tag.ContentSequence)[0];
    assert.equal(text?.string(Tag.ValueType), 'TEXT');
    assert.ok((text?.string(Tag.TextValue) ?? '').length > 5);
  }
  const evidence = srDs.items(Tag.CurrentRequestedProcedureEvidenceSequence)[0];
  assert.equal(evidence?.string(Tag.StudyInstanceUID), sr.studyInstanceUid);
  assert.equal(evidence?.items(Tag.ReferencedSeriesSequence).length, sr.series - 1);

  const pdfDs = load(pdf.files.at(-1) ?? '');
  assert.equal(pdfDs.string(Tag.SOPClassUID), SopClass.EncapsulatedPDFStorage);
  assert.equal(pdfDs.string(Tag.MIMETypeOfEncapsulatedDocument), 'application/pdf');
  const length = pdfDs.number(Tag.EncapsulatedDocumentLength) ?? 0;
  const doc = (pdfDs.get(Tag.EncapsulatedDocument)?.bytes ?? Buffer.alloc(0)).subarray(0, length);
  const text = doc.toString('latin1');
  assert.ok(text.startsWith('%PDF-1.4\n'));
  assert.ok(text.endsWith('%%EOF\n'));
  // Every xref entry points at its object, and startxref at the table.
  const startxref = Number(/startxref\n(\d+)\n/.exec(text)?.[1]);
  assert.ok(text.startsWith('xref', startxref));
  const entries = [...text.slice(startxref).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
  assert.equal(entries.length, 6);
  entries.forEach((offset, i) => assert.ok(text.startsWith(`${i + 1} 0 obj`, offset), `object ${i + 1}`));
  assert.match(text, /Bevindingen/);
});

test('CT: consistent geometry and plausible Hounsfield units', async (t) => {
  const dir = tempDir(t);
  const ct = await writeCtStudy({ outDir: dir, instances: 12, seed: 4 });
  assert.equal(ct.files.length, 12);
  let previousZ = Number.POSITIVE_INFINITY;
  let spacing: number | undefined;
  const seriesUids = new Set<string>();
  for (const [i, file] of ct.files.entries()) {
    const ds = load(file);
    seriesUids.add(ds.string(Tag.SeriesInstanceUID) ?? '');
    assert.equal(ds.number(Tag.InstanceNumber), i + 1);
    const ipp = ds.numbers(Tag.ImagePositionPatient);
    assert.equal(ipp.length, 3);
    const z = ipp[2] ?? Number.NaN;
    assert.equal(ds.number(Tag.SliceLocation), z);
    if (i > 0) {
      const step = previousZ - z;
      if (spacing !== undefined) assert.ok(Math.abs(step - spacing) < 0.01, 'evenly spaced');
      spacing = step;
    }
    previousZ = z;
    assert.equal(ds.number(Tag.Rows), 512);
    assert.equal(ds.number(Tag.Columns), 512);
    assert.equal(ds.number(Tag.RescaleIntercept), -1024);
    assert.equal(ds.number(Tag.RescaleSlope), 1);
    assert.equal(ds.number(Tag.PixelRepresentation), 1);
    assert.equal(ds.get(Tag.PixelData)?.bytes?.length, 512 * 512 * 2);
  }
  assert.equal(seriesUids.size, 1);
  assert.ok(
    spacing !== undefined && Math.abs(spacing - Number(load(ct.files[0] ?? '').string(Tag.SliceThickness))) < 0.01,
  );

  const mid = load(ct.files[6] ?? '');
  const px = mid.get(Tag.PixelData)?.bytes ?? Buffer.alloc(0);
  const hu = (row: number, col: number): number => px.readInt16LE((row * 512 + col) * 2) - 1024;
  assert.ok(Math.abs(hu(5, 5) + 1000) <= 10, `air in the corner: ${hu(5, 5)}`);
  assert.ok(Math.abs(hu(256 + 120, 256) - 850) <= 10, `spinous process is bone: ${hu(256 + 120, 256)}`);
  assert.ok(Math.abs(hu(164, 256) - 45) <= 10, `mediastinal soft tissue: ${hu(164, 256)}`);
  const counts = { air: 0, lung: 0, fat: 0, soft: 0, bone: 0 };
  for (let i = 0; i < px.length; i += 2) {
    const v = px.readInt16LE(i) - 1024;
    if (v < -950) counts.air++;
    else if (v < -500) counts.lung++;
    else if (v < -50) counts.fat++;
    else if (v < 150) counts.soft++;
    else if (v > 600) counts.bone++;
  }
  for (const [k, n] of Object.entries(counts)) assert.ok(n > 500, `${k}: ${n} pixels`);
  // Noise of a few HU: neighbouring soft-tissue pixels differ, but not by much.
  const noise = Array.from({ length: 20 }, (_, i) => hu(164, 246 + i) - 45);
  assert.ok(noise.some((v) => v !== 0) && noise.every((v) => Math.abs(v) <= 10), `noise ${noise.join(' ')}`);
});

test('writeCtStudy speed (measured): about 525 KB per slice', async (t) => {
  const started = performance.now();
  const ct = await writeCtStudy({ outDir: tempDir(t), instances: 60, seed: 1 });
  const ms = performance.now() - started;
  const perSlice = ct.bytes / 60;
  console.log(
    `writeCtStudy: 60 slices, ${(ct.bytes / 1e6).toFixed(1)} MB in ${ms.toFixed(0)} ms (${(ms / 60).toFixed(1)} ms/slice, 500 slices ~ ${(((ms / 60) * 500) / 1000).toFixed(1)} s)`,
  );
  assert.ok(perSlice > 520_000 && perSlice < 540_000, `${perSlice} bytes per slice`);
  // The time is printed, not asserted: on a shared or loaded machine it says nothing about the code.
});
