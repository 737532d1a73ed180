import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { DicomError, readFileMeta, Tag } from '../../dicom/index.ts';
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
  let meta: ReturnType<typeof readFileMeta>;
  try {
    meta = readFileMeta(head, true);
  } catch (err) {
    if (!(err instanceof DicomError)) throw err;
    tally.skipped(name, `not a readable DICOM file: ${err.message}`);
    return;
  }
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

/** A complete upload, looked at: a DICOM file, or a zip whose directory passed its checks. */
export interface Inspected {
  /** Stores each DICOM instance in it (the rest left out and named); stops between files once `signal` aborts. */
  takeIn(store: StoreInstance, signal?: AbortSignal): Promise<IntakeResult>;
}

/**
 * Looks at a complete upload before anything is stored from it, which takes only its first bytes and, for a zip, its
 * directory: a DICOM file (Part 10) is taken as it is; a zip (a folder, a CD's content with its DICOMDIR) is refused
 * unopened when it holds too many entries, would unpack too large, or is packed too tightly, and refused when an entry
 * lies outside its folder (as in "../"). Anything else is refused. Nothing is ever unpacked to disk.
 */
export async function inspect(
  file: IncomingFile,
  size: number,
  name: string,
  limits: ZipLimits = DEFAULT_ZIP_LIMITS,
): Promise<Inspected> {
  const { head } = await peek(file.read(0, Math.min(size, PART10_HEAD)), PART10_HEAD);
  if (isZip(head)) return inspectZip(file, size, limits);
  if (!isPart10(head)) throw refused('not-dicom', `${name} is neither a DICOM file (no DICM at byte 128) nor a zip`);
  return {
    takeIn: async (store) => {
      const tally = new Tally();
      await takeInOne(name, file.read(0, size), store, tally);
      if (tally.result.stored + tally.result.duplicates === 0)
        throw refused('not-stored', `${name}: ${tally.result.skipped[0]?.reason ?? 'not stored'}`);
      return tally.result;
    },
  };
}

/** How much is read at once when yauzl asks for a few bytes: the directory and each entry's header come in pieces. */
const HEADER_BLOCK = 32 * 1024;

/**
 * An incoming file as yauzl reads it: entries' data streamed, and the small reads of the directory (two per entry)
 * served from the last block read, not a stream each, which cost half a second for a CD's 2,000 entries.
 */
class IncomingZipReader extends yauzl.RandomAccessReader {
  readonly #file: IncomingFile;
  #block: { start: number; bytes: Buffer } = { start: 0, bytes: Buffer.alloc(0) };

  constructor(file: IncomingFile) {
    super();
    this.#file = file;
  }

  override _readStreamForRange(start: number, end: number): Readable {
    return this.#file.read(start, end);
  }

  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null) => void,
  ): void {
    const from = (block: Buffer, start: number): void => {
      const copied = block.copy(buffer, offset, position - start, position - start + length);
      callback(copied === length ? null : new Error('unexpected EOF'));
    };
    const cached = this.#block;
    if (position >= cached.start && position + length <= cached.start + cached.bytes.length)
      return process.nextTick(() => from(cached.bytes, cached.start));
    this.#file.readAt(position, Math.max(length, HEADER_BLOCK)).then(
      (bytes) => {
        this.#block = { start: position, bytes };
        from(bytes, position);
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    );
  }
}

async function inspectZip(file: IncomingFile, size: number, limits: ZipLimits): Promise<Inspected> {
  const reader = new IncomingZipReader(file);
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
  let files: yauzl.Entry[];
  try {
    files = (await allEntries(zip)).filter((e) => !e.fileName.endsWith('/'));
    const unpacked = files.reduce((n, e) => n + e.uncompressedSize, 0);
    if (files.length > limits.maxEntries)
      throw refused('too-many-files', `the zip holds ${files.length} files; at most ${limits.maxEntries}`);
    if (unpacked > limits.maxUnpackedBytes || unpacked > limits.maxRatio * Math.max(size, 1))
      throw refused(
        'zip-bomb',
        `the zip would unpack to ${unpacked} bytes from ${size}: refused as a zip bomb, nothing was unpacked`,
      );
  } catch (err) {
    zip.close();
    throw err;
  }
  return {
    takeIn: async (store, signal) => {
      const tally = new Tally();
      try {
        for (const entry of files) {
          signal?.throwIfAborted();
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
      return tally.result;
    },
  };
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
