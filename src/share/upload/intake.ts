import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { readFileMeta, Tag } from '../../dicom/index.ts';
import { BeeldbrugError } from '../../errors/index.ts';
import type { IncomingFile } from './incoming-file.ts';
import type { IntakeResult } from './upload-store.ts';

/** Media Storage Directory Storage: a DICOMDIR lists a CD's files; the files themselves come on their own. */
const DICOMDIR_SOP_CLASS = '1.2.840.10008.1.3.10';
/** Preamble (128 bytes) and 'DICM': how a Part 10 file begins (PS3.10 7.1). */
const PART10_HEAD = 132;
const META_PEEK = 64 * 1024;
/** The first names of files left out that the uploader is told; the rest are counted. */
const SKIPPED_NAMED = 20;

/** What a zip may hold before it is refused unopened: a zip bomb is known by its central directory alone. */
export interface ZipLimits {
  maxEntries: number;
  /** The sum of its entries' sizes once unpacked. */
  maxUnpackedBytes: number;
  /** Unpacked to packed: DICOM shrinks 2 to 5 times; a bomb a thousand. */
  maxRatio: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = { maxEntries: 100_000, maxUnpackedBytes: 64 * 1024 ** 3, maxRatio: 50 };

/** Why a whole file was refused, for the uploader's page to say in their language. */
export type RefusalKind = 'not-dicom' | 'not-stored' | 'too-many-files' | 'zip-bomb' | 'zip-unsafe';

const refused = (kind: RefusalKind, detail: string, cause?: unknown): BeeldbrugError =>
  new BeeldbrugError('UPLOAD_REFUSED', detail, { members: { kind }, ...(cause !== undefined ? { cause } : {}) });

/** Stores one Part 10 file in quarantine; throws (a catalog error) when it is not a DICOM instance the node keeps. */
export type StoreInstance = (source: AsyncIterable<Buffer>) => Promise<{ outcome: string; studyInstanceUid: string }>;

/** Refusals that are about the file itself: it is left out, and the rest of the upload goes on. */
const FILE_PROBLEMS: ReadonlySet<string> = new Set([
  'DATASET_INVALID',
  'DATASET_MISMATCH',
  'IDENTIFIER_INVALID',
  'PATIENT_BSN_CONFLICT',
  'STUDY_PATIENT_CONFLICT',
]);

const isPart10 = (head: Buffer): boolean =>
  head.length >= PART10_HEAD && head.subarray(128, 132).toString('latin1') === 'DICM';
const isZip = (head: Buffer): boolean => head.length >= 4 && head.readUInt32LE(0) === 0x04034b50;

/** Reads the first `n` bytes of a stream, and gives back the whole stream, those bytes included. */
async function peek(stream: AsyncIterable<Buffer>, n: number): Promise<{ head: Buffer; all: AsyncIterable<Buffer> }> {
  const it = stream[Symbol.asyncIterator]();
  const taken: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < n) {
    const next = await it.next();
    if (next.done === true) {
      done = true;
      break;
    }
    taken.push(next.value);
    length += next.value.length;
  }
  const head = Buffer.concat(taken, length);
  async function* all(): AsyncIterable<Buffer> {
    if (length > 0) yield head;
    if (done) return;
    for (let next = await it.next(); next.done !== true; next = await it.next()) yield next.value;
  }
  return { head, all: all() };
}

class Tally {
  readonly result: IntakeResult = { stored: 0, duplicates: 0, studies: [], skipped: [], skippedCount: 0 };

  stored(outcome: string, studyInstanceUid: string): void {
    if (outcome === 'duplicate') this.result.duplicates++;
    else this.result.stored++;
    if (!this.result.studies.includes(studyInstanceUid)) this.result.studies.push(studyInstanceUid);
  }

  skipped(name: string, reason: string): void {
    this.result.skippedCount++;
    if (this.result.skipped.length < SKIPPED_NAMED) this.result.skipped.push({ name, reason });
  }
}

