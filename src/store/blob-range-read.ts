import { Readable } from 'node:stream';
import {
  blobKey,
  decodeHeader,
  HEADER_SIZE,
  layoutV1,
  layoutV2,
  openSegment,
  SEALED_SEGMENT_SIZE,
  SEGMENT_SIZE,
  TRAILER_SIZE,
} from './blob-format.ts';
import { StoreError } from './store-error.ts';

/** Bytes `start` to `end` (exclusive) of a stored blob as they stream in, and the stored blob's whole size. */
export type StoredRange = (range: { start: number; end: number }) => Promise<{
  body: NodeJS.ReadableStream;
  size: number;
}>;

/**
 * A blob's plaintext from `start` on, read from its stored (encrypted) bytes by ranges, for a copy held elsewhere
 * (object storage): the header, the trailer that gives the size (version 2), then the sealed segments from the one
 * that holds `start`, each authenticated before any of its bytes go out. Nothing is written locally.
 */
export function blobRangeStream(
  read: StoredRange,
  blobId: string,
  storeKey: Buffer,
  keyId: Buffer,
  start: number,
): Readable {
  return Readable.from(plaintext(read, blobId, storeKey, keyId, start), { objectMode: false });
}

async function* plaintext(
  read: StoredRange,
  blobId: string,
  storeKey: Buffer,
  keyId: Buffer,
  start: number,
): AsyncGenerator<Buffer> {
  if (!Number.isSafeInteger(start) || start < 0)
    throw new StoreError('RANGE_INVALID', `start ${start} is not a byte offset`);
  const first = await read({ start: 0, end: HEADER_SIZE });
  const headerBytes = await bytesOf(first.body, HEADER_SIZE);
  const header = decodeHeader(headerBytes, blobId, keyId);
  const layout =
    header.version === 1
      ? layoutV1(first.size, blobId)
      : layoutV2(
          first.size,
          await bytesOf((await read({ start: first.size - TRAILER_SIZE, end: first.size })).body, TRAILER_SIZE),
          blobId,
        );
  if (start > layout.plainSize)
    throw new StoreError(
      'RANGE_INVALID',
      `start ${start} is past the end of blob ${blobId} (${layout.plainSize} bytes)`,
    );
  const key = await blobKey(storeKey, header.salt, blobId);
  // A start exactly at the end of a full final segment still authenticates that segment, then yields nothing.
  let index = Math.min(Math.floor(start / SEGMENT_SIZE), layout.segments - 1);
  let skip = start - index * SEGMENT_SIZE;
  const from = HEADER_SIZE + index * SEALED_SEGMENT_SIZE;
  const sealed = (await read({ start: from, end: layout.sealedEnd })).body;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let position = from;
  const open = (bytes: Buffer): Buffer => {
    const final = index === layout.segments - 1;
    const plain = openSegment(
      key,
      headerBytes,
      header.noncePrefix,
      index,
      final,
      bytes,
      blobId,
      final ? layout.trailer : undefined,
    );
    index += 1;
    position += bytes.length;
    const out = skip > 0 ? plain.subarray(Math.min(skip, plain.length)) : plain;
    skip = 0;
    return out;
  };
  for await (const chunk of sealed as AsyncIterable<Buffer>) {
    pending.push(chunk);
    pendingBytes += chunk.length;
    let joined = pending.length === 1 ? chunk : Buffer.concat(pending, pendingBytes);
    let at = 0;
    for (;;) {
      const want = Math.min(SEALED_SEGMENT_SIZE, layout.sealedEnd - position);
      if (want <= 0 || joined.length - at < want) break;
      const out = open(joined.subarray(at, at + want));
      at += want;
      if (out.length > 0) yield out;
    }
    joined = joined.subarray(at);
    pending = joined.length > 0 ? [joined] : [];
    pendingBytes = joined.length;
  }
  if (index < layout.segments) throw new StoreError('BLOB_CORRUPT', `blob ${blobId} ended before its last segment`);
}

/** Exactly `n` bytes of a stream (a ranged answer), or BLOB_CORRUPT when it holds fewer. */
async function bytesOf(body: NodeJS.ReadableStream, n: number): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of body as AsyncIterable<Buffer>) pieces.push(piece);
  const bytes = Buffer.concat(pieces);
  if (bytes.length < n) throw new StoreError('BLOB_CORRUPT', `a stored blob is shorter than its header and trailer`);
  return bytes.subarray(0, n);
}
