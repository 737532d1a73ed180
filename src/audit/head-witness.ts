import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * A keyed note of the trail's newest record (its head), kept in a file apart from the audit database. Whoever can
 * write the database can cut records off its end and put back an older head row (SQLite's WAL holds them), or swap
 * in an empty file; nothing inside the file can tell. The witness can: it names a sequence and hash the trail must
 * still reach. It is written after every append has committed, so after a crash it is never ahead of the trail, only
 * at most one append behind.
 */
export interface HeadWitness {
  sequence: number;
  hash: string;
  /** When the witness was written (UTC); tells an administrator how old a witness is. */
  time: string;
}

export type WitnessRead =
  { state: 'missing' } | { state: 'unreadable'; problem: string } | { state: 'present'; witness: HeadWitness };

function mac(key: Buffer, w: HeadWitness): string {
  return createHmac('sha256', key)
    .update(`beeldbrug-audit-witness\u0000${w.sequence}\u0000${w.hash}\u0000${w.time}`)
    .digest('hex');
}

export function readWitness(path: string, key: Buffer): WitnessRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    // ENOTDIR: a file where a folder of the path should be; no witness can be there.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { state: 'missing' };
    return { state: 'unreadable', problem: `cannot be read (${(err as Error).message})` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { state: 'unreadable', problem: 'is not the witness the node writes' };
  }
  const p = parsed as Partial<Record<'sequence' | 'hash' | 'time' | 'mac', unknown>>;
  if (
    typeof p.sequence !== 'number' ||
    !Number.isSafeInteger(p.sequence) ||
    p.sequence < 0 ||
    typeof p.hash !== 'string' ||
    typeof p.time !== 'string' ||
    typeof p.mac !== 'string'
  ) {
    return { state: 'unreadable', problem: 'is not the witness the node writes' };
  }
  const witness = { sequence: p.sequence, hash: p.hash, time: p.time };
  if (mac(key, witness) !== p.mac)
    return { state: 'unreadable', problem: 'was changed, or written with another audit key' };
  return { state: 'present', witness };
}

/**
 * Replaces the witness by writing a new file and renaming it over the old one, so a reader sees the old or the new
 * witness, never half of one. The temporary name carries the process id: the node and a CLI command may both append.
 * No fsync: it tripled the cost of an append (measured 3-4 ms per record without the witness, 9-10 ms with an fsynced
 * one, on the CI disk), and the trail's own commit is already durable before the witness is written, so a power loss
 * leaves a witness that is behind the trail (still true), or, on a file system that does not order the rename after
 * the data, an unreadable one: then the node refuses to start until an administrator runs `beeldbrug audit verify`
 * and `beeldbrug audit accept-head`, which is recorded.
 */
export function writeWitness(path: string, key: Buffer, w: HeadWitness): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ ...w, mac: mac(key, w) })}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}
