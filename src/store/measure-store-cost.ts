/**
 * Prints what storing one instance costs on this machine: encrypt + hash + write + fdatasync + rename, and the index
 * transaction (WAL, synchronous=NORMAL), for a 520 KB instance fed in 16 KiB chunks as DIMSE delivers it. A measurement, not a test:
 *   node --disable-warning=ExperimentalWarning src/store/measure-store-cost.ts [count] [bytes] [dataDir]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openStudyStore } from './study-store.ts';
import { newInstance } from './store-test-support.ts';

const count = Number(process.argv[2] ?? 300);
const bytes = Number(process.argv[3] ?? 520_000);
const parent = process.argv[4] ?? tmpdir();
const dataDir = mkdtempSync(join(parent, 'beeldbrug-cost-'));
const chunk = 16 * 1024;
const data = randomBytes(bytes);
const store = await openStudyStore({ dataDir, encryptionKey: randomBytes(32) });
const total: number[] = [];
const blobPart: number[] = [];
const indexPart: number[] = [];
try {
  for (let n = 0; n < count + 20; n += 1) {
    const t0 = performance.now();
    const w = await store.blobs.create();
    for (let at = 0; at < bytes; at += chunk) await w.write(data.subarray(at, at + chunk));
    const blob = await w.commit();
    const t1 = performance.now();
    const study = `1.2.826.0.1.${Math.floor(n / 100)}`;
    await store.index.recordInstance(
      newInstance({ study, series: `${study}.1`, sop: `${study}.1.${n}`, instanceNumber: n }),
      blob,
      132,
    );
    const t2 = performance.now();
    if (n < 20) continue; // warm-up
    total.push(t2 - t0);
    blobPart.push(t1 - t0);
    indexPart.push(t2 - t1);
  }
} finally {
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
}

function summary(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `median ${at(0.5).toFixed(2)} ms, p90 ${at(0.9).toFixed(2)} ms, mean ${mean.toFixed(2)} ms`;
}
console.log(`${count} instances of ${bytes} bytes in ${chunk}-byte chunks under ${parent}`);
console.log(`  whole store path:                    ${summary(total)}`);
console.log(`  blob (encrypt, hash, write, fdatasync, rename): ${summary(blobPart)}`);
console.log(`  index transaction (synchronous=NORMAL): ${summary(indexPart)}`);
