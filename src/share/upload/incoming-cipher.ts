import { type Cipher, createCipheriv } from 'node:crypto';

const BLOCK = 16;
/** How much of an incoming file is encrypted and written, or read and decrypted, at a time. */
export const WRITE_BYTES = 1024 * 1024;

/**
 * AES-256-CTR over a whole file, so any byte range can be written or read on its own: an upload resumes at any offset
 * and a zip is read where its directory points. The key is the upload's own (derived from the node's key), the counter
 * starts at the block of the first byte.
 */
export function ctrAt(key: Uint8Array, offset: number): Cipher {
  const iv = Buffer.alloc(BLOCK);
  // The counter is the block number; files stay far below 2^53 bytes, so the low 8 bytes hold it.
  iv.writeBigUInt64BE(BigInt(Math.floor(offset / BLOCK)), 8);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const skip = offset % BLOCK;
  if (skip > 0) cipher.update(Buffer.alloc(skip));
  return cipher;
}
