// Direct I/O in the blob writer: whole aligned blocks go out with O_DIRECT from page-aligned slots, everything else
// through the page cache at its own offset. On a file system that enforces O_DIRECT alignment (ext4, xfs) a misaligned
// address, offset or length fails with EINVAL, so these round trips also prove the alignment.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { constants, readdirSync, statSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { AlignedSlots, DIRECT_IO_ALIGNMENT, DIRECT_SLOT_BYTES } from './aligned-slots.ts';
import { BLOB_ALIGNMENT, blobKey, HEADER_SIZE, SEGMENT_SIZE, TAG_SIZE, TRAILER_SIZE } from './blob-format.ts';
import { openBlobStream, startBlobReaders } from './blob-read-pool.ts';
import { FsBlobStore } from './fs-blob-store.ts';
import { FsBlobWriter } from './fs-blob-writer.ts';
import { keyIdOf } from './encryption-key.ts';
import { StoreError } from './store-error.ts';
import { readAll, strayTempFiles, testKey, writeBlob } from './store-test-support.ts';

/** Opens a temp file the way the store does: with O_DIRECT where the file system takes it. */
async function openTemp(dir: string, path: string): Promise<FileHandle> {
  const probe = new FsBlobStore(join(dir, 'probe'), testKey());
  await probe.init();
  const direct = probe.writesDirect ? constants.O_DIRECT : 0;
  await probe.close();
  return open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | direct, 0o600);
}

/** Plaintext size whose sealed segments and trailer are exactly `fileBytes` long, so the file needs no padding. */
function plainSizeFor(fileBytes: number): number {
  const body = fileBytes - HEADER_SIZE - TRAILER_SIZE;
  const segments = Math.ceil(body / (SEGMENT_SIZE + TAG_SIZE));
  return body - segments * TAG_SIZE;
}

test('the data folder on this file system takes direct writes, and blobs ending on and around block and slot edges read back', async (t) => {
  const dir = tempDir(t);
  const blobs = new FsBlobStore(dir, testKey());
  await blobs.init();
  t.after(() => blobs.close());
  // The CI machine keeps its temp folder on ext4, which takes O_DIRECT and enforces its alignment.
  if (process.env['CI'] === 'true') assert.ok(blobs.writesDirect, 'the store writes with direct I/O here');
  t.diagnostic(`direct I/O: ${blobs.writesDirect}`);
  const slot = DIRECT_SLOT_BYTES;
  const edges = [DIRECT_IO_ALIGNMENT, 2 * DIRECT_IO_ALIGNMENT, slot, 2 * slot, 5 * slot + DIRECT_IO_ALIGNMENT];
  const sizes = [0, 1, ...edges.flatMap((e) => [plainSizeFor(e) - 1, plainSizeFor(e), plainSizeFor(e) + 1]), 5_000_000];
  for (const size of sizes) {
    const data = randomBytes(size);
    const ref = await writeBlob(blobs, data, [65536, 3, 16384, 100_003]);
    assert.equal(ref.sha256, createHash('sha256').update(data).digest('hex'));
    assert.deepEqual(await readAll(blobs.open(ref.blobId)), data, `size ${size}`);
    const fileSize = statSync(join(dir, 'blobs', ref.blobId.slice(0, 2), ref.blobId)).size;
    assert.equal(
      fileSize % BLOB_ALIGNMENT,
      0,
      `size ${size}: the file ends on a block boundary, so every write could go direct`,
    );
  }
  assert.equal(BLOB_ALIGNMENT % DIRECT_IO_ALIGNMENT, 0);
});

