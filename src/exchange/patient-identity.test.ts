import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dataset, Tag } from '../dicom/index.ts';
import { BSN_ISSUER_OID } from '../patient/index.ts';
import { coercePatient, decideIdentity } from './patient-identity.ts';

const mrn = { patientId: 'MRN-4711', issuer: 'ZH-NOORD', bsn: '999999990' };

test('keep leaves every patient as the sender had it, with or without BSN', () => {
  assert.deepEqual(decideIdentity('keep', mrn), { action: 'keep' });
  assert.deepEqual(decideIdentity('keep', { ...mrn, bsn: null }), { action: 'keep' });
});

test('bsn files the study under the BSN with the national issuer, and refuses a study without BSN instead of guessing', () => {
  assert.deepEqual(decideIdentity('bsn', mrn), { action: 'coerce', patientId: '999999990', issuer: BSN_ISSUER_OID });
  assert.deepEqual(decideIdentity('bsn', { patientId: '999999990', issuer: BSN_ISSUER_OID, bsn: '999999990' }), {
    action: 'keep',
  });
  const refused = decideIdentity('bsn', { ...mrn, bsn: null });
  assert.equal(refused.action, 'refuse');
});

test("coercion keeps the sender's id and issuer as the first Other Patient IDs item, once", () => {
  const header = new Dataset()
    .set(Tag.PatientID, 'LO', mrn.patientId)
    .set(Tag.IssuerOfPatientID, 'LO', mrn.issuer)
    .set(Tag.OtherPatientIDsSequence, 'SQ', [
      new Dataset().set(Tag.PatientID, 'LO', mrn.patientId).set(Tag.IssuerOfPatientID, 'LO', mrn.issuer),
      new Dataset().set(Tag.PatientID, 'LO', 'X1'),
    ]);
  coercePatient(header, { patientId: '999999990', issuer: BSN_ISSUER_OID }, mrn);
  assert.equal(header.string(Tag.PatientID), '999999990');
  assert.equal(header.string(Tag.IssuerOfPatientID), BSN_ISSUER_OID);
  const others = header.items(Tag.OtherPatientIDsSequence);
  assert.deepEqual(
    others.map((o) => [o.string(Tag.PatientID), o.string(Tag.IssuerOfPatientID)]),
    [
      ['MRN-4711', 'ZH-NOORD'],
      ['X1', undefined],
    ],
  );
});
