/**
 * Seeded randomness for synthetic data: the same seed gives byte-identical studies. UIDs are derived from the
 * seed and a label with SHA-256 as '2.25.' UIDs (PS3.5 B.2), so they are valid, stable and collision-free.
 */
import { createHash } from 'node:crypto';
import { uidFromBytes } from '../dicom/index.ts';

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  int(minInclusive: number, maxInclusive: number): number;
  pick<T>(items: readonly T[]): T;
  /** Independent stream for a sub-object, so adding data in one place does not shift everything after it. */
  fork(label: string): Rng;
}

/** sfc32 (Chris Doty-Humphrey's small fast counter generator): 128-bit state, passes PractRand, tiny. */
function sfc32(a: number, b: number, c: number, d: number): () => number {
  return () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

function digest(seed: number, label: string): Buffer {
  return createHash('sha256').update(`beeldbrug-synth\0${seed}\0${label}`).digest();
}

export function seededRng(seed: number, label = ''): Rng {
  const h = digest(seed, label);
  const next = sfc32(h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12));
  for (let i = 0; i < 12; i++) next();
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new RangeError('pick from an empty list');
      return item;
    },
    fork: (sub) => seededRng(seed, `${label}/${sub}`),
  };
}

/** A '2.25.' UID that depends only on the seed and the label. */
export function derivedUid(seed: number, label: string): string {
  return uidFromBytes(digest(seed, `uid/${label}`));
}