test('a writer whose slot pool runs dry part-way finishes the blob through the page cache, and every slot comes back', async (t) => {
  const dir = tempDir(t);
  const key = testKey();
  const slots = new AlignedSlots({ slotBytes: 2 * DIRECT_IO_ALIGNMENT, slotsPerMemory: 8, maxMemories: 1 });
  // Another writer holds five of the eight slots, so this one gets three and then none.
  const held = Array.from({ length: 5 }, () => slots.take()!);
  const path = join(dir, 'blob.tmp');
  const blobId = randomBytes(16).toString('hex');
  const fh = await openTemp(dir, path);
  const final = join(dir, blobId);
  let finished = false;
  const salt = randomBytes(16);
  const secret = { salt, key: await blobKey(key, salt, blobId), noncePrefix: randomBytes(8) };
  const w = new FsBlobWriter(
    { fh, slots },
    { blobId, tempPath: path, finalPath: final, done: () => (finished = true) },
    secret,
    keyIdOf(key),
  );
  const data = randomBytes(300_001);
  for (let at = 0; at < data.length; at += 7_777) await w.write(data.subarray(at, at + 7_777));
  const ref = await w.commit();
  assert.ok(finished);
  assert.equal(ref.size, data.length);
  // The reader threads can be started ahead (as a node that sends studies does at start): reads go on as before.
  await startBlobReaders();
  assert.deepEqual(await readAll(openBlobStream(final, blobId, key, keyIdOf(key), 0)), data);
  for (const s of held) slots.give(s);
  const all = Array.from({ length: 8 }, () => slots.take());
  assert.ok(
    all.every((s) => s !== undefined && s.length === 2 * DIRECT_IO_ALIGNMENT),
    'all eight slots are back in the pool',
  );
  assert.equal(slots.take(), undefined, 'the pool does not grow past its cap');
});

test('an aborted direct writer gives its slot back and leaves no file', async (t) => {
  const dir = tempDir(t);
  const key = testKey();
  const slots = new AlignedSlots({ slotBytes: 16 * DIRECT_IO_ALIGNMENT, slotsPerMemory: 4, maxMemories: 1 });
  const path = join(dir, 'blob.tmp');
  const blobId = randomBytes(16).toString('hex');
  const fh = await openTemp(dir, path);
  const salt = randomBytes(16);
  const secret = { salt, key: await blobKey(key, salt, blobId), noncePrefix: randomBytes(8) };
  const w = new FsBlobWriter(
    { fh, slots },
    { blobId, tempPath: path, finalPath: join(dir, blobId), done: () => undefined },
    secret,
    keyIdOf(key),
  );
  await w.write(randomBytes(200_000));
  await w.abort();
  await assert.rejects(open(path, 'r'), { code: 'ENOENT' });
  assert.equal([slots.take(), slots.take(), slots.take(), slots.take()].filter((s) => s !== undefined).length, 4);
});

test('slots must tile whole WebAssembly pages of aligned blocks', () => {
  assert.throws(() => new AlignedSlots({ slotBytes: 1000, slotsPerMemory: 64, maxMemories: 1 }), RangeError);
  assert.throws(() => new AlignedSlots({ slotBytes: 4096, slotsPerMemory: 3, maxMemories: 1 }), RangeError);
});

test('an abort while a large write waits for the disk leaves the writer closed, and the write says so', async (t) => {
  const dir = tempDir(t);
  const blobs = new FsBlobStore(dir, testKey());
  await blobs.init();
  t.after(() => blobs.close());
  const w = await blobs.create();
  // More than the writer lets pile up, so this write waits for its writes to finish.
  const writing = w.write(randomBytes(3 * 1024 * 1024));
  // Expected before the abort: the write may fail while the abort is still under way.
  const refused = assert.rejects(writing, (e) => e instanceof StoreError && e.code === 'WRITER_CLOSED');
  await w.abort();
  await refused;
  await assert.rejects(w.commit(), (e) => e instanceof StoreError && e.code === 'WRITER_CLOSED');
  assert.ok(readdirSync(join(dir, 'tmp')).length <= 1, 'at most the spare for the next blob');
  assert.deepEqual(strayTempFiles(dir, blobs), [], 'the aborted blob left no file');
});
