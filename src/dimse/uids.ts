/** The few UIDs the upper layer needs itself (PS3.6 Annex A, PS3.7 A.2.1). */
import { NATIVE_TRANSFER_SYNTAXES } from '../dicom/index.ts';

export const ApplicationContextName = '1.2.840.10008.3.1.1.1';
/** Beeldbrug's Implementation Class UID (PS3.7 D.3.3.2), a UUID-derived UID (PS3.5 B.2). */
export const ImplementationClassUid = '2.25.153565516575931685982610343688195382723';
export const ImplementationVersionName = 'BEELDBRUG_010';

export const Uid = {
  Verification: '1.2.840.10008.1.1',
  PatientRootFind: '1.2.840.10008.5.1.4.1.2.1.1',
  PatientRootMove: '1.2.840.10008.5.1.4.1.2.1.2',
  PatientRootGet: '1.2.840.10008.5.1.4.1.2.1.3',
  StudyRootFind: '1.2.840.10008.5.1.4.1.2.2.1',
  StudyRootMove: '1.2.840.10008.5.1.4.1.2.2.2',
  StudyRootGet: '1.2.840.10008.5.1.4.1.2.2.3',
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  DeflatedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.99',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
} as const;

/** Storage SOP classes live under 1.2.840.10008.5.1.4.1.1. (PS3.4 B.5). */
export function isStorageSopClassUid(uid: string): boolean {
  return uid.startsWith('1.2.840.10008.5.1.4.1.1.') && isUidSyntax(uid);
}

export const QueryRetrieveSopClasses: readonly string[] = [
  Uid.PatientRootFind,
  Uid.PatientRootMove,
  Uid.PatientRootGet,
  Uid.StudyRootFind,
  Uid.StudyRootMove,
  Uid.StudyRootGet,
];

/** Default acceptance policy: Verification, storage, patient/study root Q/R. */
export function defaultAcceptsAbstractSyntax(uid: string): boolean {
  return uid === Uid.Verification || isStorageSopClassUid(uid) || QueryRetrieveSopClasses.includes(uid);
}

/**
 * Accepted transfer syntaxes: the native ones (explicit and implicit VR little endian, deflated, big endian), then the
 * common encapsulated ones. An instance is kept in the syntax it came in; see chooseTransferSyntax.
 */
export const DefaultTransferSyntaxes: readonly string[] = [
  Uid.ExplicitVRLittleEndian,
  Uid.ImplicitVRLittleEndian,
  Uid.DeflatedExplicitVRLittleEndian,
  Uid.ExplicitVRBigEndian,
  '1.2.840.10008.1.2.4.50', // JPEG baseline
  '1.2.840.10008.1.2.4.51', // JPEG extended
  '1.2.840.10008.1.2.4.57', // JPEG lossless
  '1.2.840.10008.1.2.4.70', // JPEG lossless SV1
  '1.2.840.10008.1.2.4.80', // JPEG-LS lossless
  '1.2.840.10008.1.2.4.81', // JPEG-LS near-lossless
  '1.2.840.10008.1.2.4.90', // JPEG 2000 lossless
  '1.2.840.10008.1.2.4.91', // JPEG 2000
  '1.2.840.10008.1.2.5', // RLE lossless
];

export function isEncapsulatedTransferSyntax(uid: string): boolean {
  return !NATIVE_TRANSFER_SYNTAXES.includes(uid);
}

/** PS3.5 9.1: at most 64 characters, digits and dots, components without leading zeros. */
export function isUidSyntax(uid: string): boolean {
  if (uid.length === 0 || uid.length > 64) return false;
  for (const part of uid.split('.')) {
    if (part.length === 0 || !/^[0-9]+$/.test(part)) return false;
    if (part.length > 1 && part.startsWith('0')) return false;
  }
  return true;
}
