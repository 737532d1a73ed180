// Reading test DICOM files and comparing what must survive a round trip.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Dataset, readPart10, SopClass, Tag, TransferSyntax, writeDataset } from '../../src/dicom/index.ts';

/** Every file below `dir`, sorted. */
export function filesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** SOP Instance UID -> data set bytes (after the file meta), for comparisons that do not depend on file names. */
export function datasetsByUid(files: readonly string[]): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const f of files) {
    const bytes = readFileSync(f);
    const p = readPart10(bytes);
    const uid = p.dataset.string(Tag.SOPInstanceUID);
    if (uid === undefined) throw new Error(`${f} has no SOP Instance UID`);
    out.set(uid, bytes.subarray(p.datasetOffset));
  }
  return out;
}

/**
 * What must survive every hop unchanged even when a peer re-encodes the header (DCMTK's storescu writes sequences
 * with explicit lengths): the pixel data, the encapsulated document, or an SR's content tree.
 */
export function payloadOf(ds: Dataset): Buffer {
  for (const tag of [Tag.PixelData, Tag.EncapsulatedDocument]) {
    const el = ds.get(tag);
    if (el?.bytes !== undefined) return el.bytes;
    if (el?.fragments !== undefined) return Buffer.concat(el.fragments);
  }
  const content = ds.get(Tag.ContentSequence);
  if (content === undefined) throw new Error('no pixel data, document or SR content to compare');
  return writeDataset(new Dataset().setElement(content), TransferSyntax.ExplicitVRLittleEndian);
}

export async function collect(stream: NodeJS.ReadableStream | AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/**
 * A Secondary Capture data set (Explicit VR Little Endian) of random pixels, from 1 KB to about `maxPixelBytes`: small
 * ones fit one 64 KiB blob segment, most need several. For the tests that kill a node while instances arrive.
 */
export function randomPixelsInstance(o: {
  studyUid: string;
  uid: string;
  patientId: string;
  maxPixelBytes: number;
}): Buffer {
  const ds = new Dataset()
    .set(Tag.SOPClassUID, 'UI', SopClass.SecondaryCaptureImageStorage)
    .set(Tag.SOPInstanceUID, 'UI', o.uid)
    .set(Tag.PatientID, 'LO', o.patientId)
    .set(Tag.StudyInstanceUID, 'UI', o.studyUid)
    .set(Tag.SeriesInstanceUID, 'UI', `${o.studyUid}.1`)
    .set(Tag.PixelData, 'OB', randomBytes(2 * (500 + Math.floor(Math.random() * (o.maxPixelBytes / 2)))));
  return writeDataset(ds, TransferSyntax.ExplicitVRLittleEndian);
}
