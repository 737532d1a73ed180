/**
 * Beeldbrug's DICOM core: data dictionary, data sets, Part 10 files and transfer syntaxes (PS3.5, PS3.6, PS3.10).
 * Imports nothing from the rest of the project.
 */
export type { Vr } from './vr.ts';
export {
  Tag,
  type TagKeyword,
  type DictionaryEntry,
  dictionaryEntry,
  keywordOf,
  vrOf,
  formatTag,
} from './dictionary.ts';
export { Dataset, type Element, type DatasetValue } from './dataset.ts';
export {
  TransferSyntax,
  type TransferSyntaxUid,
  type TransferSyntaxInfo,
  transferSyntaxInfo,
} from './transfer-syntax.ts';
export {
  SopClass,
  type SopClassUid,
  isDocumentSopClass,
  isStorageSopClass,
  SR_SOP_CLASS_ROOT,
  sopClassName,
} from './sop-class.ts';
export { newUid, uidFromBytes, isValidUid } from './uid.ts';
export { isPixelOrLater, type ParseLimits } from './parse.ts';
export { parseDataset, writeDataset } from './dataset-codec.ts';
export {
  encodeFileMeta,
  encodePart10,
  readFileMeta,
  readPart10,
  readPart10Header,
  writePart10,
  type FileMetaInput,
  type Part10,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
} from './part10.ts';
export { HeaderReader } from './header-reader.ts';
export { codeItem, type EvidenceSeries, sopReference, studyEvidence } from './references.ts';
export { StructureCheck } from './structure-check.ts';
export { rewriteHeader } from './rewrite-header.ts';
export { DicomError, DicomErrorCode } from './errors.ts';
export { toDicomJson, type DicomJson, type DicomJsonAttribute, type DicomJsonOptions } from './dicom-json.ts';
export { CHARACTER_SET_TERMS, isKnownCharacterSet } from './character-sets.ts';
export {
  canConvert,
  canDecode,
  convertedDataset,
  decodeFrame,
  decodePixelData,
  framesOfFragments,
  NATIVE_TRANSFER_SYNTAXES,
} from './pixel-codecs.ts';
export { mayPack, packInstance, unpackInstance } from './packed-instance.ts';
export { packInstanceOffThread, startPackingThreads, unpackInstanceOffThread } from './packing-pool.ts';
