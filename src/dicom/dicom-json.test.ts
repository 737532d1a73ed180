import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dataset } from './dataset.ts';
import { Tag } from './dictionary.ts';
import { toDicomJson } from './dicom-json.ts';

test('DICOM JSON (PS3.18 F.2): tags as hex, numbers as numbers, names as component groups, sequences nested', () => {
  const item = new Dataset().set(Tag.CodeValue, 'SH', 'T-D3000');
  const ds = new Dataset()
    .set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 192')
    .set(Tag.PatientName, 'PN', 'Bakker^Jan=ベーカー^ヤン')
    .set(Tag.PatientID, 'LO', '123456782')
    .set(Tag.StudyDate, 'DA', '')
    .set(Tag.ModalitiesInStudy, 'CS', ['CT', 'SR'])
    .set(Tag.InstanceNumber, 'IS', '7')
    .set(Tag.SliceThickness, 'DS', '1.25')
    .set(Tag.Rows, 'US', 512)
    .set(Tag.ProcedureCodeSequence, 'SQ', [item])
    .set(Tag.PixelData, 'OW', Buffer.from([1, 0, 2, 0]));
  const json = toDicomJson(ds);
  assert.deepEqual(json['00100010'], { vr: 'PN', Value: [{ Alphabetic: 'Bakker^Jan', Ideographic: 'ベーカー^ヤン' }] });
  assert.deepEqual(json['00100020'], { vr: 'LO', Value: ['123456782'] });
  assert.deepEqual(json['00080020'], { vr: 'DA' }, 'an empty value has no Value');
  assert.deepEqual(json['00080061'], { vr: 'CS', Value: ['CT', 'SR'] });
  assert.deepEqual(json['00200013'], { vr: 'IS', Value: [7] });
  assert.deepEqual(json['00180050'], { vr: 'DS', Value: [1.25] });
  assert.deepEqual(json['00280010'], { vr: 'US', Value: [512] });
  assert.deepEqual(json['00081032'], { vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: ['T-D3000'] } }] });
  assert.deepEqual(json['7FE00010'], { vr: 'OW', InlineBinary: 'AQACAA==' });
  const withUri = toDicomJson(ds, { bulkDataUri: (el) => (el.tag === Tag.PixelData ? 'https://n/bulk' : undefined) });
  assert.deepEqual(withUri['7FE00010'], { vr: 'OW', BulkDataURI: 'https://n/bulk' });
});
