import { Dataset, type Element, encodeFileMeta, newUid, SR_SOP_CLASS_ROOT, Tag, writeDataset } from '../dicom/index.ts';

/** Media Storage Directory Storage (PS3.4 Annex I): the SOP class of a DICOMDIR. */
export const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';
const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** One file of the file-set: where it lies (its File ID), what it is, and its data set up to the pixel data. */
export interface DirectoryEntry {
  /** Up to 8 components of at most 8 characters (A-Z, 0-9, _), as PS3.10 8.5 and the General Purpose profiles ask. */
  fileId: readonly string[];
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  header: Dataset;
}

const ENCAPSULATED_PDF = '1.2.840.10008.5.1.4.1.1.104.1';

/** The keys each record type carries (PS3.3 F.5): copied from the instance where it has them, empty otherwise. */
const KEYS: Record<string, readonly number[]> = {
  PATIENT: [Tag.PatientName, Tag.PatientID, Tag.PatientBirthDate, Tag.PatientSex],
  STUDY: [Tag.StudyDate, Tag.StudyTime, Tag.AccessionNumber, Tag.StudyDescription, Tag.StudyInstanceUID, Tag.StudyID],
  SERIES: [Tag.Modality, Tag.SeriesInstanceUID, Tag.SeriesNumber, Tag.SeriesDescription],
  IMAGE: [Tag.InstanceNumber],
  'SR DOCUMENT': [
    Tag.ContentDate,
    Tag.ContentTime,
    Tag.InstanceNumber,
    Tag.VerificationDateTime,
    Tag.ConceptNameCodeSequence,
    Tag.CompletionFlag,
    Tag.VerificationFlag,
  ],
  'ENCAP DOC': [
    Tag.ContentDate,
    Tag.ContentTime,
    Tag.InstanceNumber,
    Tag.ConceptNameCodeSequence,
    Tag.DocumentTitle,
    Tag.MIMETypeOfEncapsulatedDocument,
  ],
};

/** Every element a record may copy, and the charset they are encoded in. */
export const DIRECTORY_TAGS: ReadonlySet<number> = new Set([Tag.SpecificCharacterSet, ...Object.values(KEYS).flat()]);

/** An element with bytes of its own (a sequence's items too), so it holds nothing of the buffer it was read from. */
function ownCopy(el: Element): Element {
  if (el.items !== undefined) return { tag: el.tag, vr: el.vr, items: el.items.map(copyOf) };
  return { tag: el.tag, vr: el.vr, ...(el.bytes !== undefined ? { bytes: Buffer.from(el.bytes) } : {}) };
}

function copyOf(ds: Dataset): Dataset {
  const out = new Dataset();
  for (const el of ds) out.setElement(ownCopy(el));
  return out;
}

/**
 * What a DICOMDIR needs of an instance's header, copied out of it: a header read from a stream points into the chunks
 * it came in (64 KB and more each), and a share of thousands of instances would otherwise keep every chunk alive until
 * the DICOMDIR is written.
 */
export function directoryKeysOf(header: Dataset): Dataset {
  const out = new Dataset();
  for (const tag of DIRECTORY_TAGS) {
    const el = header.get(tag);
    if (el !== undefined) out.setElement(ownCopy(el));
  }
  return out;
}

/** Keys a record must have a value for (Type 1); the others may stay empty (Type 2) or away (Type 3, 1C). */
const OPTIONAL: ReadonlySet<number> = new Set([
  Tag.PatientBirthDate,
  Tag.PatientSex,
  Tag.SeriesDescription,
  Tag.VerificationDateTime,
]);

function recordTypeOf(sopClassUid: string): string {
  if (sopClassUid.startsWith(SR_SOP_CLASS_ROOT)) return 'SR DOCUMENT';
  if (sopClassUid === ENCAPSULATED_PDF) return 'ENCAP DOC';
  return 'IMAGE';
}

interface Node {
  record: Dataset;
  children: Node[];
}

function record(type: string, from: Dataset): Dataset {
  const r = new Dataset()
    .set(Tag.OffsetOfTheNextDirectoryRecord, 'UL', 0)
    .set(Tag.RecordInUseFlag, 'US', 0xffff)
    .set(Tag.OffsetOfReferencedLowerLevelDirectoryEntity, 'UL', 0)
    .set(Tag.DirectoryRecordType, 'CS', type);
  // The keys are copied as they are encoded, so the record names the instance's character set with them.
  const charset = from.get(Tag.SpecificCharacterSet);
  if (charset !== undefined) r.setElement(charset);
  for (const tag of KEYS[type] ?? []) {
    const el = from.get(tag);
    if (el !== undefined) r.setElement(el);
    else if (!OPTIONAL.has(tag)) r.set(tag, tag === Tag.ConceptNameCodeSequence ? 'SQ' : vrOfKey(tag), emptyOf(tag));
  }
  return r;
}