/** One file, from a zip or on its own: stored if it is a DICOM instance, left out (with the reason) if it is not. */
async function takeInOne(name: string, source: AsyncIterable<Buffer>, store: StoreInstance, tally: Tally) {
  const { head, all } = await peek(source, META_PEEK);
  if (!isPart10(head)) {
    tally.skipped(name, isZip(head) ? 'a zip inside the zip is not opened' : 'not a DICOM file');
    return;
  }
  const meta = readFileMeta(head, true);
  if (meta?.meta.string(Tag.MediaStorageSOPClassUID) === DICOMDIR_SOP_CLASS) {
    tally.skipped(name, 'DICOMDIR: it lists the files, which are taken in on their own');
    return;
  }
  try {
    const stored = await store(all);
    tally.stored(stored.outcome, stored.studyInstanceUid);
  } catch (err) {
    // What is wrong with the file leaves it out; what is wrong with the node (a full disk) fails the whole upload.
    if (!(err instanceof BeeldbrugError) || !FILE_PROBLEMS.has(err.code)) throw err;
    tally.skipped(name, err.message);
  }
}

/**
 * Takes a complete upload in: a DICOM file (Part 10) is stored in quarantine; a zip (a folder, a CD's content with its
 * DICOMDIR) is checked by its directory first (too many entries, too large unpacked, or packed too tightly: refused
 * unopened; an entry outside its folder, as in "../": refused) and then each DICOM file in it is stored, the rest left
 * out and named. Anything else is refused. Nothing is ever unpacked to disk.
 */
export async function takeIn(
  file: IncomingFile,
  size: number,
  name: string,
  store: StoreInstance,
  limits: ZipLimits = DEFAULT_ZIP_LIMITS,
): Promise<IntakeResult> {
  const tally = new Tally();
  const { head } = await peek(file.read(0, Math.min(size, PART10_HEAD)), PART10_HEAD);
  if (isZip(head)) {
    await takeInZip(file, size, store, limits, tally);
    return tally.result;
  }
  if (!isPart10(head)) throw refused('not-dicom', `${name} is neither a DICOM file (no DICM at byte 128) nor a zip`);
  await takeInOne(name, file.read(0, size), store, tally);
  if (tally.result.stored + tally.result.duplicates === 0)
    throw refused('not-stored', `${name}: ${tally.result.skipped[0]?.reason ?? 'not stored'}`);
  return tally.result;
}

async function takeInZip(file: IncomingFile, size: number, store: StoreInstance, limits: ZipLimits, tally: Tally) {
  const reader = new (class extends yauzl.RandomAccessReader {
    override _readStreamForRange(start: number, end: number): Readable {
      return file.read(start, end);
    }
  })();
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromRandomAccessReaderPromise(reader, size, {
      lazyEntries: true,
      autoClose: false,
      validateEntrySizes: true,
    });
  } catch (err) {
    throw refusedZip(err);
  }
  try {
    const entries = await allEntries(zip);
    const files = entries.filter((e) => !e.fileName.endsWith('/'));
    const unpacked = files.reduce((n, e) => n + e.uncompressedSize, 0);
    if (files.length > limits.maxEntries)
      throw refused('too-many-files', `the zip holds ${files.length} files; at most ${limits.maxEntries}`);
    if (unpacked > limits.maxUnpackedBytes || unpacked > limits.maxRatio * Math.max(size, 1))
      throw refused(
        'zip-bomb',
        `the zip would unpack to ${unpacked} bytes from ${size}: refused as a zip bomb, nothing was unpacked`,
      );
    for (const entry of files) {
      if (entry.isEncrypted() || !entry.canDecodeFileData()) {
        tally.skipped(entry.fileName, 'encrypted, or packed in a way this node does not read');
        continue;
      }
      let stream: Readable;
      try {
        stream = await zip.openReadStreamPromise(entry);
      } catch (err) {
        throw refusedZip(err);
      }
      await takeInOne(entry.fileName, stream, store, tally);
      stream.destroy();
    }
  } finally {
    zip.close();
  }
}

function allEntries(zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: yauzl.Entry[] = [];
    zip.on('entry', (e: yauzl.Entry) => {
      entries.push(e);
      zip.readEntry();
    });
    zip.once('end', () => resolve(entries));
    zip.once('error', (err: unknown) => reject(refusedZip(err)));
    zip.readEntry();
  });
}

/** yauzl's own words for a broken or unsafe zip ("invalid relative path: ../x"), as the refusal. */
function refusedZip(err: unknown): BeeldbrugError {
  if (err instanceof BeeldbrugError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return refused('zip-unsafe', `the zip cannot be taken in: ${detail}`, err);
}
