import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dataset, DicomError, Tag } from './index.ts';

test('text values are padded to even length and read back without padding', () => {
  const ds = new Dataset()
    .set(Tag.PatientID, 'LO', '123')
    .set(Tag.SOPInstanceUID, 'UI', '1.2.3')
    .set(Tag.ModalitiesInStudy, 'CS', ['CT', 'SR'])
    .set(Tag.PatientName, 'PN', 'Jansen^Piet');
  assert.deepEqual(ds.get(Tag.PatientID)?.bytes, Buffer.from('123 '));
  assert.deepEqual(ds.get(Tag.SOPInstanceUID)?.bytes, Buffer.from('1.2.3\0'));
  assert.equal(ds.string(Tag.PatientID), '123');
  assert.equal(ds.string(Tag.SOPInstanceUID), '1.2.3');
  assert.deepEqual(ds.strings(Tag.ModalitiesInStudy), ['CT', 'SR']);
  assert.equal(ds.string(Tag.PatientName), 'Jansen^Piet');
  assert.equal(ds.string(Tag.StudyDate), undefined);
  ds.set(Tag.StudyDate, 'DA', '');
  assert.equal(ds.string(Tag.StudyDate), undefined, 'empty value');
  assert.deepEqual(ds.strings(Tag.StudyDate), []);
});

test('LT/ST/UT keep backslashes and leading spaces', () => {
  const ds = new Dataset().set(Tag.TextValue, 'UT', '  C:\\pad\\x').set(Tag.PatientComments, 'LT', 'a\\b');
  assert.deepEqual(ds.strings(Tag.TextValue), ['  C:\\pad\\x']);
  assert.equal(ds.string(Tag.PatientComments), 'a\\b');
});

test('numbers: binary VRs, IS and DS', () => {
  const ds = new Dataset()
    .set(Tag.Rows, 'US', 512)
    .set(0x00091001, 'SS', [-2, 3])
    .set(0x00091002, 'UL', 4_000_000_000)
    .set(0x00091003, 'SL', -70000)
    .set(0x00091004, 'FL', 1.5)
    .set(0x00091005, 'FD', Math.PI)
    .set(0x00091006, 'AT', Tag.PatientID)
    .set(Tag.InstanceNumber, 'IS', 42)
    .set(Tag.RescaleIntercept, 'DS', -1024)
    .set(Tag.ImagePositionPatient, 'DS', [-0.1 / 3, 1e-20, 123456789.12345679])
    .set(0x00091007, 'UV', 2 ** 40);
  assert.equal(ds.number(Tag.Rows), 512);
  assert.deepEqual(ds.get(Tag.Rows)?.bytes, Buffer.from([0x00, 0x02]));
  assert.deepEqual(ds.numbers(0x00091001), [-2, 3]);
  assert.deepEqual(ds.strings(0x00091001), ['-2', '3']);
  assert.equal(ds.number(0x00091002), 4_000_000_000);
  assert.equal(ds.number(0x00091003), -70000);
  assert.equal(ds.number(0x00091004), 1.5);
  assert.equal(ds.number(0x00091005), Math.PI);
  assert.deepEqual(ds.strings(0x00091006), ['00100020']);
  assert.equal(ds.number(Tag.InstanceNumber), 42);
  assert.equal(ds.number(Tag.RescaleIntercept), -1024);
  const ipp = ds.strings(Tag.ImagePositionPatient);
  for (const v of ipp) assert.ok(v.length <= 16, `DS value ${v} fits 16 characters`);
  assert.ok(Math.abs((ds.numbers(Tag.ImagePositionPatient)[0] ?? 0) + 0.1 / 3) < 1e-12);
  assert.equal(ds.number(0x00091007), 2 ** 40);
  assert.equal(ds.number(Tag.PatientID), undefined);
  ds.set(Tag.SeriesNumber, 'IS', 'abc');
  assert.equal(ds.number(Tag.SeriesNumber), undefined);
});

test('bad values give a typed error', () => {
  const ds = new Dataset();
  assert.throws(
    () => ds.set(Tag.Rows, 'US', 'x'),
    (e) => e instanceof DicomError && e.code === 'BAD_VALUE',
  );
  assert.throws(
    () => ds.set(Tag.ContentSequence, 'SQ', 'x'),
    (e) => e instanceof DicomError && e.code === 'BAD_VALUE',
  );
  assert.throws(
    () => ds.set(Tag.InstanceNumber, 'IS', 1.5),
    (e) => e instanceof DicomError && e.code === 'BAD_VALUE',
  );
  assert.throws(
    () => ds.set(Tag.SliceLocation, 'DS', Number.NaN),
    (e) => e instanceof DicomError && e.code === 'BAD_VALUE',
  );
});

test('iteration is in ascending unsigned tag order, also after out-of-order sets and deletes', () => {
  const ds = new Dataset()
    .set(Tag.PixelData, 'OW', Buffer.alloc(2))
    .set(Tag.PatientID, 'LO', 'a')
    .set(0xfffcfffc, 'OB', Buffer.alloc(0))
    .set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 100');
  assert.deepEqual(
    [...ds].map((e) => e.tag),
    [Tag.SpecificCharacterSet, Tag.PatientID, Tag.PixelData, 0xfffcfffc],
  );
  assert.ok(ds.delete(Tag.PatientID));
  assert.ok(!ds.delete(Tag.PatientID));
  ds.set(Tag.StudyDate, 'DA', '20240101');
  assert.deepEqual(
    [...ds].map((e) => e.tag),
    [Tag.SpecificCharacterSet, Tag.StudyDate, Tag.PixelData, 0xfffcfffc],
  );
  assert.equal(ds.size, 4);
  assert.ok(ds.has(Tag.StudyDate) && !ds.has(Tag.PatientID));
});

test('character sets: UTF-8 with ISO_IR 192, Latin-1 otherwise; items inherit from their parent', () => {
  const utf = new Dataset().set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 192');
  utf.set(Tag.PatientName, 'PN', 'Çelik^Zoë');
  assert.deepEqual(utf.get(Tag.PatientName)?.bytes, Buffer.from('Çelik^Zoë ', 'utf8'));
  assert.equal(utf.string(Tag.PatientName), 'Çelik^Zoë');
  const item = new Dataset();
  utf.set(Tag.OtherPatientIDsSequence, 'SQ', [item]);
  item.set(Tag.PatientID, 'LO', 'é1');
  assert.deepEqual(item.get(Tag.PatientID)?.bytes, Buffer.from('é1 ', 'utf8'));
  assert.equal(utf.items(Tag.OtherPatientIDsSequence)[0]?.string(Tag.PatientID), 'é1');

  const latin = new Dataset().set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 100').set(Tag.PatientName, 'PN', 'Zoë');
  assert.deepEqual(latin.get(Tag.PatientName)?.bytes, Buffer.from('Zoë ', 'latin1'));
  assert.equal(latin.string(Tag.PatientName), 'Zoë');
  assert.deepEqual(latin.items(Tag.PatientName), []);
});
