import { createCipheriv, createDecipheriv, hkdf } from 'node:crypto';
import { StoreError } from './store-error.ts';

/**
 * The encrypted blob file: a header, then the plaintext cut into segments of SEGMENT_SIZE bytes (the last one 0..SEGMENT_SIZE),
 * each sealed with AES-256-GCM and its own 16-byte tag, so a reader streams and verifies segment by segment and can seek.
 *
 *   header (HEADER_SIZE bytes, authenticated as AAD of every segment):
 *     magic "BBLB" | version u8 | reserved 3 | segment size u32be | key id 16 | blob id 16 | salt 16 | nonce prefix 8
 *   segment i: ciphertext | tag 16
 *
 * Nonce = nonce prefix (8 random bytes) || i (u32be). AAD = header || i (u32be) || final flag (u8). So a reordered segment
 * fails (counter), a truncation at a segment boundary fails (the new last segment was sealed as not final), appended data
 * fails (the old last segment was sealed as final), and a blob copied under another id fails (blob id in the header).
 * Each blob gets its own key, HKDF(store key, salt, blob id), so random nonces never repeat under one key.
 */
export const MAGIC = Buffer.from('BBLB', 'latin1');
export const FORMAT_VERSION = 1;
export const SEGMENT_SIZE = 64 * 1024;
export const TAG_SIZE = 16;
export const SEALED_SEGMENT_SIZE = SEGMENT_SIZE + TAG_SIZE;
export const HEADER_SIZE = 4 + 1 + 3 + 4 + 16 + 16 + 16 + 8;

const OFF_VERSION = 4;
const OFF_SEGMENT = 8;
const OFF_KEY_ID = 12;
const OFF_BLOB_ID = 28;
const OFF_SALT = 44;
const OFF_NONCE = 60;

export const BLOB_ID_PATTERN = /^[0-9a-f]{32}$/;

export interface BlobHeader {
  keyId: Buffer;
  blobId: string;
  salt: Buffer;
  noncePrefix: Buffer;
  segmentSize: number;
}

export function encodeHeader(h: BlobHeader): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(b, 0);
  b.writeUInt8(FORMAT_VERSION, OFF_VERSION);
  b.writeUInt32BE(h.segmentSize, OFF_SEGMENT);
  h.keyId.copy(b, OFF_KEY_ID);
  Buffer.from(h.blobId, 'hex').copy(b, OFF_BLOB_ID);
  h.salt.copy(b, OFF_SALT);
  h.noncePrefix.copy(b, OFF_NONCE);
  return b;
}

/** Checks what can be checked without the key; the segments' tags then authenticate every header byte. */
export function decodeHeader(b: Buffer, expectedBlobId: string, expectedKeyId: Buffer): BlobHeader {
  if (b.length < HEADER_SIZE || !b.subarray(0, 4).equals(MAGIC)) {
    throw new StoreError('BLOB_CORRUPT', `blob ${expectedBlobId} has no valid header`);
  }
  const version = b.readUInt8(OFF_VERSION);
  if (version !== FORMAT_VERSION) throw new StoreError('BLOB_CORRUPT', `blob ${expectedBlobId} has unknown format version ${version}`);
  const keyId = b.subarray(OFF_KEY_ID, OFF_KEY_ID + 16);
  if (!keyId.equals(expectedKeyId)) {
    throw new StoreError('KEY_MISMATCH', `blob ${expectedBlobId} was encrypted with another key (key id ${keyId.toString('hex')})`);
  }
  const blobId = b.subarray(OFF_BLOB_ID, OFF_BLOB_ID + 16).toString('hex');
  if (blobId !== expectedBlobId) throw new StoreError('BLOB_CORRUPT', `blob ${expectedBlobId} holds the header of blob ${blobId}`);
  const segmentSize = b.readUInt32BE(OFF_SEGMENT);
  if (segmentSize !== SEGMENT_SIZE) throw new StoreError('BLOB_CORRUPT', `blob ${expectedBlobId} has segment size ${segmentSize}`);
  return {
    keyId: Buffer.from(keyId),
    blobId,
    salt: Buffer.from(b.subarray(OFF_SALT, OFF_SALT + 16)),
    noncePrefix: Buffer.from(b.subarray(OFF_NONCE, OFF_NONCE + 8)),
    segmentSize,
  };
}

/** Derived in the thread pool: with OpenSSL 3 one derivation cost ~0.08 ms of the event loop, per instance stored. */
export function blobKey(storeKey: Buffer, salt: Buffer, blobId: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    hkdf('sha256', storeKey, salt, `beeldbrug blob v1 ${blobId}`, 32, (err, key) => (err !== null ? reject(err) : resolve(Buffer.from(key))));
  });
}

function nonceOf(prefix: Buffer, index: number): Buffer {
  const n = Buffer.allocUnsafe(12);
  prefix.copy(n, 0);
  n.writeUInt32BE(index, 8);
  return n;
}

function aadOf(header: Buffer, index: number, final: boolean): Buffer {
  const a = Buffer.allocUnsafe(header.length + 5);
  header.copy(a, 0);
  a.writeUInt32BE(index, header.length);
  a.writeUInt8(final ? 1 : 0, header.length + 4);
  return a;
}

/** Returns [ciphertext, tag], to be written one after the other (no copy into a joint buffer). */
export function sealSegment(key: Buffer, header: Buffer, prefix: Buffer, index: number, final: boolean, plain: Buffer): [Buffer, Buffer] {
  const c = createCipheriv('aes-256-gcm', key, nonceOf(prefix, index));
  c.setAAD(aadOf(header, index, final));
  const ciphertext = c.update(plain);
  c.final();
  return [ciphertext, c.getAuthTag()];
}

/** Returns the plaintext only once the tag has verified; otherwise throws BLOB_CORRUPT and returns nothing. */
export function openSegment(
  key: Buffer,
  header: Buffer,
  prefix: Buffer,
  index: number,
  final: boolean,
  sealed: Buffer,
  blobId: string,
): Buffer {
  if (sealed.length < TAG_SIZE) throw new StoreError('BLOB_CORRUPT', `blob ${blobId} segment ${index} is truncated`);
  const d = createDecipheriv('aes-256-gcm', key, nonceOf(prefix, index));
  d.setAAD(aadOf(header, index, final));
  d.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
  const plain = d.update(sealed.subarray(0, sealed.length - TAG_SIZE));
  try {
    d.final();
  } catch (err) {
    throw new StoreError('BLOB_CORRUPT', `blob ${blobId} segment ${index} fails authentication (tampered, truncated or reordered)`, {
      cause: err,
    });
  }
  return plain;
}

/** Segment layout of a blob file of `fileSize` bytes; throws BLOB_CORRUPT when no valid layout has that size. */
export function layoutOf(fileSize: number, blobId: string): { segments: number; plainSize: number } {
  const body = fileSize - HEADER_SIZE;
  if (body < TAG_SIZE) throw new StoreError('BLOB_CORRUPT', `blob ${blobId} is truncated (${fileSize} bytes)`);
  const segments = Math.ceil(body / SEALED_SEGMENT_SIZE);
  const last = body - (segments - 1) * SEALED_SEGMENT_SIZE;
  if (last < TAG_SIZE) throw new StoreError('BLOB_CORRUPT', `blob ${blobId} is truncated (${fileSize} bytes)`);
  return { segments, plainSize: (segments - 1) * SEGMENT_SIZE + (last - TAG_SIZE) };
}
