import { type FileHandle, open } from 'node:fs/promises';
import { Readable } from 'node:stream';
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

/** Sealed segments read per syscall. */
const READ_SEGMENTS = 4;

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
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (isNotFound(err)) throw new StoreError('BLOB_NOT_FOUND', `blob ${blobId} does not exist`, { cause: err });
    throw asStoreError(err, `opening blob ${blobId}`);
  }
  try {
    const { size: fileSize } = await fh.stat();
    const headerBytes = Buffer.alloc(HEADER_SIZE);
    const { bytesRead } = await fh.read(headerBytes, 0, HEADER_SIZE, 0);
    const header = decodeHeader(headerBytes.subarray(0, bytesRead), blobId, keyId);
    const layout = await layoutOf(fh, fileSize, header.version, blobId);
    const { segments: count, plainSize, sealedEnd, trailer } = layout;
    if (start > plainSize)
      throw new StoreError('RANGE_INVALID', `start ${start} is past the end of blob ${blobId} (${plainSize} bytes)`);
    const key = await blobKey(storeKey, header.salt, blobId);
    // A start exactly at the end of a full final segment still authenticates that segment, then yields nothing.
    let index = Math.min(Math.floor(start / SEGMENT_SIZE), count - 1);
    let skip = start - index * SEGMENT_SIZE;
    const buf = Buffer.allocUnsafe(SEALED_SEGMENT_SIZE * READ_SEGMENTS);
    while (index < count) {
      const position = HEADER_SIZE + index * SEALED_SEGMENT_SIZE;
      const want = Math.min(buf.length, sealedEnd - position);
      const got = await readFully(fh, buf, want, position);
      if (got < want) throw new StoreError('BLOB_CORRUPT', `blob ${blobId} shrank while being read`);
      for (let at = 0; at < got && index < count; at += SEALED_SEGMENT_SIZE, index += 1) {
        const sealed = buf.subarray(at, Math.min(at + SEALED_SEGMENT_SIZE, got));
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
        const out = skip > 0 ? plain.subarray(Math.min(skip, plain.length)) : plain;
        skip = 0;
        if (out.length > 0) yield out;
      }
    }
  } catch (err) {
    throw asStoreError(err, `reading blob ${blobId}`);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function layoutOf(fh: FileHandle, fileSize: number, version: number, blobId: string): Promise<BlobLayout> {
  if (version === 1) return layoutV1(fileSize, blobId);
  if (fileSize < HEADER_SIZE + TRAILER_SIZE)
    throw new StoreError('BLOB_CORRUPT', `blob ${blobId} is truncated (${fileSize} bytes)`);
  const trailer = Buffer.alloc(TRAILER_SIZE);
  const got = await readFully(fh, trailer, TRAILER_SIZE, fileSize - TRAILER_SIZE);
  if (got < TRAILER_SIZE) throw new StoreError('BLOB_CORRUPT', `blob ${blobId} shrank while being read`);
  return layoutV2(fileSize, trailer, blobId);
}

async function readFully(fh: FileHandle, buf: Buffer, want: number, position: number): Promise<number> {
  let got = 0;
  while (got < want) {
    const { bytesRead } = await fh.read(buf, got, want - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}
