import { Dataset, Tag } from '../dicom/index.ts';
import { BSN_ISSUER_OID } from '../patient/index.ts';

/**
 * How an arriving study's patient is named in the local PACS (exchange.patientIdentity):
 * - `keep`: as the sender had it, byte for byte;
 * - `bsn`: Patient ID becomes the BSN with the national issuer (2.16.840.1.113883.2.4.6.3), which every Dutch hospital
 *   shares. A study without a BSN is not forwarded: guessing would risk filing it under someone else.
 * Whatever the rule, the sender's patient id and issuer stay in the data (Other Patient IDs) and in the inbox.
 */
export type PatientIdentityRule = 'keep' | 'bsn';

export interface ArrivingPatient {
  patientId: string;
  issuer: string | null;
  bsn: string | null;
}

export type IdentityDecision =
  { action: 'keep' } | { action: 'coerce'; patientId: string; issuer: string } | { action: 'refuse'; reason: string };

export function decideIdentity(rule: PatientIdentityRule, p: ArrivingPatient): IdentityDecision {
  if (rule === 'keep') return { action: 'keep' };
  if (p.bsn === null)
    return { action: 'refuse', reason: 'the study carries no BSN, and the patient-identity rule bsn needs one' };
  if (p.patientId === p.bsn && p.issuer === BSN_ISSUER_OID) return { action: 'keep' };
  return { action: 'coerce', patientId: p.bsn, issuer: BSN_ISSUER_OID };
}

/**
 * Sets the local Patient ID and issuer in a header and keeps the sender's as an Other Patient IDs item (PS3.3 C.7.1.1),
 * so the PACS and a later reader can still trace the study to the sender's patient record.
 */
export function coercePatient(
  header: Dataset,
  to: { patientId: string; issuer: string },
  sender: ArrivingPatient,
): void {
  const others = header
    .items(Tag.OtherPatientIDsSequence)
    .filter(
      (i) =>
        !(i.string(Tag.PatientID) === sender.patientId && (i.string(Tag.IssuerOfPatientID) ?? null) === sender.issuer),
    );
  const senderItem = new Dataset().set(Tag.PatientID, 'LO', sender.patientId).set(Tag.TypeOfPatientID, 'CS', 'TEXT');
  if (sender.issuer !== null) senderItem.set(Tag.IssuerOfPatientID, 'LO', sender.issuer);
  header.set(Tag.PatientID, 'LO', to.patientId);
  header.set(Tag.IssuerOfPatientID, 'LO', to.issuer);
  // The qualifiers describe the old issuer; stale ones would contradict the new one.
  header.delete(Tag.IssuerOfPatientIDQualifiersSequence);
  header.delete(0x00100000);
  header.set(Tag.OtherPatientIDsSequence, 'SQ', [senderItem, ...others]);
}
