// Names in the character sets of PS3.5 Annex H (Japanese, ISO 2022 IR 87 with code extensions), Annex I (Korean, ISO
// 2022 IR 149) and Annex J (Chinese, GB18030), the standard's own examples: DCMTK reads each file as the node does
// (dcmconv +U8) or glibc's iconv does, the node indexes them, and DCMTK's findscu finds each patient by a wildcard
// on the non-Latin part of the name, answered in UTF-8 and declared so; a query that declares one of these sets is
// answered in it, the names written byte for byte as the standard's examples write them.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodePart10, readPart10, Tag } from '../../src/dicom/index.ts';
import { writeCtStudy } from '../../src/synth/index.ts';
import { run } from '../dimse/helpers.ts';
import { startTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import { findscuAnswers } from '../support/dcmtk.ts';

const hex = (s: string): Buffer => Buffer.from(s.replaceAll('ESC', '1b').replace(/[^0-9a-f]/gi, ''), 'hex');
const text = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

/** The standard's examples, encoded by glibc's iconv (ISO-2022-JP, EUC-KR, GB18030) with DICOM's escape sequences. */
interface Example {
  set: string[];
  bytes: Buffer;
  name: string;
  search: string;
  independent: 'dcmconv' | { iconv: string; strip: boolean };
}

const NAMES: Example[] = [
  {
    set: ['', 'ISO 2022 IR 87'],
    bytes: hex(
      `${text('Yamada^Tarou=')} ESC2442 3b33 4544 ESC2842 5e ESC2442 4240 4f3a ESC2842 3d` +
        ` ESC2442 2464 245e 2440 ESC2842 5e ESC2442 243f 246d 2426 ESC2842`,
    ),
    name: 'Yamada^Tarou=山田^太郎=やまだ^たろう',
    search: '山田*',
    // DICOM's escape sequences here are ISO-2022-JP's own: iconv reads the value as it is.
    independent: { iconv: 'ISO-2022-JP', strip: false },
  },
  {
    set: ['', 'ISO 2022 IR 149'],
    bytes: hex(
      `${text('Hong^Gildong=')} ESC242943 fbf3 5e ESC242943 d1ce d4d7 3d ESC242943 c8ab 5e ESC242943 b1e6 b5bf`,
    ),
    name: 'Hong^Gildong=洪^吉洞=홍^길동',
    search: '홍*',
    // ISO-2022-KR shifts with SO and SI instead: without its ESC $ ) C designations the value is EUC-KR.
    independent: { iconv: 'EUC-KR', strip: true },
  },
  {
    set: ['GB18030'],
    bytes: hex(`${text('Wang^XiaoDong=')} cdf5 5e d0a1 b6ab 3d`),
    name: 'Wang^XiaoDong=王^小东=',
    search: '王^*',
    independent: 'dcmconv',
  },
];

test('Japanese, Korean and Chinese names: read as DCMTK reads them, found by findscu with a non-Latin wildcard', async (t) => {
  if (['dcmconv', 'iconv', 'storescu', 'findscu'].map((p) => requireTool(t, p)).includes(undefined)) return;
  const work = tempDir(t);
  const n = await startTestNode(t, { peers: [{ aeTitle: 'VIEWER', host: '127.0.0.1', description: 'test viewer' }] });
  const peer = ['-aet', 'VIEWER', '-aec', n.aeTitle, '127.0.0.1', String(n.port)];
  const files: string[] = [];
  for (const [i, x] of NAMES.entries()) {
    const ct = await writeCtStudy({ outDir: join(work, `ct${i}`), instances: 1, seed: 20 + i });
    const p = readPart10(readFileSync(ct.files[0]!));
    p.dataset.set(Tag.SpecificCharacterSet, 'CS', x.set);
    p.dataset.set(Tag.PatientID, 'LO', `CHARSET-${i}`);
    p.dataset.setElement({
      tag: Tag.PatientName,
      vr: 'PN',
      bytes: x.bytes.length % 2 === 0 ? x.bytes : Buffer.concat([x.bytes, Buffer.from(' ')]),
    });
    const file = join(work, `name${i}.dcm`);
    writeFileSync(file, Buffer.concat(encodePart10(p.dataset, p.transferSyntaxUid)));
    files.push(file);
    assert.equal(p.dataset.string(Tag.PatientName), x.name, `${x.set.join('\\')}: the node's reading`);
    // A decoder nobody here wrote reads the same name: DCMTK (dcmconv +U8, on glibc's iconv), which does not take
    // the ISO 2022 sets; for those, glibc's iconv on the value itself.
    const indep = x.independent;
    let theirs: string | undefined;
    if (indep === 'dcmconv') {
      const utf8 = join(work, `name${i}-utf8.dcm`);
      const conv = await run('dcmconv', ['+U8', file, utf8]);
      assert.equal(conv.code, 0, conv.stderr);
      theirs = readPart10(readFileSync(utf8)).dataset.string(Tag.PatientName);
    } else {
      const value = join(work, `name${i}.bin`);
      writeFileSync(
        value,
        indep.strip ? Buffer.from(x.bytes.toString('latin1').replaceAll('\x1b$)C', ''), 'latin1') : x.bytes,
      );
      const conv = await run('iconv', ['-f', indep.iconv, '-t', 'UTF-8', value]);
      assert.equal(conv.code, 0, conv.stderr);
      theirs = conv.stdout;
    }
    assert.equal(theirs, x.name, `${x.set.join('\\')}: the independent reading`);
  }
  const stored = await run('storescu', [...peer, ...files]);
  assert.equal(stored.code, 0, stored.stderr);

  const find = (keys: string[]) => findscuAnswers(t, peer, ['QueryRetrieveLevel=STUDY', ...keys]);
  for (const [i, x] of NAMES.entries()) {
    const answers = await find(['SpecificCharacterSet=ISO_IR 192', `PatientName=${x.search}`, 'PatientID']);
    assert.deepEqual(
      answers.map((a) => [a.string(Tag.PatientID), a.string(Tag.PatientName), a.string(Tag.SpecificCharacterSet)]),
      [[`CHARSET-${i}`, x.name, 'ISO_IR 192']],
      `findscu ${x.search}`,
    );
  }

  // A query that declares its own character set is answered in it where the names fit, as the standard's examples
  // write them, byte for byte; where a name does not fit (Japanese asked in ISO_IR 100), in UTF-8, declared so.
  const ask = (i: number, set: string) =>
    find([`SpecificCharacterSet=${set}`, `PatientID=CHARSET-${i}`, 'PatientName']);
  for (const [i, x] of NAMES.entries()) {
    const [answer] = await ask(i, x.set.join('\\'));
    assert.deepEqual(answer?.strings(Tag.SpecificCharacterSet), x.set);
    const raw = answer?.get(Tag.PatientName)?.bytes ?? Buffer.alloc(0);
    assert.equal(
      raw.toString('hex'),
      padded(x.bytes).toString('hex'),
      `${x.set.join('\\')}: as the standard writes it`,
    );
  }
  const [fallback] = await ask(0, 'ISO_IR 100');
  assert.equal(fallback?.string(Tag.SpecificCharacterSet), 'ISO_IR 192');
  assert.equal(fallback?.string(Tag.PatientName), NAMES[0]?.name);
});

const padded = (b: Buffer): Buffer => (b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from(' ')]));
