import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { mountTmpfs } from '../../test/support/tmpfs.ts';
import { blobKey, encodeHeader, HEADER_SIZE, SEALED_SEGMENT_SIZE, SEGMENT_SIZE, sealSegment } from './blob-format.ts';
import { keyIdOf } from './encryption-key.ts';
import { CHUNK_BYTES } from './blob-read-pool.ts';
import { FsBlobStore } from './fs-blob-store.ts';
import { asStoreError, StoreError } from './store-error.ts';
import { readAll, readUntilError, testKey, writeBlob, strayTempFiles } from './store-test-support.ts';

const opened: FsBlobStore[] = [];
after(async () => {
  for (const s of opened) await s.close();
});

async function storeIn(dir: string, key = testKey()): Promise<FsBlobStore> {
  const s = new FsBlobStore(dir, key);
  await s.init();
  opened.push(s);
  return s;
}

function pathOf(dir: string, id: string): string {
  return join(dir, 'blobs', id.slice(0, 2), id);
}

function assertCode(err: unknown, code: string): void {
  assert.ok(err instanceof StoreError, `expected a StoreError, got ${String(err)}`);
  assert.equal(err.code, code);
}

test('round trip: odd chunk sizes, sizes around segment boundaries, sha256 and size', async (t) => {
  const dir = tempDir(t);
  const blobs = await storeIn(dir);
  for (const size of [
    0,
    1,
    SEGMENT_SIZE - 1,
    SEGMENT_SIZE,
    SEGMENT_SIZE + 1,
    3 * SEGMENT_SIZE,
    520_000,
    3 * 1024 * 1024 + 5,
  ]) {
    const data = randomBytes(size);
    const ref = await writeBlob(blobs, data, [1, 7, 4093, 65537, 100_000]);
    assert.match(ref.blobId, /^[0-9a-f]{32}$/);
    assert.equal(ref.size, size);
    assert.equal(ref.sha256, createHash('sha256').update(data).digest('hex'));
    assert.deepEqual(strayTempFiles(dir, blobs), [], 'no temp file after commit');
    assert.ok(
      readFileSync(pathOf(dir, ref.blobId)).indexOf(data.subarray(0, 64)) === -1 || size < 64,
      'stored encrypted',
    );
    assert.deepEqual(await readAll(blobs.open(ref.blobId)), data, `size ${size}`);
  }
});

test('writers interleaved chunk by chunk each get their own bytes and digest', async (t) => {
  const blobs = await storeIn(tempDir(t));
  // Sizes on both sides of what a writer holds back from the digest until commit (1 MiB).
  const datas = [randomBytes(520_000), randomBytes(2 * 1024 * 1024 + 3), randomBytes(SEGMENT_SIZE + 1)];
  const writers = await Promise.all(datas.map(() => blobs.create()));
  const chunk = 40_000;
  for (let at = 0; datas.some((d) => at < d.length); at += chunk) {
    await Promise.all(
      writers.map((w, i) => (at < datas[i]!.length ? w.write(datas[i]!.subarray(at, at + chunk)) : Promise.resolve())),
    );
  }
  const refs = await Promise.all(writers.map((w) => w.commit()));
  for (const [i, ref] of refs.entries()) {
    assert.equal(ref.sha256, createHash('sha256').update(datas[i]!).digest('hex'), `writer ${i}`);
    assert.deepEqual(await readAll(blobs.open(ref.blobId)), datas[i], `writer ${i}`);
  }
});

