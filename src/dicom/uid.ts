/** UID generation and validation (PS3.5 section 9 and annex B.2). */
import { randomUUID } from 'node:crypto';

/** A UID derived from a random UUID: '2.25.' followed by the UUID as one unsigned decimal integer (PS3.5 B.2). */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replaceAll('-', '')}`).toString()}`;
}

/** A '2.25.' UID from 16 bytes (e.g. a hash), for deterministic generation. */
export function uidFromBytes(bytes: Uint8Array): string {
  if (bytes.length < 16) throw new RangeError('uidFromBytes needs 16 bytes');
  return `2.25.${BigInt(`0x${Buffer.from(bytes.subarray(0, 16)).toString('hex')}`).toString()}`;
}

const UID_PATTERN = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

/** PS3.5 9.1: at most 64 characters, components of digits separated by dots, no leading zeros in a component. */
export function isValidUid(uid: string): boolean {
  return uid.length > 0 && uid.length <= 64 && UID_PATTERN.test(uid);
}
