import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { requireTool } from '../../test/support/tools.ts';
import { tempDir } from '../../test/support/tmp.ts';
import {
  Dataset,
  DicomError,
  encodeFileMeta,
  IMPLEMENTATION_CLASS_UID,
  readFileMeta,
  readPart10,
  readPart10Header,
  SopClass,
  Tag,
  TransferSyntax,
  writePart10,
} from './index.ts';

function instance(): Dataset {
  return new Dataset()
    .set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 192')
    .set(Tag.SOPClassUID, 'UI', SopClass.CTImageStorage)
    .set(Tag.SOPInstanceUID, 'UI', '2.25.99887766554433221100')
    .set(Tag.StudyDate, 'DA', '20250102')
    .set(Tag.Modality, 'CS', 'CT')
    .set(Tag.PatientName, 'PN', 'Öztürk^Ayşe')
    .set(Tag.PatientID, 'LO', '999999990')
    .set(Tag.OtherPatientIDsSequence, 'SQ', [
      new Dataset().set(Tag.PatientID, 'LO', 'Z77').set(Tag.IssuerOfPatientID, 'LO', 'ZH'),
    ])
    .set(0x00190010, 'LO', 'BEELDBRUG')
    .set(0x00191001, 'LO', 'privaat')
    .set(Tag.StudyInstanceUID, 'UI', '2.25.1')
    .set(Tag.SeriesInstanceUID, 'UI', '2.25.2')
    .set(Tag.InstanceNumber, 'IS', 3)
    .set(Tag.ImagePositionPatient, 'DS', [-100, -100, 12.5])
    .set(Tag.SamplesPerPixel, 'US', 1)
    .set(Tag.PhotometricInterpretation, 'CS', 'MONOCHROME2')
    .set(Tag.Rows, 'US', 4)
    .set(Tag.Columns, 'US', 4)
    .set(Tag.BitsAllocated, 'US', 16)
    .set(Tag.BitsStored, 'US', 12)
    .set(Tag.HighBit, 'US', 11)
    .set(Tag.PixelRepresentation, 'US', 1)
    .set(Tag.RescaleIntercept, 'DS', -1024)
    .set(Tag.RescaleSlope, 'DS', 1)
    .set(
      Tag.PixelData,
      'OW',
      Buffer.from(new Int16Array([0, 1, -2, 300, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, -1000]).buffer),
    );
}

function run(tool: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** dcmdump must read the file completely, without errors or warnings. */
function dumpClean(t: TestContext, file: string): string | undefined {
  const dcmdump = requireTool(t, 'dcmdump');
  if (dcmdump === undefined) return undefined;
  const r = run(dcmdump, ['+E', '+L', file]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', `dcmdump complained about ${file}`);
  assert.doesNotMatch(r.stdout, /^[EW]: /m);
  return r.stdout;
}

function assertSameValues(ds: Dataset): void {
  assert.equal(ds.string(Tag.PatientName), 'Öztürk^Ayşe');
  assert.equal(ds.string(Tag.PatientID), '999999990');
  assert.equal(ds.items(Tag.OtherPatientIDsSequence)[0]?.string(Tag.IssuerOfPatientID), 'ZH');
  // Implicit VR cannot tell a private element's VR, so it comes back as UN bytes: compare those.
  assert.equal(ds.get(0x00191001)?.bytes?.toString('latin1').trimEnd(), 'privaat');
  assert.equal(ds.string(0x00190010), 'BEELDBRUG', 'private creators are LO by rule');
  assert.deepEqual(ds.numbers(Tag.ImagePositionPatient), [-100, -100, 12.5]);
  assert.equal(ds.number(Tag.Rows), 4);
  assert.equal(ds.number(Tag.BitsStored), 12);
  assert.equal(ds.number(Tag.RescaleIntercept), -1024);
}

const WRITERS = [
  ['explicit little endian', TransferSyntax.ExplicitVRLittleEndian, 'Little Endian Explicit'],
  ['implicit little endian', TransferSyntax.ImplicitVRLittleEndian, 'Little Endian Implicit'],
  ['deflated', TransferSyntax.DeflatedExplicitVRLittleEndian, 'Deflated Explicit VR Little Endian'],
  ['big endian', TransferSyntax.ExplicitVRBigEndian, 'Big Endian Explicit'],
] as const;

for (const [name, ts, dcmtkName] of WRITERS) {
  test(`our ${name} Part 10 file is read cleanly by dcmdump and by us`, async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'a.dcm');
    await writePart10(file, instance(), ts);
    const dump = dumpClean(t, file);
    if (dump !== undefined) {
      assert.match(dump, new RegExp(`# Used TransferSyntax: ${dcmtkName}`));
      assert.match(dump, /\(0010,0010\) PN \[Öztürk\^Ayşe\]/);
      assert.match(dump, /\(0019,1001\) (LO|\?\?|UN) /);
      assert.match(dump, /\(0002,0012\) UI \[2\.25\.\d+\]/);
    }
    const part10 = readPart10(readFileSync(file));
    assert.equal(part10.transferSyntaxUid, ts);
    assert.equal(part10.meta.string(Tag.ImplementationClassUID), IMPLEMENTATION_CLASS_UID);
    assertSameValues(part10.dataset);
    assert.deepEqual(part10.dataset.get(Tag.PixelData)?.bytes, instance().get(Tag.PixelData)?.bytes);
    const header = await readPart10Header(file);
    assertSameValues(header.dataset);
    assert.ok(!header.dataset.has(Tag.PixelData));
    assert.equal(header.datasetOffset, part10.datasetOffset);
  });
}

