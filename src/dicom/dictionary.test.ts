import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatTag,
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
