import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  dictionaryEntry,
  formatTag,
  parseDataset,
  writeDataset,
  isStorageSopClass,
  isValidUid,
  keywordOf,
  newUid,
  SopClass,
  sopClassName,
  Tag,
  TransferSyntax,
  transferSyntaxInfo,
  uidFromBytes,
  vrOf,
} from './index.ts';

test('tags carry the PS3.6 numbers and VRs', () => {
  assert.equal(Tag.PatientID, 0x00100020);
  assert.equal(Tag.StudyInstanceUID, 0x0020000d);
  assert.equal(Tag.PixelData, 0x7fe00010);
  assert.equal(Tag.Item, 0xfffee000);
  assert.equal(Tag.ContentSequence, 0x0040a730);
  assert.equal(keywordOf(0x00080018), 'SOPInstanceUID');
  assert.equal(keywordOf(0x00991234), undefined);
  assert.equal(vrOf(Tag.PatientName), 'PN');
  assert.equal(vrOf(Tag.Rows), 'US');
  assert.equal(vrOf(Tag.OtherPatientIDsSequence), 'SQ');
  assert.equal(vrOf(Tag.EncapsulatedDocument), 'OB');
  assert.equal(vrOf(0x00090000), 'UL', 'group length');
  assert.equal(vrOf(0x00290010), 'LO', 'private creator');
  assert.equal(vrOf(0x00291010), undefined, 'private data element');
  // Keywords are unique and each tag appears once.
  const tags = Object.values(Tag);
  assert.equal(new Set(tags).size, tags.length);
  for (const [k, t] of Object.entries(Tag)) assert.equal(keywordOf(t), k);
});

test('the whole PS3.6 dictionary: retired elements, VMs, repeating groups, and private tags left as they are', () => {
  assert.ok(Object.keys(Tag).length > 5000, 'every element of PS3.6 with a keyword');
  // Standard attributes the hand-typed table lacked, which came back as UN after a conversion to explicit VR.
  assert.deepEqual(dictionaryEntry(0x00189087), { keyword: 'DiffusionBValue', vr: 'FD', vm: '1', retired: false });
  assert.equal(vrOf(0x00181310), 'US', 'Acquisition Matrix');
  assert.equal(dictionaryEntry(0x00181310)?.vm, '4');
  assert.equal(dictionaryEntry(0x00080001)?.retired, true, 'Length to End is retired');
  assert.deepEqual(dictionaryEntry(Tag.PixelData)?.alternatives, ['OB', 'OW']);
  assert.equal(vrOf(Tag.PixelData), 'OW', 'implicit VR pixel data is OW (PS3.5 A.1)');
  assert.equal(vrOf(Tag.SmallestImagePixelValue), 'US');
  assert.deepEqual(dictionaryEntry(Tag.SmallestImagePixelValue)?.alternatives, ['US', 'SS']);
  // Repeating groups: every even group of 60xx is an overlay, 50xx a curve; an odd one is private.
  for (const group of [0x6000, 0x6002, 0x601e]) {
    assert.equal(keywordOf(group * 0x10000 + 0x0010), 'OverlayRows');
    assert.equal(vrOf(group * 0x10000 + 0x3000), 'OW', 'Overlay Data');
  }
  assert.equal(keywordOf(0x50020005), 'CurveDimensions');
  assert.equal(dictionaryEntry(0x50020005)?.retired, true);
  assert.equal(keywordOf(0x60010010), undefined, 'group 6001 is private');
  assert.equal(vrOf(0x60010010), 'LO', "6001's private creator");
  assert.equal(keywordOf(0x00203105), 'SourceImageIDs', 'a repeating element number (0020,31xx)');
  assert.equal(vrOf(0x00280410), 'US', 'Rows For Nth Order Coefficients (0028,04x0)');
  assert.equal(
    keywordOf(0x00280400),
    'TransformLabel',
    'a fixed element before the repeating one that shares its digits',
  );
  assert.equal(dictionaryEntry(0x00091001), undefined, 'a private element is not in the dictionary');
});

