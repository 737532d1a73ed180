import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import { Dataset, DicomError, HeaderReader, parseDataset, Tag, TransferSyntax, writeDataset } from './index.ts';

/** A CT-like header (with a sequence and a private element) plus 512x512 16-bit pixel data. */
function ctInstance(): Dataset {
  const ds = new Dataset()
    .set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 192')
    .set(Tag.ImageType, 'CS', ['ORIGINAL', 'PRIMARY', 'AXIAL'])
    .set(Tag.SOPClassUID, 'UI', '1.2.840.10008.5.1.4.1.1.2')
    .set(Tag.SOPInstanceUID, 'UI', '2.25.1234567890123456789012345678901234')
    .set(Tag.StudyDate, 'DA', '20240301')
    .set(Tag.Modality, 'CS', 'CT')
    .set(Tag.PatientName, 'PN', 'Bakker^Jan')
    .set(Tag.PatientID, 'LO', '999999990')
    .set(Tag.IssuerOfPatientID, 'LO', '2.16.840.1.113883.2.4.6.3')
    .set(Tag.OtherPatientIDsSequence, 'SQ', [
      new Dataset().set(Tag.PatientID, 'LO', 'Z123').set(Tag.IssuerOfPatientID, 'LO', 'ZH'),
    ])
    .set(0x00290010, 'LO', 'BEELDBRUG')
    .set(0x00291001, 'OB', Buffer.alloc(3000, 7))
    .set(Tag.StudyInstanceUID, 'UI', '2.25.1')
    .set(Tag.SeriesInstanceUID, 'UI', '2.25.2')
    .set(Tag.InstanceNumber, 'IS', 7)
    .set(Tag.ImagePositionPatient, 'DS', [-250, -250, -100.5])
    .set(Tag.ImageOrientationPatient, 'DS', [1, 0, 0, 0, 1, 0])
    .set(Tag.SamplesPerPixel, 'US', 1)
    .set(Tag.PhotometricInterpretation, 'CS', 'MONOCHROME2')
    .set(Tag.Rows, 'US', 512)
    .set(Tag.Columns, 'US', 512)
    .set(Tag.PixelSpacing, 'DS', [0.9765625, 0.9765625])
    .set(Tag.BitsAllocated, 'US', 16)
    .set(Tag.BitsStored, 'US', 16)
    .set(Tag.HighBit, 'US', 15)
    .set(Tag.PixelRepresentation, 'US', 1)
    .set(Tag.RescaleIntercept, 'DS', -1024)
    .set(Tag.RescaleSlope, 'DS', 1);
  return ds;
}
function withPixels(ds: Dataset): Dataset {
  return ds.set(Tag.PixelData, 'OW', Buffer.alloc(512 * 512 * 2, 0x11)).set(0xfffcfffc, 'OB', Buffer.alloc(4));
}

