/**
 * Test child for crash-recovery.test.ts: writes instances through the real store in a loop until it is killed, two at a
 * time (one on the event loop, one on a writer thread).
 * argv: dataDir, base64 key, run tag. Prints "ready" once the store is open, then one line per recorded instance.
 */
import { randomBytes } from 'node:crypto';
import { setBlobWriterThreads } from './blob-write-pool.ts';
import { openStudyStore } from './study-store.ts';
import { newInstance } from './store-test-support.ts';

const [dataDir, keyB64, tag] = process.argv.slice(2);
if (dataDir === undefined || keyB64 === undefined || tag === undefined)
  throw new Error('usage: crash-writer-child <dataDir> <key> <tag>');
setBlobWriterThreads(1);
const store = await openStudyStore({ dataDir, encryptionKey: Buffer.from(keyB64, 'base64') });
process.stdout.write('ready\n');
// Two instances at a time, as two associations send them: the second is written on a writer thread.
for (let n = 0; ; n += 2) {
  const writers = [await store.blobs.create(), await store.blobs.create()];
  const datas = writers.map(() => randomBytes(1000 + Math.floor(Math.random() * 300_000)));
  for (let at = 0; datas.some((d) => at < d.length); at += 40_000)
    for (const [i, w] of writers.entries())
      if (at < datas[i]!.length) await w.write(datas[i]!.subarray(at, at + 40_000));
  const blobs = await Promise.all(writers.map((w) => w.commit()));
  for (const [i, blob] of blobs.entries()) {
    const study = `1.2.${tag}.${(n + i) % 3}`;
    const x = newInstance({ study, series: `${study}.1`, sop: `${study}.1.${n + i}`, instanceNumber: n + i });
    await store.index.recordInstance(x, blob, 0);
    process.stdout.write(`${n + i}\n`);
  }
}
