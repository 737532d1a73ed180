import { createHash } from 'node:crypto';
import { DicomError, HeaderReader, StructureCheck, Tag } from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { StoreError, type BlobWriter, type PatientAttributes, type Provenance, type Store } from '../store/index.ts';
import { instanceRecordFrom } from './attributes.ts';
import { splitPart10 } from './part10-stream.ts';

export interface IngestInput {
  /** From the C-STORE command (or the file's meta header): what the sender says it sends. */
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  /** Part 10 preamble and file meta (group 0002) to store in front of the data set. */
  fileMeta: Buffer;
  /** The data set bytes, streamed as they arrive. */
  data: AsyncIterable<Buffer>;
  provenance: Provenance;
  /** The study the request addressed (STOW-RS to /studies/{study}): an instance of another study is not stored. */
  studyInstanceUid?: string;
}

/** `bsn`: the patient's BSN as the instance names it, so the node can tell the registry where the patient is known. */
export type IngestOutcome = {
  outcome: 'created' | 'duplicate';
  studyInstanceUid: string;
  bytes: number;
  bsn: string | null;
};

/**
 * Stores one instance: the bytes stream into an encrypted blob while the header is parsed from the same chunks (pixel
 * data is never decoded or copied); the blob is made durable, then indexed. Only then does the caller acknowledge.
 * Whatever goes wrong (a dropped association, a bad header, a full disk) the half-written blob is removed, so a
 * partial upload never becomes a stored instance.
 */
export async function ingestInstance(store: Store, input: IngestInput): Promise<IngestOutcome> {
  const existing = await store.index.getInstance(input.sopInstanceUid);
  if (existing !== undefined) {
    // Storing the same instance again is idempotent: read the bytes off the wire and keep what we have.
    for await (const chunk of input.data) void chunk;
    checkStudy(input, existing.study.studyInstanceUid);
    return {
      outcome: 'duplicate',
      studyInstanceUid: existing.study.studyInstanceUid,
      bytes: existing.blob.size,
      bsn: existing.patient.bsn,
    };
  }

  const header = new HeaderReader(input.transferSyntaxUid);
  // The header says what the instance is; the structure check proves all of it arrived, pixel data included.
  const structure = StructureCheck.applies(input.transferSyntaxUid)
    ? new StructureCheck(input.transferSyntaxUid)
    : undefined;
  let writer: BlobWriter | undefined;
  try {
    writer = await store.blobs.create();
    await writer.write(input.fileMeta);
    for await (const chunk of input.data) {
      if (!header.done) header.push(chunk);
      structure?.push(chunk);
      await writer.write(chunk);
    }
    const record = instanceRecordFrom(header.end(), input.transferSyntaxUid, input.provenance);
    structure?.end();
    if (record.instance.sopInstanceUid !== input.sopInstanceUid || record.instance.sopClassUid !== input.sopClassUid) {
      throw new BeeldbrugError(
        'DATASET_MISMATCH',
        `the data set is ${record.instance.sopClassUid} / ${record.instance.sopInstanceUid}, the command said ${input.sopClassUid} / ${input.sopInstanceUid}`,
      );
    }
    checkStudy(input, record.study.studyInstanceUid);
    const blob = await writer.commit();
    writer = undefined;
    let recorded;
    try {
      recorded = await store.index.recordInstance(record, blob, input.fileMeta.length);
    } catch (err) {
      await store.blobs.delete(blob.blobId);
      throw err;
    }
    if (recorded.outcome === 'duplicate') await store.blobs.delete(blob.blobId);
    return {
      outcome: recorded.outcome,
      studyInstanceUid: record.study.studyInstanceUid,
      bytes: blob.size,
      bsn: record.patient.bsn,
    };
  } catch (err) {
    if (writer !== undefined) await writer.abort().catch(() => undefined);
    throw asIngestError(err);
  }
}

function checkStudy(input: IngestInput, studyInstanceUid: string): void {
  if (input.studyInstanceUid === undefined || input.studyInstanceUid === studyInstanceUid) return;
  throw new BeeldbrugError(
    'DATASET_MISMATCH',
    `instance ${input.sopInstanceUid} belongs to study ${studyInstanceUid}, not to study ${input.studyInstanceUid} that the request named`,
    { members: { sopClassUid: input.sopClassUid, sopInstanceUid: input.sopInstanceUid } },
  );
}

/**
 * Indexes a durable blob the index lost (see StudyService.recover): the blob holds the whole Part 10 file, so the
 * attributes, size and digest come from it, read once. A second copy of an instance already indexed is deleted.
 */
export async function reindexBlob(store: Store, blobId: string): Promise<IngestOutcome> {
  try {
    const stream = store.blobs.open(blobId) as AsyncIterable<Buffer>;
    const hash = createHash('sha256');
    let size = 0;
    const counted = async function* (): AsyncIterable<Buffer> {
      for await (const chunk of stream) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    };
    const part10 = await splitPart10(counted());
    const header = new HeaderReader(part10.transferSyntaxUid);
    for await (const chunk of part10.dataset) if (!header.done) header.push(chunk);
    const record = instanceRecordFrom(header.end(), part10.transferSyntaxUid, {
      receivedAt: new Date().toISOString(),
      via: 'recovery',
      callingAeTitle: part10.meta.string(Tag.SourceApplicationEntityTitle) ?? null,
      remoteAddress: null,
    });
    const blob = { blobId, size, sha256: hash.digest('hex') };
    const recorded = await store.index.recordInstance(record, blob, part10.fileMeta.length);
    if (recorded.outcome === 'duplicate') await store.blobs.delete(blobId);
    return {
      outcome: recorded.outcome,
      studyInstanceUid: record.study.studyInstanceUid,
      bytes: size,
      bsn: record.patient.bsn,
    };
  } catch (err) {
    throw asIngestError(err);
  }
}

/**
 * The patient attributes one stored file names, read from its header; for an index that filed patients with an empty
 * Patient ID together, whose split patient rows wait for their own attributes (see migration 4 of the index schema).
 */
export async function patientOfBlob(store: Store, blobId: string): Promise<PatientAttributes> {
  try {
    const part10 = await splitPart10(store.blobs.open(blobId) as AsyncIterable<Buffer>);
    const header = new HeaderReader(part10.transferSyntaxUid);
    for await (const chunk of part10.dataset) if (!header.done) header.push(chunk);
    const unused = { receivedAt: '', via: 'recovery', callingAeTitle: null, remoteAddress: null };
    return instanceRecordFrom(header.end(), part10.transferSyntaxUid, unused).patient;
  } catch (err) {
    throw asIngestError(err);
  }
}

function asIngestError(err: unknown): unknown {
  if (err instanceof DicomError)
    return new BeeldbrugError('DATASET_INVALID', `the data set cannot be parsed: ${err.message}`, { cause: err });
  if (err instanceof StoreError) {
    if (err.code === 'DISK_FULL')
      return new BeeldbrugError('OUT_OF_RESOURCES', 'the node is out of disk space', { cause: err });
    if (err.code === 'STUDY_PATIENT_CONFLICT')
      return new BeeldbrugError('STUDY_PATIENT_CONFLICT', err.message, { cause: err });
    if (err.code === 'PATIENT_BSN_CONFLICT')
      return new BeeldbrugError('PATIENT_BSN_CONFLICT', err.message, { cause: err });
    return new BeeldbrugError('STORE_FAILED', `storing failed: ${err.code}`, { cause: err });
  }
  return err;
}
