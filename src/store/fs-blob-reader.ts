import { close, fstat as fstatCallback, open, read } from 'node:fs';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import {
  blobKey,
  type BlobLayout,
  decodeHeader,
  HEADER_SIZE,
  layoutV1,
  layoutV2,
  openSegment,
  SEALED_SEGMENT_SIZE,
  SEGMENT_SIZE,
  TRAILER_SIZE,
} from './blob-format.ts';
import { asStoreError, isNotFound, StoreError } from './store-error.ts';

/** Bytes read per syscall: 16 sealed segments, about a MB. */
const READ_BYTES = 16 * SEALED_SEGMENT_SIZE;

// The callback API, not fs/promises: a FileHandle per blob costs measurably more CPU when a study streams out.
const openFile = promisify(open);
const fstat = promisify(fstatCallback);
const closeFile = promisify(close);
const readAt = (fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> =>
  new Promise((resolve, reject) =>
    read(fd, buf, offset, length, position, (err, bytesRead) => (err !== null ? reject(err) : resolve(bytesRead))),
  );

/**
 * Read buffers kept for the next blobs: a study streaming out would otherwise hand the garbage collector a MB per
 * instance. A buffer is reused once its segments are decrypted (the plaintext is a new buffer), so it is safe to
 * give back when the blob's stream ends.
 */
const spareBuffers: Buffer[] = [];
const SPARE_BUFFERS = 8;

/**
 * Streams the plaintext of one blob from byte `start`, seeking to the segment that holds it. Each segment is
 * authenticated before any of its bytes are pushed, so a consumer never sees unverified plaintext; a bad segment ends
 * the stream with a StoreError (BLOB_CORRUPT, KEY_MISMATCH, BLOB_NOT_FOUND).
 */
export function openBlobStream(path: string, blobId: string, storeKey: Buffer, keyId: Buffer, start: number): Readable {
  return Readable.from(segments(path, blobId, storeKey, keyId, start), {
    objectMode: false,
    highWaterMark: SEGMENT_SIZE * 2,
  });
}

async function* segments(
  path: string,
  blobId: string,
  storeKey: Buffer,
  keyId: Buffer,
  start: number,
): AsyncGenerator<Buffer> {
  if (!Number.isSafeInteger(start) || start < 0)
    throw new StoreError('RANGE_INVALID', `start ${start} is not a byte offset`);
  let fd: number;
  let chunk: Buffer | undefined;
  try {
    fd = await openFile(path, 'r');
  } catch (err) {
    if (isNotFound(err)) throw new StoreError('BLOB_NOT_FOUND', `blob ${blobId} does not exist`, { cause: err });
    throw asStoreError(err, `opening blob ${blobId}`);
  }
  try {
    // The first read takes the header and the first segments. A read that ends short has met the end of the file: for
    // most instances (under a MB) that is the whole file, trailer included, and the blob costs an open, one read and a
    // close; only larger blobs need a stat for their size.
    chunk = spareBuffers.pop() ?? Buffer.allocUnsafe(READ_BYTES);
    let chunkStart = 0;
    let chunkLength = await readFully(fd, chunk, chunk.length, 0);
    const whole = chunkLength < READ_BYTES;
    const fileSize = whole ? chunkLength : (await fstat(fd)).size;
    if (chunkLength < HEADER_SIZE) throw new StoreError('BLOB_CORRUPT', `blob ${blobId} has no valid header`);
    const headerBytes = Buffer.from(chunk.subarray(0, HEADER_SIZE));
    const header = decodeHeader(headerBytes, blobId, keyId);
    const layout = await layoutOf(fd, fileSize, header.version, blobId, whole ? chunk : undefined);
    const { segments: count, plainSize, sealedEnd, trailer } = layout;
    if (start > plainSize)
      throw new StoreError('RANGE_INVALID', `start ${start} is past the end of blob ${blobId} (${plainSize} bytes)`);
    const key = await blobKey(storeKey, header.salt, blobId);
    // A start exactly at the end of a full final segment still authenticates that segment, then yields nothing.
    let index = Math.min(Math.floor(start / SEGMENT_SIZE), count - 1);
    let skip = start - index * SEGMENT_SIZE;
    while (index < count) {
      const position = HEADER_SIZE + index * SEALED_SEGMENT_SIZE;
      const end = Math.min(position + SEALED_SEGMENT_SIZE, sealedEnd);
      if (position < chunkStart || end > chunkStart + chunkLength) {
        // The next segments are not in what was read: read on from this one, into the same buffer.
        const want = Math.min(READ_BYTES, sealedEnd - position);
        chunkStart = position;
        chunkLength = await readFully(fd, chunk, want, position);
        if (chunkLength < end - position)
          throw new StoreError('BLOB_CORRUPT', `blob ${blobId} shrank while being read`);
      }
      const sealed = chunk.subarray(position - chunkStart, end - chunkStart);
      const final = index === count - 1;
      const plain = openSegment(
        key,
        headerBytes,
        header.noncePrefix,
        index,
        final,
        sealed,
        blobId,
        final ? trailer : undefined,
      );
      index += 1;
      const out = skip > 0 ? plain.subarray(Math.min(skip, plain.length)) : plain;
      skip = 0;
      if (out.length > 0) yield out;
    }
  } catch (err) {
    throw asStoreError(err, `reading blob ${blobId}`);
  } finally {
    await closeFile(fd).catch(() => undefined);
    if (chunk !== undefined && spareBuffers.length < SPARE_BUFFERS) spareBuffers.push(chunk);
  }
}

/** The layout from the file's size and, for version 2, its trailer (taken from `whole` when the file was read whole). */
async function layoutOf(
  fd: number,
  fileSize: number,
  version: number,
  blobId: string,
  whole: Buffer | undefined,
): Promise<BlobLayout> {
  if (version === 1) return layoutV1(fileSize, blobId);
  if (fileSize < HEADER_SIZE + TRAILER_SIZE)
    throw new StoreError('BLOB_CORRUPT', `blob ${blobId} is truncated (${fileSize} bytes)`);
  if (whole !== undefined)
    return layoutV2(fileSize, Buffer.from(whole.subarray(fileSize - TRAILER_SIZE, fileSize)), blobId);
  const trailer = Buffer.alloc(TRAILER_SIZE);
  const got = await readFully(fd, trailer, TRAILER_SIZE, fileSize - TRAILER_SIZE);
  if (got < TRAILER_SIZE) throw new StoreError('BLOB_CORRUPT', `blob ${blobId} shrank while being read`);
  return layoutV2(fileSize, trailer, blobId);
}

async function readFully(fd: number, buf: Buffer, want: number, position: number): Promise<number> {
  let got = 0;
  while (got < want) {
    const bytesRead = await readAt(fd, buf, got, want - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}
