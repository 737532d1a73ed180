// The synthetic population of bench:registry: sequential valid BSNs (elfproef), their real pseudonyms (the network key's
// HMAC, computed on every core), the order they sort in, and a fixed profile per patient: which of the hospitals know
// them and which consents they gave. A profile is a hash of the patient's number, so any process can recompute it.
import { availableParallelism } from 'node:os';
import { isMainThread, Worker, workerData } from 'node:worker_threads';
import { isValidBsn } from '../src/patient/index.ts';
import { pseudonymOf } from '../src/registry/index.ts';

export const PSEUDONYM_BYTES = 32;

/** The hospitals patients are known at; every one of them is a client of the registry. */
export const HOSPITALS: readonly { name: string; ura: string }[] = Array.from({ length: 80 }, (_, k) => ({
  name: `Ziekenhuis ${k + 1}`,
  ura: String(31000001 + k),
}));

/** The first eight digits of the first BSN; the ninth is the check digit. */
const FIRST_HEAD = 10_000_000;

function checkDigit(head: number): number {
  let partial = 0;
  let h = head;
  for (let weight = 2; weight <= 9; weight++) {
    partial += (h % 10) * weight;
    h = Math.floor(h / 10);
  }
  return partial % 11;
}

/** The next head, from `head` on, whose check digit exists (a remainder of 10 has no digit). */
function nextValidHead(head: number): number {
  let h = head;
  while (checkDigit(h) === 10) h++;
  return h;
}

function bsnOf(head: number): string {
  const bsn = `${head}${checkDigit(head)}`;
  if (!isValidBsn(bsn)) throw new Error(`${bsn} fails the elfproef`);
  return bsn;
}

/** Pseudonyms of the `count` valid BSNs from `firstHead` on, written to `out` from byte 0. */
function pseudonymsInto(out: Buffer, firstHead: number, count: number, networkKey: Buffer): void {
  let head = firstHead;
  for (let i = 0; i < count; i++) {
    head = nextValidHead(head);
    Buffer.from(pseudonymOf(bsnOf(head), networkKey), 'base64url').copy(out, i * PSEUDONYM_BYTES);
    head++;
  }
}

interface PseudonymJob {
  memory: SharedArrayBuffer;
  offset: number;
  firstHead: number;
  count: number;
  networkKey: Uint8Array;
}

if (!isMainThread && (workerData as { job?: PseudonymJob } | null)?.job !== undefined) {
  const job = (workerData as { job: PseudonymJob }).job;
  pseudonymsInto(
    Buffer.from(job.memory, job.offset, job.count * PSEUDONYM_BYTES),
    job.firstHead,
    job.count,
    Buffer.from(job.networkKey),
  );
}

/**
 * The pseudonyms of the first `count` valid BSNs after skipping `skip` of them (so a later range gives patients nobody
 * registered), 32 bytes each, in BSN order; split over worker threads, since 18 million HMACs take half a minute on one.
 */
export async function pseudonymsOf(networkKey: Buffer, count: number, skip = 0): Promise<Buffer> {
  const memory = new SharedArrayBuffer(count * PSEUDONYM_BYTES);
  const threads = Math.max(1, Math.min(availableParallelism(), Math.ceil(count / 100_000)));
  const per = Math.ceil(count / threads);
  // Where each thread's first BSN is: counting valid heads is cheap next to an HMAC.
  const jobs: PseudonymJob[] = [];
  let head = FIRST_HEAD;
  for (let i = 0; i < skip; i++) head = nextValidHead(head) + 1;
  for (let t = 0, done = 0; done < count; t++) {
    const n = Math.min(per, count - done);
    jobs.push({
      memory,
      offset: done * PSEUDONYM_BYTES,
      firstHead: head,
      count: n,
      networkKey: new Uint8Array(networkKey),
    });
    for (let i = 0; i < n; i++) head = nextValidHead(head) + 1;
    done += n;
  }
  await Promise.all(
    jobs.map(
      (job) =>
        new Promise<void>((resolve, reject) => {
          const w = new Worker(new URL(import.meta.url), { workerData: { job } });
          w.once('error', reject);
          w.once('exit', (code) =>
            code === 0 ? resolve() : reject(new Error(`pseudonym worker exited with ${code}`)),
          );
        }),
    ),
  );
  return Buffer.from(memory);
}

/**
 * Patient numbers in the order of their pseudonyms. A typed-array sort on the first bits of each pseudonym with the
 * number in the low bits; the few pairs that share those first bits are then put in order by their whole pseudonym.
 */
export function pseudonymOrder(pseudonyms: Buffer): Uint32Array {
  const count = pseudonyms.length / PSEUDONYM_BYTES;
  const indexBits = Math.max(1, Math.ceil(Math.log2(count + 1)));
  if (indexBits > 32) throw new RangeError('more patients than a 32-bit number counts');
  const bits = BigInt(indexBits);
  const keys = new BigUint64Array(count);
  for (let i = 0; i < count; i++)
    keys[i] = ((pseudonyms.readBigUInt64BE(i * PSEUDONYM_BYTES) >> bits) << bits) | BigInt(i);
  keys.sort();
  const mask = (1n << bits) - 1n;
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = Number((keys[i] ?? 0n) & mask);
  const at = (i: number): Buffer =>
    pseudonyms.subarray((order[i] ?? 0) * PSEUDONYM_BYTES, ((order[i] ?? 0) + 1) * PSEUDONYM_BYTES);
  for (let i = 1; i < count; i++) {
    if ((keys[i] ?? 0n) >> bits !== (keys[i - 1] ?? 0n) >> bits) continue;
    for (let j = i; j > 0 && Buffer.compare(at(j - 1), at(j)) > 0; j--) {
      const t = order[j] ?? 0;
      order[j] = order[j - 1] ?? 0;
      order[j - 1] = t;
    }
  }
  return order;
}

export type ConsentProfile = 'permit-all-hospitals' | 'permit-but-deny-one' | 'none';

export interface PatientProfile {
  /** Indexes into HOSPITALS, distinct: where the patient is known. */
  hospitals: number[];
  consent: ConsentProfile;
}

/** A 32-bit mix of the patient number (splitmix-style), so profiles are fixed without storing them. */
function mix(i: number, salt: number): number {
  let x = (i ^ Math.imul(salt, 0x9e3779b9)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * Half the patients are known at one hospital, a third at two, the rest at three. Three in four permit every hospital
 * to release their imaging; one in ten does too but denies the first hospital that knows them; the others gave no
 * consent, so nobody is named to a requester for them.
 */
export function profileOf(i: number): PatientProfile {
  const r = mix(i, 1) % 100;
  const n = r < 50 ? 1 : r < 85 ? 2 : 3;
  const hospitals: number[] = [];
  for (let salt = 2; hospitals.length < n; salt++) {
    const h = mix(i, salt) % HOSPITALS.length;
    if (!hospitals.includes(h)) hospitals.push(h);
  }
  const c = mix(i, 99) % 100;
  return { hospitals, consent: c < 75 ? 'permit-all-hospitals' : c < 85 ? 'permit-but-deny-one' : 'none' };
}