test('open from `start` seeks by segment and returns the exact tail', async (t) => {
  const blobs = await storeIn(tempDir(t));
  const data = randomBytes(3 * SEGMENT_SIZE + 123);
  const ref = await writeBlob(blobs, data, [10_000]);
  for (const start of [
    0,
    1,
    132,
    SEGMENT_SIZE - 1,
    SEGMENT_SIZE,
    SEGMENT_SIZE + 1,
    3 * SEGMENT_SIZE,
    data.length - 1,
    data.length,
  ]) {
    assert.deepEqual(await readAll(blobs.open(ref.blobId, { start })), data.subarray(start), `start ${start}`);
  }
  assertCode((await readUntilError(blobs.open(ref.blobId, { start: data.length + 1 }))).error, 'RANGE_INVALID');
  assertCode((await readUntilError(blobs.open(ref.blobId, { start: -1 }))).error, 'RANGE_INVALID');
  // Larger than one read of the reader (about a MB): a start past it, and the whole blob across several reads.
  const big = randomBytes(40 * SEGMENT_SIZE + 7);
  const bigRef = await writeBlob(blobs, big, [100_000]);
  for (const start of [0, 16 * SEGMENT_SIZE + 3, 33 * SEGMENT_SIZE, big.length - 1])
    assert.deepEqual(await readAll(blobs.open(bigRef.blobId, { start })), big.subarray(start), `start ${start}`);
});

