import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BeeldbrugError } from '../errors/index.ts';

/**
 * The registry never sees a BSN. Nodes send a keyed pseudonym: HMAC-SHA256 over the BSN with the network key, a secret
 * every node of the network holds and the registry does not (docs/registry.md, "Key handling"). Without the key the
 * registry, or anyone who copies its database, cannot test a guessed BSN against it; there are only ~10^9 BSNs, so a
 * plain hash would be reversed by trying them all.
 */
export const PSEUDONYM_SYSTEM = 'urn:beeldbrug:bsn-pseudonym:v1';

/** Domain separation: the same key used for anything else never yields the same value. */
const CONTEXT = 'beeldbrug/bsn-pseudonym/v1\0';

/** The pseudonym of a BSN, base64url without padding (43 characters). The caller has checked the BSN. */
export function pseudonymOf(bsn: string, networkKey: Buffer): string {
  return createHmac('sha256', networkKey).update(CONTEXT).update(bsn).digest('base64url');
}

const PSEUDONYM_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** True for what `pseudonymOf` returns: 32 bytes in base64url. */
export function isPseudonym(s: string): boolean {
  return PSEUDONYM_PATTERN.test(s);
}

/** Reads the network key: base64 of at least 32 random bytes, as `beeldbrug registry network-key` writes it. */
export function readNetworkKeyFile(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new BeeldbrugError(
      'KEY_FILE_PROBLEM',
      `the network key file ${path} cannot be read: ${(cause as Error).message}`,
      { cause },
    );
  }
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length < 32)
    throw new BeeldbrugError(
      'KEY_FILE_PROBLEM',
      `the network key file ${path} does not hold base64 of at least 32 bytes`,
    );
  return key;
}