for (const [option, ts] of [
  ['+tb', TransferSyntax.ExplicitVRBigEndian],
  ['+ti', TransferSyntax.ImplicitVRLittleEndian],
  ['+td', TransferSyntax.DeflatedExplicitVRLittleEndian],
  ['+te', TransferSyntax.ExplicitVRLittleEndian],
] as const) {
  test(`dcmconv ${option} output reads back with the same values`, async (t) => {
    const dcmconv = requireTool(t, 'dcmconv');
    if (dcmconv === undefined) return;
    const dir = tempDir(t);
    const source = join(dir, 'src.dcm');
    const converted = join(dir, 'conv.dcm');
    await writePart10(source, instance(), TransferSyntax.ExplicitVRLittleEndian);
    const r = run(dcmconv, [option, source, converted]);
    assert.equal(r.status, 0, r.stderr);
    const part10 = readPart10(readFileSync(converted));
    assert.equal(part10.transferSyntaxUid, ts);
    assertSameValues(part10.dataset);
    assert.deepEqual(
      part10.dataset.get(Tag.PixelData)?.bytes,
      instance().get(Tag.PixelData)?.bytes,
      'pixel values survive (swapped back)',
    );
    assertSameValues((await readPart10Header(converted)).dataset);
  });
}

test('a dump2dcm file with encapsulated pixel data, a defined-length sequence and a private tag', async (t) => {
  const dump2dcm = requireTool(t, 'dump2dcm');
  if (dump2dcm === undefined) return;
  const dir = tempDir(t);
  writeFileSync(
    join(dir, 'in.dump'),
    [
      '(0002,0010) UI =JPEGBaseline',
      '(0008,0016) UI =SecondaryCaptureImageStorage',
      '(0008,0018) UI [1.2.3.4.5]',
      '(0009,0010) LO [ACME]',
      '(0009,1001) LO [privaat]',
      '(0010,0010) PN [Test^Dump]',
      '(0010,1002) SQ (Sequence with explicit length #=1)',
      '  (fffe,e000) na (Item with explicit length #=1)',
      '    (0010,0020) LO [X9]',
      '  (fffe,e00d) na (ItemDelimitationItem for re-encoding)',
      '(fffe,e0dd) na (SequenceDelimitationItem for re-encod.)',
      '(0028,0010) US 1',
      '(7fe0,0010) OB (PixelSequence #=2)',
      '  (fffe,e000) pi (no value available)',
      '  (fffe,e000) pi ff\\d8\\ff\\d9',
      '(fffe,e0dd) na (SequenceDelimitationItem)',
      '',
    ].join('\n'),
  );
  const file = join(dir, 'enc.dcm');
  const r = run(dump2dcm, ['--write-xfer-same', join(dir, 'in.dump'), file]);
  assert.equal(r.status, 0, r.stderr);
  const part10 = readPart10(readFileSync(file));
  assert.equal(part10.transferSyntaxUid, TransferSyntax.JPEGBaseline8Bit);
  assert.equal(part10.dataset.string(0x00091001), 'privaat');
  assert.equal(part10.dataset.items(Tag.OtherPatientIDsSequence)[0]?.string(Tag.PatientID), 'X9');
  assert.deepEqual(part10.dataset.get(Tag.PixelData)?.fragments, [
    Buffer.alloc(0),
    Buffer.from([0xff, 0xd8, 0xff, 0xd9]),
  ]);
  // And our writer reproduces it in a form dcmdump accepts.
  const again = join(dir, 'again.dcm');
  await writePart10(again, part10.dataset, part10.transferSyntaxUid);
  const dump = dumpClean(t, again);
  if (dump !== undefined) assert.match(dump, /\(fffe,e000\) pi ff\\d8\\ff\\d9/);
  const header = await readPart10Header(again);
  assert.equal(header.dataset.number(Tag.Rows), 1);
  assert.ok(!header.dataset.has(Tag.PixelData));
});

