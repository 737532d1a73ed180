import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { mountTmpfs } from '../../test/support/tmpfs.ts';
import { SEGMENT_SIZE } from './blob-format.ts';
import { setBlobWriterThreads, ThreadBlobWriter } from './blob-write-pool.ts';
import { FsBlobStore } from './fs-blob-store.ts';
import { StoreError } from './store-error.ts';
import { readAll, testKey, strayTempFiles } from './store-test-support.ts';
import type { BlobWriter } from './types.ts';

setBlobWriterThreads(2);
const opened: FsBlobStore[] = [];
after(async () => {
  for (const s of opened) await s.close();
});

async function storeIn(dir: string): Promise<FsBlobStore> {
  const s = new FsBlobStore(dir, testKey());
  await s.init();
  opened.push(s);
  return s;
}

async function writeAll(w: BlobWriter, data: Buffer, chunk: number): Promise<void> {
  for (let at = 0; at < data.length; at += chunk) await w.write(data.subarray(at, at + chunk));
}

test('while one blob is being written the next ones go to the writer threads, and every blob reads back exactly', async (t) => {
  const dir = tempDir(t);
  const blobs = await storeIn(dir);
  const first = await blobs.create();
  assert.ok(!(first instanceof ThreadBlobWriter), 'a blob alone is written on the event loop');
  // Empty, one byte, a segment and a byte, and more than the thread lets pile up before the sender waits (2 MiB).
  const datas = [Buffer.alloc(0), randomBytes(1), randomBytes(SEGMENT_SIZE + 1), randomBytes(5_000_003)];
  const others = await Promise.all(datas.map(() => blobs.create()));
  assert.ok(
    others.every((w) => w instanceof ThreadBlobWriter),
    'blobs created while another is written go to threads',
  );
  const firstData = randomBytes(300_000);
  await Promise.all([writeAll(first, firstData, 65_536), ...others.map((w, i) => writeAll(w, datas[i]!, 100_003))]);
  const refs = await Promise.all([first, ...others].map((w) => w.commit()));
  for (const [i, data] of [firstData, ...datas].entries()) {
    const ref = refs[i]!;
    assert.equal(ref.size, data.length, `blob ${i}`);
    assert.equal(ref.sha256, createHash('sha256').update(data).digest('hex'), `blob ${i}`);
    assert.deepEqual(await readAll(blobs.open(ref.blobId)), data, `blob ${i}`);
  }
  assert.deepEqual(strayTempFiles(dir, blobs), []);
  const again = await blobs.create();
  assert.ok(!(again instanceof ThreadBlobWriter), 'with nothing else being written, the event loop writes again');
  await again.abort();
});

test("a thread's blob aborted part-way leaves no file, and a closed writer refuses more work", async (t) => {
  const dir = tempDir(t);
  const blobs = await storeIn(dir);
  const first = await blobs.create();
  const w = await blobs.create();
  assert.ok(w instanceof ThreadBlobWriter);
  // More than the thread takes before the sender waits, so the write waits while the abort comes.
  const writing = w.write(randomBytes(3 * 1024 * 1024));
  const refused = assert.rejects(writing, (e) => e instanceof StoreError && e.code === 'WRITER_CLOSED');
  await w.abort();
  await refused;
  await assert.rejects(w.write(Buffer.from('x')), (e) => e instanceof StoreError && e.code === 'WRITER_CLOSED');
  await assert.rejects(w.commit(), (e) => e instanceof StoreError && e.code === 'WRITER_CLOSED');
  await first.abort();
  assert.deepEqual(strayTempFiles(dir, blobs), []);
});

test("a full disk under a thread's blob surfaces as DISK_FULL and leaves no temp file (root: small tmpfs)", async (t) => {
  const mnt = mountTmpfs(t, '1m');
  if (mnt === undefined) return;
  const blobs = await storeIn(mnt);
  const first = await blobs.create();
  const w = await blobs.create();
  assert.ok(w instanceof ThreadBlobWriter);
  const err = await writeAll(w, randomBytes(4 * 1024 * 1024), 64 * 1024)
    .then(() => w.commit())
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(err instanceof StoreError && err.code === 'DISK_FULL', `DISK_FULL, got ${String(err)}`);
  await w.abort();
  await first.abort();
  await blobs.close();
  assert.deepEqual(readdirSync(join(mnt, 'tmp')), [], 'neither the failed blob nor the spare is left');
});

test('a process that wrote blobs on the writer threads ends by itself: idle threads keep nothing alive', async (t) => {
  const dir = tempDir(t);
  const store = JSON.stringify(join(import.meta.dirname, 'fs-blob-store.ts'));
  const pool = JSON.stringify(join(import.meta.dirname, 'blob-write-pool.ts'));
  const script = `
    import { FsBlobStore } from ${store};
    import { setBlobWriterThreads } from ${pool};
    setBlobWriterThreads(1);
    const blobs = new FsBlobStore(${JSON.stringify(dir)}, Buffer.alloc(32, 7));
    await blobs.init();
    const writers = [await blobs.create(), await blobs.create()];
    for (const w of writers) await w.write(Buffer.alloc(100_000, 1));
    const refs = await Promise.all(writers.map((w) => w.commit()));
    console.log(refs.map((r) => r.size).join(' '));`;
  const path = join(dir, 'writes-two-blobs.mjs');
  writeFileSync(path, script);
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
  assert.equal(out.trim(), '100000 100000');
});