test('reading runs in a reader thread: a header reader decrypts little, and a reader that stops early closes the file', async (t) => {
  const blobs = await storeIn(tempDir(t));
  const data = randomBytes(40 * SEGMENT_SIZE + 7);
  const ref = await writeBlob(blobs, data, [SEGMENT_SIZE * 3]);
  const openFiles = (): number => readdirSync('/proc/self/fd').length;
  // The reader threads start on first use (at most four), each with descriptors of its own event loop.
  for (let i = 0; i < 4; i++) assert.equal((await readAll(blobs.open(ref.blobId))).length, data.length);
  const before = openFiles();

  // A small step for the start of a blob (a header); the default step is about a MB.
  const small = blobs.open(ref.blobId, { chunkBytes: SEGMENT_SIZE }) as AsyncIterable<Buffer>;
  for await (const chunk of small) {
    assert.deepEqual(chunk, data.subarray(0, SEGMENT_SIZE));
    break;
  }
  const whole = blobs.open(ref.blobId) as AsyncIterable<Buffer>;
  for await (const chunk of whole) {
    assert.equal(chunk.length, 16 * SEGMENT_SIZE);
    break;
  }

  // Two large blobs read in turns, piece by piece: the reader thread's buffer is shared, and neither gets the other's.
  const other = randomBytes(40 * SEGMENT_SIZE + 11);
  const otherRef = await writeBlob(blobs, other, [SEGMENT_SIZE * 5]);
  const a = (blobs.open(ref.blobId) as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const b = (blobs.open(otherRef.blobId) as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const got: [Buffer[], Buffer[]] = [[], []];
  for (let more = true; more;) {
    more = false;
    for (const [i, it] of [a, b].entries()) {
      const next = await it.next();
      if (next.done !== true) {
        got[i]?.push(next.value);
        more = true;
      }
    }
  }
  assert.deepEqual(Buffer.concat(got[0]), data);
  assert.deepEqual(Buffer.concat(got[1]), other);

  // Twenty readers that each take one piece and stop: the reader thread closes every file they left open.
  for (let i = 0; i < 20; i++) {
    const stream = blobs.open(ref.blobId, { start: i * 1000 }) as AsyncIterable<Buffer>;
    for await (const chunk of stream) {
      assert.deepEqual(chunk.subarray(0, 1000), data.subarray(i * 1000, i * 1000 + 1000));
      break;
    }
  }
  // A reader thread takes its messages in order, and reads go to the threads in turn (at most four): once four more
  // reads are answered, every thread has handled the close requests sent before them.
  for (let i = 0; i < 4; i++) assert.deepEqual(await readAll(blobs.open(ref.blobId)), data);
  assert.equal(openFiles(), before);
});

test('pieces handed back are filled again for later reads: every blob still reads back exactly, and a handed-back piece is emptied', async (t) => {
  const s = await storeIn(tempDir(t));
  const datas = [randomBytes(3 * CHUNK_BYTES + 12345), randomBytes(CHUNK_BYTES / 2), randomBytes(5 * CHUNK_BYTES)];
  const refs = [];
  for (const d of datas) refs.push(await writeBlob(s, d));
  const givenBack: Buffer[] = [];
  for (const [k, ref] of refs.entries()) {
    const copies: Buffer[] = [];
    for await (const chunk of s.open(ref.blobId)) {
      const piece = chunk as Buffer;
      // Pieces of the usual size travel in buffers of exactly CHUNK_BYTES, so that they can come back.
      assert.equal(piece.buffer.byteLength, CHUNK_BYTES);
      copies.push(Buffer.from(piece));
      s.giveBack(piece);
      givenBack.push(piece);
    }
    assert.ok(Buffer.concat(copies).equals(datas[k]!), `blob ${k} reads back exactly after others were handed back`);
  }
  // Handed over to a reader thread with a later request: nothing of the bytes is left in the old view.
  assert.ok(
    givenBack.some((b) => b.length === 0),
    'some handed-back pieces went back to the reader thread',
  );
  // Twice, or something that never came from a reader: left alone.
  const mine = Buffer.alloc(CHUNK_BYTES, 7);
  s.giveBack(mine);
  s.giveBack(givenBack[0]!);
  assert.deepEqual(await readAll(s.open(refs[1]!.blobId)), datas[1]);
  assert.equal(mine.length, CHUNK_BYTES);
  assert.equal(mine[0], 7);
});

test('a blob that fits exactly in whole segments reads back, also from its end', async (t) => {
  const blobs = await storeIn(tempDir(t));
  const data = randomBytes(2 * SEGMENT_SIZE);
  const ref = await writeBlob(blobs, data, [SEGMENT_SIZE]);
  assert.deepEqual(await readAll(blobs.open(ref.blobId)), data);
  assert.equal((await readAll(blobs.open(ref.blobId, { start: data.length }))).length, 0);
});

test('tampering: a flipped ciphertext byte stops the stream before that segment, with BLOB_CORRUPT', async (t) => {
  const dir = tempDir(t);
  const blobs = await storeIn(dir);
  const data = randomBytes(4 * SEGMENT_SIZE + 5);
  const ref = await writeBlob(blobs, data);
  const file = pathOf(dir, ref.blobId);
  flip(file, HEADER_SIZE + 2 * SEALED_SEGMENT_SIZE + 100);
  const { data: got, error } = await readUntilError(blobs.open(ref.blobId));
  assertCode(error, 'BLOB_CORRUPT');
  // Only verified plaintext was delivered: exactly the two segments before the bad one.
  assert.deepEqual(got, data.subarray(0, got.length));
  assert.ok(got.length <= 2 * SEGMENT_SIZE);
});

test('tampering: flipped tag, flipped header, truncation, appended data and swapped segments all fail', async (t) => {
  const dir = tempDir(t);
  const blobs = await storeIn(dir);
  const data = randomBytes(3 * SEGMENT_SIZE + 500);
  const cases: [string, (file: string) => void][] = [
    ['tag byte', (f) => flip(f, HEADER_SIZE + SEALED_SEGMENT_SIZE - 1)],
    ['salt in header', (f) => flip(f, 50)],
    ['nonce prefix in header', (f) => flip(f, 62)],
    ['truncated at a segment boundary', (f) => truncateSync(f, HEADER_SIZE + 3 * SEALED_SEGMENT_SIZE)],
    ['truncated inside a segment', (f) => truncateSync(f, HEADER_SIZE + 3 * SEALED_SEGMENT_SIZE + 100)],
    ['truncated to the header', (f) => truncateSync(f, HEADER_SIZE)],
    ['appended bytes', (f) => appendFileSync(f, randomBytes(SEALED_SEGMENT_SIZE))],
    [
      'segments 0 and 1 swapped',
      (f) => {
        const b = readFileSync(f);
        const s0 = Buffer.from(b.subarray(HEADER_SIZE, HEADER_SIZE + SEALED_SEGMENT_SIZE));
        b.copy(b, HEADER_SIZE, HEADER_SIZE + SEALED_SEGMENT_SIZE, HEADER_SIZE + 2 * SEALED_SEGMENT_SIZE);
        s0.copy(b, HEADER_SIZE + SEALED_SEGMENT_SIZE);
        writeFileSync(f, b);
      },
    ],
    ['bad magic', (f) => flip(f, 0)],
    ['plaintext size in the trailer', (f) => flip(f, statSync(f).size - 1)],
    ['trailer cut off', (f) => truncateSync(f, statSync(f).size - 8)],
  ];
  for (const [name, damage] of cases) {
    const ref = await writeBlob(blobs, data);
    damage(pathOf(dir, ref.blobId));
    const { data: got, error } = await readUntilError(blobs.open(ref.blobId));
    assertCode(error, 'BLOB_CORRUPT');
    assert.deepEqual(got, data.subarray(0, got.length), `${name}: only genuine plaintext before the failure`);
    assert.ok(got.length < data.length, name);
  }
});

/** A version 1 blob as the first releases wrote it: no padding and no trailer, its size given by the file's length. */
async function writeVersion1(dir: string, storeKey: Buffer, data: Buffer): Promise<string> {
  const blobId = randomBytes(16).toString('hex');
  const salt = randomBytes(16);
  const noncePrefix = randomBytes(8);
  const header = encodeHeader({
    keyId: keyIdOf(storeKey),
    blobId,
    salt,
    noncePrefix,
    segmentSize: SEGMENT_SIZE,
    version: 1,
  });
  const key = await blobKey(storeKey, salt, blobId);
  const parts = [header];
  const count = Math.max(1, Math.ceil(data.length / SEGMENT_SIZE));
  for (let i = 0; i < count; i += 1) {
    parts.push(
      ...sealSegment(
        key,
        header,
        noncePrefix,
        i,
        i === count - 1,
        data.subarray(i * SEGMENT_SIZE, (i + 1) * SEGMENT_SIZE),
      ),
    );
  }
  mkdirSync(join(dir, 'blobs', blobId.slice(0, 2)), { recursive: true });
  writeFileSync(pathOf(dir, blobId), Buffer.concat(parts));
  return blobId;
}

test('version 1 blobs (unpadded, written before this release) still read, from any start, and their damage is still found', async (t) => {
  const dir = tempDir(t);
  const key = testKey();
  const blobs = await storeIn(dir, key);
  for (const size of [0, 5000, 2 * SEGMENT_SIZE, 3 * SEGMENT_SIZE + 7]) {
    const data = randomBytes(size);
    const id = await writeVersion1(dir, key, data);
    assert.deepEqual(await readAll(blobs.open(id)), data, `size ${size}`);
    const start = Math.min(size, SEGMENT_SIZE + 1);
    assert.deepEqual(await readAll(blobs.open(id, { start })), data.subarray(start), `size ${size} from ${start}`);
  }
  const data = randomBytes(3 * SEGMENT_SIZE + 7);
  const truncated = await writeVersion1(dir, key, data);
  truncateSync(pathOf(dir, truncated), HEADER_SIZE + 3 * SEALED_SEGMENT_SIZE);
  assertCode((await readUntilError(blobs.open(truncated))).error, 'BLOB_CORRUPT');
  const flipped = await writeVersion1(dir, key, data);
  flip(pathOf(dir, flipped), HEADER_SIZE + 3 * SEALED_SEGMENT_SIZE + 3);
  assertCode((await readUntilError(blobs.open(flipped))).error, 'BLOB_CORRUPT');
});

test('a blob file moved under another id is refused', async (t) => {
  const dir = tempDir(t);
  const blobs = await storeIn(dir);
  const a = await writeBlob(blobs, randomBytes(1000));
  const b = await writeBlob(blobs, randomBytes(1000));
  renameSync(pathOf(dir, a.blobId), pathOf(dir, b.blobId));
  assertCode((await readUntilError(blobs.open(b.blobId))).error, 'BLOB_CORRUPT');
});

test('wrong key gives KEY_MISMATCH and no plaintext', async (t) => {
  const dir = tempDir(t);
  const ref = await writeBlob(await storeIn(dir), randomBytes(5000));
  const { data, error } = await readUntilError((await storeIn(dir)).open(ref.blobId));
  assertCode(error, 'KEY_MISMATCH');
  assert.equal(data.length, 0);
});

test('missing blob, invalid id, idempotent delete, list', async (t) => {
  const dir = tempDir(t);
  const blobs = await storeIn(dir);
  assertCode((await readUntilError(blobs.open('0'.repeat(32)))).error, 'BLOB_NOT_FOUND');
  assertCode((await readUntilError(blobs.open('../../etc/passwd'))).error, 'BLOB_ID_INVALID');
  await assert.rejects(blobs.delete('../x'), (e) => e instanceof StoreError && e.code === 'BLOB_ID_INVALID');
  const a = await writeBlob(blobs, randomBytes(10));
  const b = await writeBlob(blobs, randomBytes(10));
  const listed: string[] = [];
  for await (const id of blobs.list()) listed.push(id);
  assert.deepEqual(listed.sort(), [a.blobId, b.blobId].sort());
  await blobs.delete(a.blobId);
  await blobs.delete(a.blobId);
  assert.equal(existsSync(pathOf(dir, a.blobId)), false);
});

test('abort removes the temp file; a closed writer refuses more work', async (t) => {
  const dir = tempDir(t);
  const blobs = await storeIn(dir);
  const w = await blobs.create();
  await w.write(randomBytes(200_000));
  const before = readdirSync(join(dir, 'tmp'));
  assert.ok(before.length >= 1 && before.every((name) => blobs.isInFlight(name.replace(/\.tmp$/, ''))));
  await w.abort();
  await w.abort();
  assert.deepEqual(strayTempFiles(dir, blobs), []);
  assert.ok(readdirSync(join(dir, 'tmp')).length <= 1, 'at most the spare for the next blob');
  await assert.rejects(w.write(Buffer.from('x')), (e) => e instanceof StoreError && e.code === 'WRITER_CLOSED');
  const w2 = await blobs.create();
  await w2.commit();
  await assert.rejects(w2.commit(), (e) => e instanceof StoreError && e.code === 'WRITER_CLOSED');
});

test('ENOSPC and EDQUOT map to DISK_FULL, other errors to IO', () => {
  const enospc = Object.assign(new Error('no space'), { code: 'ENOSPC' });
  assert.equal(asStoreError(enospc, 'x').code, 'DISK_FULL');
  assert.equal(asStoreError(Object.assign(new Error('q'), { code: 'EDQUOT' }), 'x').code, 'DISK_FULL');
  assert.equal(
    asStoreError(Object.assign(new Error('full'), { code: 'ERR_SQLITE_ERROR', errcode: 13 }), 'x').code,
    'DISK_FULL',
  );
  assert.equal(asStoreError(Object.assign(new Error('io'), { code: 'EIO' }), 'x').code, 'IO');
});

test('a full disk surfaces as DISK_FULL and leaves no temp file (root: small tmpfs)', async (t) => {
  const mnt = mountTmpfs(t, '1m');
  if (mnt === undefined) return;
  const blobs = await storeIn(mnt);
  const w = await blobs.create();
  const err = await (async () => {
    try {
      for (let i = 0; i < 64; i += 1) await w.write(randomBytes(64 * 1024));
      await w.commit();
      return undefined;
    } catch (e) {
      return e;
    }
  })();
  assertCode(err, 'DISK_FULL');
  await blobs.close();
  assert.equal(readdirSync(join(mnt, 'tmp')).length, 0, 'neither the failed write nor the spare is left');
});

function flip(file: string, at: number): void {
  const b = readFileSync(file);
  b[at] = (b[at] ?? 0) ^ 0x80;
  writeFileSync(file, b);
}
