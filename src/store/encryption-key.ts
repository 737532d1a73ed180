import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isNotFound, StoreError } from './store-error.ts';

/** AES-256 needs exactly 32 bytes of key. */
export const KEY_BYTES = 32;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Reads the store key: base64 of 32 random bytes, whitespace (a trailing newline, line breaks) allowed. The error names
 * the file but never echoes its content.
 */
/** `what` names the key in errors ("store key", "audit key"). */
export function readEncryptionKeyFile(path: string, what = 'store key'): Buffer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (isNotFound(err)) throw new StoreError('KEY_MISSING', `the ${what} file ${path} does not exist`, { cause: err });
    throw new StoreError('KEY_MISSING', `the ${what} file ${path} cannot be read`, { cause: err });
  }
  return parseEncryptionKey(text, path, what);
}

export function parseEncryptionKey(text: string, source: string, what = 'store key'): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0) throw new StoreError('KEY_INVALID', `the ${what} file ${source} is empty`);
  if (!BASE64.test(compact) || compact.length % 4 !== 0) {
    throw new StoreError('KEY_INVALID', `the ${what} file ${source} is not base64`);
  }
  const key = Buffer.from(compact, 'base64');
  if (key.length !== KEY_BYTES) {
    throw new StoreError(
      'KEY_INVALID',
      `the ${what} file ${source} holds ${key.length} bytes, ${KEY_BYTES} are needed`,
    );
  }
  return key;
}

/** Base64 text of a fresh random key, with a newline, ready to be written to a key file (mode 0600). */
export function generateEncryptionKey(): string {
  return `${randomBytes(KEY_BYTES).toString('base64')}\n`;
}

export function assertKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) {
    throw new StoreError('KEY_INVALID', `the store key has ${key.length} bytes, ${KEY_BYTES} are needed`);
  }
}

/**
 * A public fingerprint of the key, written into every blob header so that opening a blob with another key fails with
 * KEY_MISMATCH instead of an authentication error that looks like tampering. HMAC, so it reveals nothing of the key.
 */
export function keyIdOf(key: Buffer): Buffer {
  return createHmac('sha256', key).update('beeldbrug store key id v1').digest().subarray(0, 16);
}
