import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeCtStudy } from '../synth/index.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { DicomError } from './errors.ts';
import { packInstance } from './packed-instance.ts';
import { packInstanceOffThread, startPackingThreads, unpackInstanceOffThread } from './packing-pool.ts';

test('on a packing thread: the same packed bytes as in-process, restored byte for byte, several at once', async (t) => {
  const study = await writeCtStudy({ outDir: join(tempDir(t), 'ct'), instances: 4, seed: 11 });
  const files = study.files.map((f) => readFileSync(f));
  const packed = await Promise.all(files.map((f) => packInstanceOffThread(f)));
  for (const [i, f] of files.entries()) {
    const p = packed[i];
    assert.ok(p !== undefined);
    assert.ok(p.equals((await packInstance(f)) ?? Buffer.alloc(0)), 'the thread packs as the main thread would');
    assert.ok((await unpackInstanceOffThread(p, 64 * 1024 * 1024)).equals(f), 'restored byte for byte');
  }
  // The input stays usable: what went to the thread was a copy.
  assert.equal(files[0]?.length, readFileSync(study.files[0] ?? '').length);
});

test('on a packing thread: what cannot be restored is the same DicomError; what does not pack is undefined', async () => {
  await assert.rejects(
    unpackInstanceOffThread(Buffer.from('not a packed instance at all'), 1024),
    (err: unknown) => err instanceof DicomError && err.code === 'BAD_VALUE' && /BBPK/.test(err.message),
  );
  assert.equal(await packInstanceOffThread(Buffer.from('DICM is not here')), undefined);
});

test('the packing threads start ahead of the first transfer, without data, and then pack as before', async (t) => {
  await startPackingThreads();
  await startPackingThreads(); // a second start finds them running
  const study = await writeCtStudy({ outDir: join(tempDir(t), 'ct'), instances: 1, seed: 12 });
  const file = readFileSync(study.files[0] ?? '');
  const packed = await packInstanceOffThread(file);
  assert.ok(packed !== undefined && packed.length < file.length);
  assert.ok((await unpackInstanceOffThread(packed, 64 * 1024 * 1024)).equals(file));
});