function chunks(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

function headerTags(ds: Dataset): number[] {
  return [...ds].map((e) => e.tag).filter((t) => t < Tag.PixelData);
}

for (const ts of [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
  TransferSyntax.DeflatedExplicitVRLittleEndian,
]) {
  for (const size of [1, 7, 1000, 16384, 1 << 20]) {
    test(`${ts} in chunks of ${size}: completes at Pixel Data with the same header`, () => {
      const full = withPixels(ctInstance());
      const bytes = writeDataset(full, ts);
      const reader = new HeaderReader(ts);
      let pushed = 0;
      for (const c of chunks(bytes, size)) {
        pushed += c.length;
        if (reader.push(c)) break;
      }
      const header = reader.end();
      assert.deepEqual(
        [...header].map((e) => e.tag),
        headerTags(full),
      );
      assert.ok(!header.has(Tag.PixelData));
      assert.deepEqual(reader.pixelData, { tag: Tag.PixelData, vr: 'OW' });
      assert.equal(header.string(Tag.PatientName), 'Bakker^Jan');
      assert.equal(header.number(Tag.Rows), 512);
      assert.equal(header.items(Tag.OtherPatientIDsSequence)[0]?.string(Tag.IssuerOfPatientID), 'ZH');
      assert.equal(header.get(0x00291001)?.bytes?.length, 3000);
      if (ts !== TransferSyntax.DeflatedExplicitVRLittleEndian) {
        assert.ok(reader.done);
        assert.ok(pushed < 10_000 + size, `stopped reading after ${pushed} bytes`);
      }
      assert.equal(reader.push(Buffer.alloc(10)), true, 'later pushes are ignored');
    });
  }
}

for (const ts of [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
  TransferSyntax.DeflatedExplicitVRLittleEndian,
]) {
  test(`${ts}, only the elements asked for: the others are stepped over, in any chunking, to the same end`, () => {
    const full = withPixels(ctInstance()).set(Tag.ReferencedImageSequence, 'SQ', [
      new Dataset().set(Tag.ReferencedSOPInstanceUID, 'UI', '2.25.9'),
    ]);
    const bytes = writeDataset(full, ts);
    const keep = new Set([Tag.PatientName, Tag.StudyInstanceUID, Tag.InstanceNumber, Tag.Rows]);
    for (const size of [1, 13, 4096, 1 << 20]) {
      const reader = new HeaderReader(ts, { keep });
      for (const c of chunks(bytes, size)) if (reader.push(c)) break;
      const header = reader.end();
      // Sequences written with undefined length have to be read to find their end; they may stay.
      assert.deepEqual(
        [...header].filter((e) => e.vr !== 'SQ').map((e) => e.tag),
        [Tag.PatientName, Tag.StudyInstanceUID, Tag.InstanceNumber, Tag.Rows],
        `chunks of ${size}`,
      );
      assert.equal(header.string(Tag.PatientName), 'Bakker^Jan');
      assert.equal(header.number(Tag.InstanceNumber), 7);
      assert.equal(header.number(Tag.Rows), 512);
      assert.deepEqual(reader.pixelData, { tag: Tag.PixelData, vr: 'OW' });
      const whole = new HeaderReader(ts);
      whole.push(bytes);
      whole.end();
      assert.equal(reader.headerLength, whole.headerLength, 'the header ends where a full read ends it');
    }
  });
}

test('an element stepped over that declares more bytes than the data holds is still an error at the end', () => {
  const bytes = writeDataset(ctInstance(), TransferSyntax.ExplicitVRLittleEndian);
  const reader = new HeaderReader(TransferSyntax.ExplicitVRLittleEndian, { keep: new Set([Tag.PatientName]) });
  reader.push(bytes.subarray(0, bytes.length - 10));
  assert.throws(
    () => reader.end(),
    (err: unknown) => err instanceof DicomError && err.code === 'LENGTH_EXCEEDS_DATA',
  );
});

test('the header keeps no pixel data alive: its values are not slices of the chunk that held pixel data', () => {
  const bytes = writeDataset(withPixels(ctInstance()), TransferSyntax.ExplicitVRLittleEndian);
  const reader = new HeaderReader(TransferSyntax.ExplicitVRLittleEndian);
  assert.ok(reader.push(bytes));
  const header = reader.end();
  assert.equal(header.string(Tag.PatientID), '999999990');
  for (const el of header)
    assert.ok((el.bytes?.buffer.byteLength ?? 0) < 64 * 1024, `${el.tag.toString(16)} holds a large buffer`);
  for (const item of header.items(Tag.OtherPatientIDsSequence))
    for (const el of item) assert.ok((el.bytes?.buffer.byteLength ?? 0) < 64 * 1024);
});

test('a data set without pixel data completes at end()', () => {
  const ds = ctInstance().set(Tag.Modality, 'CS', 'SR');
  const bytes = writeDataset(ds, TransferSyntax.ExplicitVRLittleEndian);
  const reader = new HeaderReader(TransferSyntax.ExplicitVRLittleEndian);
  for (const c of chunks(bytes, 100)) assert.equal(reader.push(c), false);
  assert.equal(reader.done, false);
  assert.equal(reader.end().string(Tag.Modality), 'SR');
  assert.ok(reader.done);
  assert.equal(reader.pixelData, undefined);
});

test('the pixel data VR is the one written, also when the chunk ends between the tag and the VR', () => {
  const ds = ctInstance().set(Tag.BitsAllocated, 'US', 8).set(Tag.PixelData, 'OB', Buffer.alloc(64, 3));
  const bytes = writeDataset(ds, TransferSyntax.ExplicitVRLittleEndian);
  const at = bytes.length - 64 - 12;
  const reader = new HeaderReader(TransferSyntax.ExplicitVRLittleEndian);
  assert.equal(reader.push(bytes.subarray(0, at + 4)), false, 'the tag alone does not end the header');
  assert.equal(reader.push(bytes.subarray(at + 4)), true);
  assert.deepEqual(reader.pixelData, { tag: Tag.PixelData, vr: 'OB' });
  const implicit = new HeaderReader(TransferSyntax.ImplicitVRLittleEndian);
  implicit.push(writeDataset(ds, TransferSyntax.ImplicitVRLittleEndian));
  implicit.end();
  assert.deepEqual(implicit.pixelData, { tag: Tag.PixelData, vr: 'OW' }, 'Implicit VR: OW, as PS3.5 A.1 says');
});

test('float pixel data and trailing padding also end the header', () => {
  for (const tag of [Tag.FloatPixelData, Tag.DoubleFloatPixelData, 0xfffcfffc]) {
    const ds = new Dataset()
      .set(Tag.Rows, 'US', 1)
      .set(tag, tag === Tag.DoubleFloatPixelData ? 'OD' : tag === Tag.FloatPixelData ? 'OF' : 'OB', Buffer.alloc(64));
    const reader = new HeaderReader(TransferSyntax.ExplicitVRLittleEndian);
    assert.equal(reader.push(writeDataset(ds, TransferSyntax.ExplicitVRLittleEndian)), true);
    assert.deepEqual(
      [...reader.end()].map((e) => e.tag),
      [Tag.Rows],
    );
  }
});

test('data ending inside the header is a DicomError at end()', () => {
  const bytes = writeDataset(ctInstance(), TransferSyntax.ExplicitVRLittleEndian);
  const reader = new HeaderReader(TransferSyntax.ExplicitVRLittleEndian);
  reader.push(bytes.subarray(0, bytes.length - 3));
  assert.throws(
    () => reader.end(),
    (e) => e instanceof DicomError && e.code === 'LENGTH_EXCEEDS_DATA' && typeof e.offset === 'number',
  );
  const cut = new HeaderReader(TransferSyntax.ExplicitVRLittleEndian);
  cut.push(bytes.subarray(0, 5));
  assert.throws(
    () => cut.end(),
    (e) => e instanceof DicomError && e.code === 'TRUNCATED',
  );
});

test('malformed data fails on push with the offset in the stream', () => {
  const good = writeDataset(new Dataset().set(Tag.PatientID, 'LO', 'AB'), TransferSyntax.ExplicitVRLittleEndian);
  const bad = Buffer.from(good);
  bad.write('ZZ', 4, 'latin1');
  const reader = new HeaderReader(TransferSyntax.ExplicitVRLittleEndian);
  reader.push(good);
  assert.throws(
    () => reader.push(bad),
    (e) => e instanceof DicomError && e.code === 'BAD_VR' && e.offset === good.length + 4,
  );
  assert.throws(
    () => reader.end(),
    (e) => e instanceof DicomError && e.code === 'BAD_VR',
  );
});

test('a header larger than maxHeaderBytes is refused', () => {
  const ds = new Dataset().set(0x00291001, 'OB', Buffer.alloc(100_000));
  const bytes = writeDataset(ds, TransferSyntax.ExplicitVRLittleEndian);
  const reader = new HeaderReader(TransferSyntax.ExplicitVRLittleEndian, { maxHeaderBytes: 50_000 });
  assert.throws(
    () => {
      for (const c of chunks(bytes, 4096)) reader.push(c);
    },
    (e) => e instanceof DicomError && e.code === 'HEADER_TOO_LARGE',
  );
});

test('an undefined-length sequence split over many chunks', () => {
  const items = Array.from({ length: 200 }, (_, i) =>
    new Dataset().set(Tag.CodeValue, 'SH', `C${i}`).set(Tag.CodeMeaning, 'LO', 'x'.repeat(500)),
  );
  const ds = new Dataset().set(Tag.ContentSequence, 'SQ', items).set(Tag.PixelData, 'OW', Buffer.alloc(1 << 20));
  const reader = new HeaderReader(TransferSyntax.ExplicitVRLittleEndian);
  let done = false;
  for (const c of chunks(writeDataset(ds, TransferSyntax.ExplicitVRLittleEndian), 512))
    if ((done = reader.push(c))) break;
  assert.ok(done);
  assert.equal(reader.end().items(Tag.ContentSequence)[199]?.string(Tag.CodeValue), 'C199');
});

test('sequences nested 10,000 deep are refused as TOO_DEEP however they arrive, never as a stack overflow', () => {
  const open = Buffer.from('4000' + '30a7' + '5351' + '0000' + 'ffffffff' + 'feff00e0' + 'ffffffff', 'hex');
  const close = Buffer.from('feff0de0' + '00000000' + 'feffdde0' + '00000000', 'hex');
  const deep = Buffer.concat([
    ...Array<Buffer>(10_000).fill(open),
    ...Array<Buffer>(10_000).fill(close),
    Buffer.from('e07f1000' + '4f420000' + '00000000', 'hex'),
  ]);
  const inputs: [string, Buffer, number][] = [
    ['explicit VR', deep, 7],
    ['explicit VR', deep, 4096],
    ['explicit VR', deep, deep.length],
    [TransferSyntax.DeflatedExplicitVRLittleEndian, deflateRawSync(deep), 1024],
  ];
  for (const [ts, bytes, size] of inputs) {
    const reader = new HeaderReader(ts === 'explicit VR' ? TransferSyntax.ExplicitVRLittleEndian : ts);
    assert.throws(
      () => {
        for (const c of chunks(bytes, size)) reader.push(c);
        reader.end();
      },
      (e: unknown) => e instanceof DicomError && e.code === 'TOO_DEEP',
      `${ts} in chunks of ${size}`,
    );
  }
});

test('an absurd image size (65535 x 65535 x 16 bits x 3 samples x 2^31 frames) is read as numbers; nothing is sized from it', () => {
  const header = writeDataset(
    new Dataset()
      .set(Tag.SOPClassUID, 'UI', '1.2.840.10008.5.1.4.1.1.7')
      .set(Tag.SamplesPerPixel, 'US', 3)
      .set(Tag.NumberOfFrames, 'IS', '2147483648')
      .set(Tag.Rows, 'US', 65535)
      .set(Tag.Columns, 'US', 65535)
      .set(Tag.BitsAllocated, 'US', 16),
    TransferSyntax.ExplicitVRLittleEndian,
  );
  // Pixel Data declaring 4 GiB - 16 bytes, of which 64 arrive: the header ends at its tag, and its value is never read.
  const pixelHead = Buffer.from('e07f1000' + '4f570000' + 'f0ffffff', 'hex');
  const before = process.memoryUsage().arrayBuffers;
  const reader = new HeaderReader(TransferSyntax.ExplicitVRLittleEndian);
  assert.equal(
    reader.push(Buffer.concat([header, pixelHead, Buffer.alloc(64)])),
    true,
    'the header is complete at Pixel Data',
  );
  const ds = reader.end();
  assert.ok(
    process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024,
    'no buffer sized from the image attributes',
  );
  assert.equal(reader.headerLength, header.length);
  assert.deepEqual(
    [ds.number(Tag.Rows), ds.number(Tag.Columns), ds.number(Tag.BitsAllocated), ds.number(Tag.SamplesPerPixel)],
    [65535, 65535, 16, 3],
  );
  assert.equal(ds.string(Tag.NumberOfFrames), '2147483648');
  assert.ok(!ds.has(Tag.PixelData));
});

test('unknown transfer syntax is refused up front', () => {
  assert.throws(
    () => new HeaderReader('1.2.3'),
    (e) => e instanceof DicomError && e.code === 'UNSUPPORTED_TRANSFER_SYNTAX',
  );
});

test('cost of parsing a 512x512 CT header (measured)', () => {
  const bytes = writeDataset(withPixels(ctInstance()), TransferSyntax.ExplicitVRLittleEndian);
  const headerOnly = bytes.subarray(0, bytes.indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00])));
  const runs = 20_000;
  for (let i = 0; i < 1000; i++) parseDataset(headerOnly, TransferSyntax.ExplicitVRLittleEndian);
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) parseDataset(headerOnly, TransferSyntax.ExplicitVRLittleEndian);
  const parseUs = Number(process.hrtime.bigint() - t0) / runs / 1000;
  const chunk = bytes.subarray(0, 16384);
  t0 = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) {
    const r = new HeaderReader(TransferSyntax.ExplicitVRLittleEndian);
    r.push(chunk);
    r.end();
  }
  const readerUs = Number(process.hrtime.bigint() - t0) / runs / 1000;
  console.log(
    `CT header (${headerOnly.length} bytes, 30 elements): parseDataset ${parseUs.toFixed(2)} us, HeaderReader ${readerUs.toFixed(2)} us`,
  );
  assert.ok(parseUs < 100 && readerUs < 100, 'microseconds, not milliseconds');
});