test('file meta: preamble, DICM, group length, version and our implementation class', () => {
  const meta = encodeFileMeta({
    sopClassUid: SopClass.CTImageStorage,
    sopInstanceUid: '1.2.3',
    transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
    sourceApplicationEntityTitle: 'BB_A',
  });
  assert.deepEqual(meta.subarray(0, 128), Buffer.alloc(128));
  assert.equal(meta.toString('latin1', 128, 132), 'DICM');
  assert.equal(meta.readUInt32LE(140), meta.length - 144, 'group length counts the bytes after it');
  const part10 = readPart10(meta);
  assert.deepEqual(part10.meta.get(Tag.FileMetaInformationVersion)?.bytes, Buffer.from([0, 1]));
  assert.equal(part10.meta.string(Tag.MediaStorageSOPInstanceUID), '1.2.3');
  assert.equal(part10.meta.string(Tag.SourceApplicationEntityTitle), 'BB_A');
  assert.equal(part10.meta.string(Tag.ImplementationVersionName), 'BEELDBRUG_0_1');
  assert.equal(part10.datasetOffset, meta.length);
  assert.equal(part10.dataset.size, 0);
});

test('broken Part 10 files give typed errors', async (t) => {
  const good = Buffer.concat([
    encodeFileMeta({
      sopClassUid: '1.2',
      sopInstanceUid: '1.2.3',
      transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
    }),
    Buffer.from([0x10, 0x00, 0x20, 0x00, 0x4c, 0x4f, 0x02, 0x00, 0x41, 0x42]),
  ]);
  const noDicm = Buffer.from(good);
  noDicm.write('DICX', 128, 'latin1');
  const longMeta = Buffer.from(good);
  longMeta.writeUInt32LE(10_000, 140);
  const unknownTs = Buffer.concat([
    encodeFileMeta({ sopClassUid: '1.2', sopInstanceUid: '1.2.3', transferSyntaxUid: '1.2.3.4' }),
  ]);
  const cases: [string, Buffer, string][] = [
    ['too short', Buffer.alloc(10), 'NOT_PART10'],
    ['no DICM', noDicm, 'NOT_PART10'],
    ['meta longer than the file', longMeta, 'BAD_META'],
    ['cut inside the meta', good.subarray(0, 150), 'BAD_META'],
    ['unknown transfer syntax', unknownTs, 'UNSUPPORTED_TRANSFER_SYNTAX'],
    ['data set cut short', good.subarray(0, good.length - 1), 'LENGTH_EXCEEDS_DATA'],
  ];
  const dir = tempDir(t);
  for (const [name, bytes, code] of cases) {
    assert.throws(
      () => readPart10(bytes),
      (e) => e instanceof DicomError && e.code === code,
      name,
    );
    const file = join(dir, `${code}.dcm`);
    writeFileSync(file, bytes);
    await assert.rejects(
      readPart10Header(file),
      (e) => e instanceof DicomError && e.code === code,
      `${name} (streamed)`,
    );
  }
  const offset = (() => {
    try {
      readPart10(good.subarray(0, good.length - 1));
    } catch (e) {
      return e instanceof DicomError ? e.offset : undefined;
    }
    return undefined;
  })();
  assert.equal(offset, good.length - 10, 'offsets count from the start of the file');
  assert.equal(readPart10(good).dataset.string(Tag.PatientID), 'AB');
});

/** Our file meta without its (0002,0000) group length element: the 12 bytes after 'DICM'. */
function metaWithoutGroupLength(sopInstanceUid = '1.2.3'): Buffer {
  const meta = encodeFileMeta({
    sopClassUid: SopClass.CTImageStorage,
    sopInstanceUid,
    transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
  });
  return Buffer.concat([meta.subarray(0, 132), meta.subarray(144)]);
}

/** An explicit VR little endian group 0002 element with a 2-byte length. */
function metaElement(element: number, vr: string, value: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(0x0002, 0);
  h.writeUInt16LE(element, 2);
  h.write(vr, 4, 'latin1');
  h.writeUInt16LE(value.length, 6);
  return Buffer.concat([h, value]);
}