const vrOfKey = (tag: number): 'CS' | 'DA' | 'TM' | 'IS' | 'SH' | 'LO' | 'PN' | 'UI' | 'ST' =>
  (
    ({
      [Tag.StudyDate]: 'DA',
      [Tag.ContentDate]: 'DA',
      [Tag.StudyTime]: 'TM',
      [Tag.ContentTime]: 'TM',
      [Tag.SeriesNumber]: 'IS',
      [Tag.InstanceNumber]: 'IS',
      [Tag.StudyID]: 'SH',
      [Tag.AccessionNumber]: 'SH',
      [Tag.StudyDescription]: 'LO',
      [Tag.PatientID]: 'LO',
      [Tag.MIMETypeOfEncapsulatedDocument]: 'LO',
      [Tag.PatientName]: 'PN',
      [Tag.StudyInstanceUID]: 'UI',
      [Tag.SeriesInstanceUID]: 'UI',
      [Tag.DocumentTitle]: 'ST',
    }) as Record<number, 'CS' | 'DA' | 'TM' | 'IS' | 'SH' | 'LO' | 'PN' | 'UI' | 'ST'>
  )[tag] ?? 'CS';

const emptyOf = (tag: number): string | Dataset[] => (tag === Tag.ConceptNameCodeSequence ? [] : '');

/**
 * The DICOMDIR of a file-set (PS3.10 section 8, PS3.3 F.5 Basic Directory), as a Part 10 file in Explicit VR Little
 * Endian: PATIENT, STUDY, SERIES and one record per file (IMAGE, SR DOCUMENT or ENCAP DOC), in the order the entries
 * come, linked by the byte offsets the standard counts from the start of the file.
 */
export function dicomdir(entries: readonly DirectoryEntry[], fileSetId: string): Buffer {
  const patients: Node[] = [];
  const byKey = new Map<string, Node>();
  const nodeFor = (key: string, siblings: Node[], make: () => Dataset): Node => {
    let n = byKey.get(key);
    if (n === undefined) {
      n = { record: make(), children: [] };
      byKey.set(key, n);
      siblings.push(n);
    }
    return n;
  };
  for (const e of entries) {
    const h = e.header;
    const patientKey = `P|${h.string(Tag.PatientID) ?? ''}|${h.string(Tag.PatientName) ?? ''}`;
    const patient = nodeFor(patientKey, patients, () => record('PATIENT', h));
    const studyKey = `${patientKey}|S|${h.string(Tag.StudyInstanceUID) ?? ''}`;
    const study = nodeFor(studyKey, patient.children, () => record('STUDY', h));
    const series = nodeFor(`${studyKey}|${h.string(Tag.SeriesInstanceUID) ?? ''}`, study.children, () =>
      record('SERIES', h),
    );
    const r = record(recordTypeOf(e.sopClassUid), h)
      .set(Tag.ReferencedFileID, 'CS', [...e.fileId])
      .set(Tag.ReferencedSOPClassUIDInFile, 'UI', e.sopClassUid)
      .set(Tag.ReferencedSOPInstanceUIDInFile, 'UI', e.sopInstanceUid)
      .set(Tag.ReferencedTransferSyntaxUIDInFile, 'UI', e.transferSyntaxUid);
    series.children.push({ record: r, children: [] });
  }

  // Records depth first; each one's place in the file follows from the sizes of those before it (UL offsets are 4
  // bytes whatever their value, so filling them in changes no size).
  const ordered: Node[] = [];
  const visit = (n: Node): void => {
    ordered.push(n);
    n.children.forEach(visit);
  };
  patients.forEach(visit);
  const meta = encodeFileMeta({
    sopClassUid: MEDIA_STORAGE_DIRECTORY,
    sopInstanceUid: newUid(),
    transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
  });
  const top = (first: number, last: number): Dataset =>
    new Dataset()
      .set(Tag.FileSetID, 'CS', fileSetId)
      .set(Tag.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity, 'UL', first)
      .set(Tag.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity, 'UL', last);
  const fixed = top(0, 0).set(Tag.FileSetConsistencyFlag, 'US', 0);
  // Before the first record: the meta, the elements above, the sequence's header (12 bytes) and the item's (8).
  let at = meta.length + encodedLength(fixed) + 12;
  const offsets = new Map<Node, number>();
  for (const n of ordered) {
    offsets.set(n, at);
    at += 8 + encodedLength(n.record) + 8;
  }
  const link = (siblings: readonly Node[]): void =>
    siblings.forEach((n, i) => {
      const next = siblings[i + 1];
      n.record.set(Tag.OffsetOfTheNextDirectoryRecord, 'UL', next !== undefined ? (offsets.get(next) ?? 0) : 0);
      const child = n.children[0];
      n.record.set(
        Tag.OffsetOfReferencedLowerLevelDirectoryEntity,
        'UL',
        child !== undefined ? (offsets.get(child) ?? 0) : 0,
      );
      link(n.children);
    });
  link(patients);
  const first = patients[0];
  const last = patients.at(-1);
  const ds = top(first !== undefined ? (offsets.get(first) ?? 0) : 0, last !== undefined ? (offsets.get(last) ?? 0) : 0)
    .set(Tag.FileSetConsistencyFlag, 'US', 0)
    .set(
      Tag.DirectoryRecordSequence,
      'SQ',
      ordered.map((n) => n.record),
    );
  return Buffer.concat([meta, writeDataset(ds, EXPLICIT_VR_LITTLE_ENDIAN)]);
}

const encodedLength = (ds: Dataset): number => writeDataset(ds, EXPLICIT_VR_LITTLE_ENDIAN).length;
