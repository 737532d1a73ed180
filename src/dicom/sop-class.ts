/** SOP Class UIDs (PS3.4 annex B for storage, annex C for query/retrieve; UIDs from PS3.6 annex A). */
export const SopClass = {
  Verification: '1.2.840.10008.1.1',
  StorageCommitmentPushModel: '1.2.840.10008.1.20.1',
  ComputedRadiographyImageStorage: '1.2.840.10008.5.1.4.1.1.1',
  DigitalXRayImageStorageForPresentation: '1.2.840.10008.5.1.4.1.1.1.1',
  DigitalXRayImageStorageForProcessing: '1.2.840.10008.5.1.4.1.1.1.1.1',
  DigitalMammographyXRayImageStorageForPresentation: '1.2.840.10008.5.1.4.1.1.1.2',
  CTImageStorage: '1.2.840.10008.5.1.4.1.1.2',
  EnhancedCTImageStorage: '1.2.840.10008.5.1.4.1.1.2.1',
  UltrasoundMultiFrameImageStorage: '1.2.840.10008.5.1.4.1.1.3.1',
  MRImageStorage: '1.2.840.10008.5.1.4.1.1.4',
  EnhancedMRImageStorage: '1.2.840.10008.5.1.4.1.1.4.1',
  UltrasoundImageStorage: '1.2.840.10008.5.1.4.1.1.6.1',
  SecondaryCaptureImageStorage: '1.2.840.10008.5.1.4.1.1.7',
  GrayscaleSoftcopyPresentationStateStorage: '1.2.840.10008.5.1.4.1.1.11.1',
  XRayAngiographicImageStorage: '1.2.840.10008.5.1.4.1.1.12.1',
  NuclearMedicineImageStorage: '1.2.840.10008.5.1.4.1.1.20',
  BasicTextSRStorage: '1.2.840.10008.5.1.4.1.1.88.11',
  EnhancedSRStorage: '1.2.840.10008.5.1.4.1.1.88.22',
  ComprehensiveSRStorage: '1.2.840.10008.5.1.4.1.1.88.33',
  KeyObjectSelectionDocumentStorage: '1.2.840.10008.5.1.4.1.1.88.59',
  EncapsulatedPDFStorage: '1.2.840.10008.5.1.4.1.1.104.1',
  PositronEmissionTomographyImageStorage: '1.2.840.10008.5.1.4.1.1.128',
  RTStructureSetStorage: '1.2.840.10008.5.1.4.1.1.481.3',
  PatientRootQueryRetrieveFind: '1.2.840.10008.5.1.4.1.2.1.1',
  PatientRootQueryRetrieveMove: '1.2.840.10008.5.1.4.1.2.1.2',
  PatientRootQueryRetrieveGet: '1.2.840.10008.5.1.4.1.2.1.3',
  StudyRootQueryRetrieveFind: '1.2.840.10008.5.1.4.1.2.2.1',
  StudyRootQueryRetrieveMove: '1.2.840.10008.5.1.4.1.2.2.2',
  StudyRootQueryRetrieveGet: '1.2.840.10008.5.1.4.1.2.2.3',
  ModalityWorklistFind: '1.2.840.10008.5.1.4.31',
} as const;
export type SopClassUid = (typeof SopClass)[keyof typeof SopClass];

const STORAGE_ROOT = '1.2.840.10008.5.1.4.1.1.';
const names = new Map<string, string>(Object.entries(SopClass).map(([name, uid]) => [uid, name]));

/** Storage SOP classes all live under 1.2.840.10008.5.1.4.1.1 (PS3.4 B.5), including ones we do not name. */
export function isStorageSopClass(uid: string): boolean {
  return uid.startsWith(STORAGE_ROOT) && uid.length > STORAGE_ROOT.length;
}

/** Structured reports (PS3.4 B.5, under .88.) and encapsulated documents (PDF, CDA, ...; under .104.). */
export const SR_SOP_CLASS_ROOT = `${STORAGE_ROOT}88.`;
const ENCAPSULATED_ROOT = `${STORAGE_ROOT}104.`;

/** A report or a document rather than an image: a structured report, or an encapsulated PDF, CDA, ... */
export function isDocumentSopClass(uid: string): boolean {
  return uid.startsWith(SR_SOP_CLASS_ROOT) || uid.startsWith(ENCAPSULATED_ROOT);
}

export function sopClassName(uid: string): string | undefined {
  return names.get(uid);
}
