// The reports of a share as PDF: an encapsulated PDF comes out as it was stored, a structured report is rendered; both
// read back with poppler's pdftotext, as a recipient's PDF reader would.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readPart10, Tag } from '../../src/dicom/index.ts';
import { reportPdf } from '../../src/share/report-pdf.ts';
import { reportLinesOf } from '../../src/studies/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { run } from '../support/processes.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

test('a share report as PDF: an encapsulated PDF as stored, a structured report rendered with its text', async (t) => {
  const pdftotext = requireTool(t, 'pdftotext');
  if (pdftotext === undefined) return;
  const synth = await synthesize({ outDir: join(tempDir(t), 'synth'), patients: 6, seed: 81 });
  const reports = synth.patients
    .flatMap((p) => p.studies)
    .flatMap((s) => s.files.map((f) => readPart10(readFileSync(f)).dataset))
    .filter((ds) => /^1\.2\.840\.10008\.5\.1\.4\.1\.1\.(88|104)\./.test(ds.string(Tag.SOPClassUID) ?? ''));
  const pdf = reports.find((ds) => ds.string(Tag.SOPClassUID) === '1.2.840.10008.5.1.4.1.1.104.1');
  const sr = reports.find((ds) => ds.string(Tag.SOPClassUID)?.startsWith('1.2.840.10008.5.1.4.1.1.88.') === true);
  assert.ok(pdf !== undefined && sr !== undefined, 'the synthetic patients have both kinds of report');
  const dir = tempDir(t);
  const textOf = async (bytes: Buffer, name: string): Promise<string> => {
    writeFileSync(join(dir, name), bytes);
    const r = await run(pdftotext, ['-layout', join(dir, name), '-'], 60_000);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.replace(/\s+/g, ' ');
  };

  const fromPdf = await reportPdf(pdf, 'Ziekenhuis Noord');
  const stored = pdf.get(Tag.EncapsulatedDocument)?.bytes ?? Buffer.alloc(0);
  assert.deepEqual(fromPdf?.pdf, stored.subarray(0, pdf.number(Tag.EncapsulatedDocumentLength)));
  assert.match(fromPdf?.fileName ?? '', /^\d{4}-\d\d-\d\d .+\.pdf$/);
  assert.match(await textOf(fromPdf!.pdf, 'a.pdf'), /Conclusie/);

  const fromSr = await reportPdf(sr, 'Ziekenhuis Noord');
  assert.ok(fromSr !== undefined);
  const text = await textOf(fromSr.pdf, 'b.pdf');
  assert.match(text, /Ziekenhuis Noord/);
  // Every line of the report's content tree is in the PDF, and the patient is named as in the study.
  for (const line of reportLinesOf(sr)) assert.ok(text.includes(line.replace(/\s+/g, ' ')), `the PDF has "${line}"`);
  const [family] = (sr.string(Tag.PatientName) ?? '').split('^');
  assert.ok(text.includes(family ?? '?'), 'the patient is named');
});
