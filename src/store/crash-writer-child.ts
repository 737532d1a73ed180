/**
 * Test child for crash-recovery.test.ts: writes instances through the real store in a loop until it is killed.
 * argv: dataDir, base64 key, run tag. Prints "ready" once the store is open, then one line per recorded instance.
 */
import { randomBytes } from 'node:crypto';
import { openStudyStore } from './study-store.ts';
import { newInstance } from './store-test-support.ts';

const [dataDir, keyB64, tag] = process.argv.slice(2);
if (dataDir === undefined || keyB64 === undefined || tag === undefined)
  throw new Error('usage: crash-writer-child <dataDir> <key> <tag>');
const store = await openStudyStore({ dataDir, encryptionKey: Buffer.from(keyB64, 'base64') });
process.stdout.write('ready\n');
for (let n = 0; ; n += 1) {
  const w = await store.blobs.create();
  const size = 1000 + Math.floor(Math.random() * 300_000);
  const data = randomBytes(size);
  for (let at = 0; at < size; at += 40_000) await w.write(data.subarray(at, at + 40_000));
  const blob = await w.commit();
  const study = `1.2.${tag}.${n % 3}`;
  const x = newInstance({ study, series: `${study}.1`, sop: `${study}.1.${n}`, instanceNumber: n });
  await store.index.recordInstance(x, blob, 0);
  process.stdout.write(`${n}\n`);
}