test('an implicit VR data set is read by the dictionary: Diffusion b-value is FD, and an unknown private tag stays as it came', () => {
  const implicit = Buffer.concat([
    element(0x0009, 0x0010, Buffer.from('ACME 1.0')),
    element(0x0009, 0x1001, Buffer.from([1, 2, 3, 4])),
    element(0x0018, 0x9087, Buffer.from(new Float64Array([1000]).buffer)),
  ]);
  const ds = parseDataset(implicit, '1.2.840.10008.1.2');
  assert.equal(ds.get(0x00189087)?.vr, 'FD');
  assert.equal(ds.number(0x00189087), 1000);
  assert.equal(ds.get(0x00090010)?.vr, 'LO');
  assert.equal(ds.get(0x00091001)?.vr, 'UN');
  const explicit = parseDataset(writeDataset(ds, '1.2.840.10008.1.2.1'), '1.2.840.10008.1.2.1');
  assert.equal(explicit.get(0x00189087)?.vr, 'FD', 'not UN after the conversion');
  assert.equal(explicit.number(0x00189087), 1000);
  assert.deepEqual([...(explicit.get(0x00091001)?.bytes ?? [])], [1, 2, 3, 4], 'the private value as it came');
});

/** One implicit VR little endian element: tag, 4-byte length, value. */
function element(group: number, el: number, value: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(el, 2);
  head.writeUInt32LE(value.length, 4);
  return Buffer.concat([head, value]);
}

test('formatTag prints (gggg,eeee) in upper-case hex', () => {
  assert.equal(formatTag(Tag.PatientID), '(0010,0020)');
  assert.equal(formatTag(0xfffee0dd), '(FFFE,E0DD)');
  assert.equal(formatTag(0x0002000a), '(0002,000A)');
});

test('transfer syntax table', () => {
  assert.deepEqual(transferSyntaxInfo(TransferSyntax.ImplicitVRLittleEndian), {
    uid: '1.2.840.10008.1.2',
    name: 'ImplicitVRLittleEndian',
    explicitVr: false,
    littleEndian: true,
    deflated: false,
    encapsulated: false,
  });
  assert.equal(transferSyntaxInfo(TransferSyntax.ExplicitVRBigEndian)?.littleEndian, false);
  assert.equal(transferSyntaxInfo(TransferSyntax.DeflatedExplicitVRLittleEndian)?.deflated, true);
  assert.equal(transferSyntaxInfo(TransferSyntax.JPEGLSLossless)?.encapsulated, true);
  assert.equal(transferSyntaxInfo(TransferSyntax.HTJ2K)?.uid, '1.2.840.10008.1.2.4.203');
  assert.equal(transferSyntaxInfo(TransferSyntax.RLELossless)?.explicitVr, true);
  assert.equal(transferSyntaxInfo('1.2.840.10008.1.2.1\0')?.name, 'ExplicitVRLittleEndian', 'UI padding is ignored');
  assert.equal(transferSyntaxInfo('1.2.3.4'), undefined);
});

test('SOP classes', () => {
  assert.equal(SopClass.CTImageStorage, '1.2.840.10008.5.1.4.1.1.2');
  assert.equal(SopClass.StudyRootQueryRetrieveMove, '1.2.840.10008.5.1.4.1.2.2.2');
  assert.ok(isStorageSopClass(SopClass.EncapsulatedPDFStorage));
  assert.ok(isStorageSopClass('1.2.840.10008.5.1.4.1.1.999.1'), 'unnamed storage classes are storage too');
  assert.ok(!isStorageSopClass(SopClass.Verification));
  assert.ok(!isStorageSopClass(SopClass.StudyRootQueryRetrieveFind));
  assert.equal(sopClassName(SopClass.BasicTextSRStorage), 'BasicTextSRStorage');
  assert.equal(sopClassName('1.2.3'), undefined);
});

test('UIDs: generated ones are valid and distinct; validation follows PS3.5 9.1', () => {
  const a = newUid();
  assert.match(a, /^2\.25\.[1-9][0-9]*$/);
  assert.ok(isValidUid(a) && a.length <= 64);
  assert.notEqual(a, newUid());
  assert.equal(uidFromBytes(Buffer.alloc(16, 0xff)), `2.25.${(2n ** 128n - 1n).toString()}`);
  for (const ok of ['1.2.840.10008.1.2', '0.1', '2.25.0']) assert.ok(isValidUid(ok), ok);
  for (const bad of ['', '1.02', '1..2', '.1', '1.', '1.2a', '1 .2', `1.${'9'.repeat(63)}`])
    assert.ok(!isValidUid(bad), bad);
});
