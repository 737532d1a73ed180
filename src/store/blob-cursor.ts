import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { hkdfSync } from 'node:crypto';
import {
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
export const READ_BYTES = 16 * SEALED_SEGMENT_SIZE;

/**
 * The read buffer of a reader thread, shared by the blobs it has open, and which of them read into it last: another
 * blob's piece may have been read into it since, so a cursor trusts its contents only while it is still the owner.
 */
export interface ReadBuffer {
  bytes: Buffer;
  owner: BlobCursor | undefined;
}

/**
 * One open blob, read forward from a plaintext offset in verified pieces. Blocking on purpose: it runs in a reader
 * thread (blob-read-worker.ts), where one blob costs an open, usually a single read, and a close, with no round trip
 * through the thread pool for each.
 */
export class BlobCursor {
  readonly #blobId: string;
  readonly #fd: number;
  readonly #shared: ReadBuffer;
  #bufStart = 0;
  #bufLength = 0;
  #headerBytes: Buffer | undefined;
  #noncePrefix: Buffer | undefined;
  #key: Buffer | undefined;
  #layout: BlobLayout | undefined;
  #index = 0;
  #skip = 0;
  #closed = false;

  /**
   * Opens the file, checks its header and layout and derives the blob's key; throws StoreError (BLOB_NOT_FOUND,
   * BLOB_CORRUPT, KEY_MISMATCH, RANGE_INVALID). `shared` (READ_BYTES long) is the caller's, reused across blobs.
   */
  constructor(path: string, blobId: string, storeKey: Buffer, keyId: Buffer, start: number, shared: ReadBuffer) {
    if (!Number.isSafeInteger(start) || start < 0)
      throw new StoreError('RANGE_INVALID', `start ${start} is not a byte offset`);
    this.#blobId = blobId;
    this.#shared = shared;
    try {
      this.#fd = openSync(path, 'r');
    } catch (err) {
      if (isNotFound(err)) throw new StoreError('BLOB_NOT_FOUND', `blob ${blobId} does not exist`, { cause: err });
      throw asStoreError(err, `opening blob ${blobId}`);
    }
    try {
      this.#init(storeKey, keyId, start);
    } catch (err) {
      this.close();
      throw asStoreError(err, `reading blob ${blobId}`);
    }
  }

  #init(storeKey: Buffer, keyId: Buffer, start: number): void {
    const blobId = this.#blobId;
    // The first read takes the header and the first segments. A read that ends short has met the end of the file: for
    // most instances (under a MB) that is the whole file, trailer included; only larger blobs need a stat for their size.
    const buf = this.#shared.bytes;
    this.#bufLength = this.#readAt(buf.length, 0);
    const whole = this.#bufLength < buf.length;
    const fileSize = whole ? this.#bufLength : fstatSync(this.#fd).size;
    if (this.#bufLength < HEADER_SIZE) throw new StoreError('BLOB_CORRUPT', `blob ${blobId} has no valid header`);
    this.#headerBytes = Buffer.from(buf.subarray(0, HEADER_SIZE));
    const header = decodeHeader(this.#headerBytes, blobId, keyId);
    this.#noncePrefix = header.noncePrefix;
    this.#layout = this.#layoutOf(fileSize, header.version, whole);
    if (start > this.#layout.plainSize)
      throw new StoreError(
        'RANGE_INVALID',
        `start ${start} is past the end of blob ${blobId} (${this.#layout.plainSize} bytes)`,
      );
    this.#key = Buffer.from(hkdfSync('sha256', storeKey, header.salt, `beeldbrug blob v1 ${blobId}`, 32));
    // A start exactly at the end of a full final segment still authenticates that segment, then yields nothing.
    this.#index = Math.min(Math.floor(start / SEGMENT_SIZE), this.#layout.segments - 1);
    this.#skip = start - this.#index * SEGMENT_SIZE;
  }

  #layoutOf(fileSize: number, version: number, whole: boolean): BlobLayout {
    const blobId = this.#blobId;
    if (version === 1) return layoutV1(fileSize, blobId);
    if (fileSize < HEADER_SIZE + TRAILER_SIZE)
      throw new StoreError('BLOB_CORRUPT', `blob ${blobId} is truncated (${fileSize} bytes)`);
    if (whole)
      return layoutV2(fileSize, Buffer.from(this.#shared.bytes.subarray(fileSize - TRAILER_SIZE, fileSize)), blobId);
    const trailer = Buffer.alloc(TRAILER_SIZE);
    if (readFully(this.#fd, trailer, TRAILER_SIZE, fileSize - TRAILER_SIZE) < TRAILER_SIZE)
      throw new StoreError('BLOB_CORRUPT', `blob ${blobId} shrank while being read`);
    return layoutV2(fileSize, trailer, blobId);
  }

  /**
   * The next verified plaintext, at most about `maxBytes` (whole segments, at least one); undefined at the end, when
   * the file is closed already. Each segment is authenticated before any of its bytes are returned. Given `into`, the
   * plaintext is copied there when it fits (and the answer is its start).
   */
  next(maxBytes: number, into?: Buffer): Buffer | undefined {
    const layout = this.#layout;
    if (this.#closed || layout === undefined) return undefined;
    try {
      const pieces: Buffer[] = [];
      let bytes = 0;
      while (this.#index < layout.segments && (pieces.length === 0 || bytes + SEGMENT_SIZE <= maxBytes)) {
        const plain = this.#segment(layout);
        const out = this.#skip > 0 ? plain.subarray(Math.min(this.#skip, plain.length)) : plain;
        this.#skip = 0;
        if (out.length > 0) {
          pieces.push(out);
          bytes += out.length;
        }
      }
      if (this.#index >= layout.segments) this.close();
      if (pieces.length === 0) return undefined;
      if (into !== undefined && bytes <= into.length) {
        let at = 0;
        for (const piece of pieces) at += piece.copy(into, at);
        return into.subarray(0, bytes);
      }
      return pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces, bytes);
    } catch (err) {
      this.close();
      throw asStoreError(err, `reading blob ${this.#blobId}`);
    }
  }

  #segment(layout: BlobLayout): Buffer {
    const index = this.#index;
    const position = HEADER_SIZE + index * SEALED_SEGMENT_SIZE;
    const end = Math.min(position + SEALED_SEGMENT_SIZE, layout.sealedEnd);
    const buf = this.#shared.bytes;
    if (this.#shared.owner !== this || position < this.#bufStart || end > this.#bufStart + this.#bufLength) {
      // The next segments are not in what was read (or another blob was read since): read on from this one.
      this.#bufStart = position;
      this.#bufLength = this.#readAt(Math.min(buf.length, layout.sealedEnd - position), position);
      if (this.#bufLength < end - position)
        throw new StoreError('BLOB_CORRUPT', `blob ${this.#blobId} shrank while being read`);
    }
    const final = index === layout.segments - 1;
    const plain = openSegment(
      this.#key as Buffer,
      this.#headerBytes as Buffer,
      this.#noncePrefix as Buffer,
      index,
      final,
      buf.subarray(position - this.#bufStart, end - this.#bufStart),
      this.#blobId,
      final ? layout.trailer : undefined,
    );
    this.#index += 1;
    return plain;
  }

  #readAt(want: number, position: number): number {
    this.#shared.owner = this;
    return readFully(this.#fd, this.#shared.bytes, want, position);
  }

  /** True once the end was reached (or the cursor was closed): the file is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      closeSync(this.#fd);
    } catch {
      // a descriptor opened for reading has nothing to flush
    }
  }
}

function readFully(fd: number, buf: Buffer, want: number, position: number): number {
  let got = 0;
  while (got < want) {
    const bytesRead = readSync(fd, buf, got, want - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}