test('a file meta without its group length (0002,0000) is accepted, as most readers do, whole, streamed and byte by byte', async (t) => {
  const dataset = Buffer.from([0x10, 0x00, 0x20, 0x00, 0x4c, 0x4f, 0x02, 0x00, 0x41, 0x42]);
  const meta = metaWithoutGroupLength();
  const file = Buffer.concat([meta, dataset]);
  const whole = readPart10(file);
  assert.equal(whole.meta.has(0x00020000), false);
  assert.equal(whole.meta.string(Tag.MediaStorageSOPInstanceUID), '1.2.3');
  assert.equal(whole.transferSyntaxUid, TransferSyntax.ExplicitVRLittleEndian);
  assert.equal(whole.datasetOffset, meta.length);
  assert.equal(whole.dataset.string(Tag.PatientID), 'AB');

  const path = join(tempDir(t), 'no-group-length.dcm');
  writeFileSync(path, file);
  assert.equal((await readPart10Header(path)).dataset.string(Tag.PatientID), 'AB');

  // Arriving a byte at a time, the meta is either not yet complete or found at the right place; it never fails.
  let found: number | undefined;
  for (let n = 0; n <= file.length && found === undefined; n++)
    found = readFileMeta(file.subarray(0, n), n === file.length)?.datasetOffset;
  assert.equal(found, meta.length);
});

test('file meta corpus: without a group length, too long or malformed, each is BAD_META, whole and streamed', async (t) => {
  const base = metaWithoutGroupLength();
  const endless = Buffer.concat([
    base,
    ...Array.from({ length: 3000 }, () => metaElement(0x0016, 'AE', Buffer.from('ENDLESS_AE_TITLE'))),
  ]);
  const absurd = Buffer.concat([base, Buffer.from('02000200' + '4f420000' + 'f0ffffff', 'hex'), Buffer.alloc(64)]);
  const odd = Buffer.concat([base, metaElement(0x0016, 'AE', Buffer.from('ODD'))]);
  const withLength = encodeFileMeta({
    sopClassUid: '1.2',
    sopInstanceUid: '1.2.3',
    transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
  });
  const hugeGroupLength = Buffer.from(withLength);
  hugeGroupLength.writeUInt32LE(0xfffffff0, 140);
  // [name, bytes, refused by an incremental reader before the stream ends: a limit is passed, more bytes cannot help]
  const cases: [string, Buffer, boolean][] = [
    ['group 0002 running on past 64 KiB without a group length', endless, true],
    ['an absurd element length without a group length', absurd, true],
    ['a group length of 4 GiB', hugeGroupLength, true],
    ['an odd value length in the meta', odd, false],
  ];
  const dir = tempDir(t);
  for (const [name, bytes, early] of cases) {
    assert.throws(
      () => readPart10(bytes),
      (e) => e instanceof DicomError && e.code === 'BAD_META',
      name,
    );
    assert.throws(
      () => readFileMeta(bytes, !early),
      (e) => e instanceof DicomError && e.code === 'BAD_META',
      `${name} (incremental)`,
    );
    const file = join(dir, 'meta.dcm');
    writeFileSync(file, bytes);
    await assert.rejects(
      readPart10Header(file),
      (e) => e instanceof DicomError && e.code === 'BAD_META',
      `${name} (streamed)`,
    );
  }
});

test('a Part 10 file with sequences nested 10,000 deep is refused as TOO_DEEP, whole and streamed', async (t) => {
  const open = Buffer.from('4000' + '30a7' + '5351' + '0000' + 'ffffffff' + 'feff00e0' + 'ffffffff', 'hex');
  const close = Buffer.from('feff0de0' + '00000000' + 'feffdde0' + '00000000', 'hex');
  const file = Buffer.concat([
    encodeFileMeta({
      sopClassUid: SopClass.CTImageStorage,
      sopInstanceUid: '1.2.3',
      transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
    }),
    ...Array<Buffer>(10_000).fill(open),
    ...Array<Buffer>(10_000).fill(close),
  ]);
  assert.throws(
    () => readPart10(file),
    (e) => e instanceof DicomError && e.code === 'TOO_DEEP',
  );
  const path = join(tempDir(t), 'deep.dcm');
  writeFileSync(path, file);
  await assert.rejects(readPart10Header(path), (e) => e instanceof DicomError && e.code === 'TOO_DEEP');
});
