// Blobs in Ceph's RADOS gateway (S3), written through the data folder: acknowledged once durable here, uploaded
// encrypted, readable from another node's data folder, deleted from both, what a stop left uploaded after start, and the
// data folder kept to its cache.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startObjectStorage } from '../../test/support/rgw.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { MAGIC } from './blob-format.ts';
import { FsBlobStore } from './fs-blob-store.ts';
import type { ObjectBlobStore } from './object-blob-store.ts';
import { StoreError } from './store-error.ts';
import { readAll, readUntilError, writeBlob } from './store-test-support.ts';
import { openStudyStore } from './study-store.ts';

test('blobs go to object storage encrypted, read back on another node, and are deleted from both', async (t) => {
  const rgw = await startObjectStorage(t);
  if (rgw === undefined) return;
  const settings = await rgw.bucket('beeldbrug-blobs');
  const key = randomBytes(32);
  const open = async (dataDir: string) => {
    const store = await openStudyStore({ dataDir, encryptionKey: key, objects: { settings, prefix: 'blobs/' } });
    t.after(() => store.close());
    await store.recover();
    return store;
  };
  const a = await open(join(tempDir(t), 'node-a'));
  const bDir = join(tempDir(t), 'node-b');
  const b = await open(bDir);

  // A recognisable plaintext of 20 MB: the upload goes in parts.
  const plain = Buffer.alloc(20 * 1024 * 1024);
  for (let i = 0; i < plain.length; i += 16) plain.write('PATIENT-Jansen^P', i, 'latin1');
  const ref = await writeBlob(a.blobs, plain, [65536, 1000, 300000]);
  await (a.blobs as ObjectBlobStore).drained();
  const object = await rgw.client.send(new GetObjectCommand({ Bucket: 'beeldbrug-blobs', Key: `blobs/${ref.blobId}` }));
  const stored = Buffer.from(await object.Body!.transformToByteArray());
  assert.ok(stored.subarray(0, 4).equals(MAGIC), 'the object is the blob as encrypted here');
  assert.equal(stored.indexOf('PATIENT-Jansen'), -1, 'the bucket never sees plaintext');

  const inB = join(bDir, 'blobs', ref.blobId.slice(0, 2), ref.blobId);
  const tail = await readAll(b.blobs.open(ref.blobId, { start: plain.length - 100_000 }));
  assert.ok(tail.equals(plain.subarray(plain.length - 100_000)), 'another node reads from any byte on');
  assert.ok(!existsSync(inB), 'by ranges of the object, without fetching all of it');
  const middle = await readAll(b.blobs.open(ref.blobId, { start: 65536 * 100 + 3 }));
  assert.ok(middle.equals(plain.subarray(65536 * 100 + 3)), 'from inside a segment');
  assert.ok((await readAll(b.blobs.open(ref.blobId))).equals(plain), 'and the whole blob');
  assert.ok(existsSync(inB), 'which the cache keeps');
  // Fetched once into B's data folder; readers after that read it there.
  assert.ok((await readAll(b.blobs.open(ref.blobId, { start: 7 }))).equals(plain.subarray(7)));

  // A byte changed in the bucket: a ranged read stops at that segment, before any of its bytes go out.
  const changed = Buffer.from(stored);
  const at = stored.length - 200_000;
  changed.writeUInt8(changed.readUInt8(at) ^ 1, at);
  await rgw.client.send(new PutObjectCommand({ Bucket: 'beeldbrug-blobs', Key: `blobs/${ref.blobId}`, Body: changed }));
  const c = await open(join(tempDir(t), 'node-c'));
  const spoilt = await readUntilError(c.blobs.open(ref.blobId, { start: plain.length - 300_000 }));
  assert.ok(spoilt.error instanceof StoreError && spoilt.error.code === 'BLOB_CORRUPT', String(spoilt.error));
  assert.ok(spoilt.data.length < 300_000 - 100_000, 'nothing from the changed segment on');
  assert.ok(spoilt.data.equals(plain.subarray(plain.length - 300_000, plain.length - 300_000 + spoilt.data.length)));
  await rgw.client.send(new PutObjectCommand({ Bucket: 'beeldbrug-blobs', Key: `blobs/${ref.blobId}`, Body: stored }));

  await b.blobs.delete(ref.blobId);
  await assert.rejects(
    rgw.client.send(new HeadObjectCommand({ Bucket: 'beeldbrug-blobs', Key: `blobs/${ref.blobId}` })),
    /NotFound/,
  );
  await b.blobs.delete(ref.blobId);
  await a.blobs.delete(ref.blobId);
  const gone = await readUntilError(a.blobs.open(ref.blobId));
  assert.ok(gone.error instanceof StoreError && gone.error.code === 'BLOB_NOT_FOUND', String(gone.error));
});

test('a blob a stop left in the data folder is uploaded after the next start; a bucket that is not there stops the start', async (t) => {
  const rgw = await startObjectStorage(t);
  if (rgw === undefined) return;
  const settings = await rgw.bucket('uploads-later');
  const key = randomBytes(32);
  const dataDir = join(tempDir(t), 'node');
  // Written as the node wrote it before the stop: durable in the data folder, never uploaded.
  const local = new FsBlobStore(dataDir, key);
  await local.init();
  const plain = randomBytes(300_000);
  const ref = await writeBlob(local, plain);
  await local.close();
  const path = join(dataDir, 'blobs', ref.blobId.slice(0, 2), ref.blobId);
  assert.equal(statSync(path).mode & 0o777, 0o600);

  const store = await openStudyStore({ dataDir, encryptionKey: key, objects: { settings, prefix: 'blobs/' } });
  t.after(() => store.close());
  await store.recover();
  await (store.blobs as ObjectBlobStore).drained();
  const object = await rgw.client.send(new GetObjectCommand({ Bucket: 'uploads-later', Key: `blobs/${ref.blobId}` }));
  assert.ok(Buffer.from(await object.Body!.transformToByteArray()).equals(readFileSync(path)));
  assert.equal(statSync(path).mode & 0o777, 0o400, 'marked as copied, still private');
  const listed: string[] = [];
  for await (const id of store.blobs.list()) listed.push(id);
  assert.deepEqual(listed, [ref.blobId]);

  await assert.rejects(
    openStudyStore({
      dataDir: join(tempDir(t), 'other'),
      encryptionKey: key,
      objects: { settings: { ...settings, bucket: 'no-such-bucket' }, prefix: 'blobs/' },
    }),
    (err: unknown) => err instanceof StoreError && /bucket no-such-bucket, cannot be used: NotFound/.test(err.message),
  );
});

test('the data folder keeps the cache, least recently used leaving first and never a blob being read; a start trims it', async (t) => {
  const rgw = await startObjectStorage(t);
  if (rgw === undefined) return;
  const settings = await rgw.bucket('cached-blobs');
  const key = randomBytes(32);
  const dataDir = join(tempDir(t), 'node');
  const open = async (cacheBytes: number) => {
    const store = await openStudyStore({
      dataDir,
      encryptionKey: key,
      objects: { settings, prefix: 'b/', cacheBytes },
    });
    await store.recover();
    return store;
  };
  /** The blobs whose files are in the data folder now. */
  const here = (): string[] =>
    readdirSync(join(dataDir, 'blobs'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort();

  // Room for three blobs of 300 kB (each a little larger as stored).
  const store = await open(1_000_000);
  const blobs = store.blobs as ObjectBlobStore;
  const plain = Array.from({ length: 7 }, () => randomBytes(300_000));
  const ids: string[] = [];
  const write = async (n: number): Promise<void> => {
    ids[n] = (await writeBlob(blobs, plain[n]!)).blobId;
    await blobs.drained();
  };
  await write(0);
  // A reader that has its first piece and has not finished: the least recently used, and kept all the same.
  const reading = blobs.open(ids[0]!, { chunkBytes: 65536 })[Symbol.asyncIterator]();
  const first = await reading.next();
  for (let n = 1; n < 6; n++) await write(n);
  assert.deepEqual(here(), [ids[0], ids[4], ids[5]].sort(), 'the oldest unread went; the one being read stayed');
  const rest: Buffer[] = [first.value as Buffer];
  for (let r = await reading.next(); r.done !== true; r = await reading.next()) rest.push(r.value as Buffer);
  assert.ok(Buffer.concat(rest).equals(plain[0]!), 'read whole');

  assert.ok((await readAll(blobs.open(ids[1]!))).equals(plain[1]!), 'a blob that left the cache reads from the bucket');
  assert.deepEqual(here(), [ids[1], ids[4], ids[5]].sort(), 'and comes back in, the least recently used going');
  assert.ok(blobs.cachedBytes <= 1_000_000);

  // A reader of a fetched blob that goes away mid-way (a dropped connection) does not keep its copy in the cache.
  const dropped = blobs.open(ids[2]!, { chunkBytes: 65536 });
  await once(dropped, 'data');
  (dropped as PassThrough).destroy();
  for (const n of [5, 1]) assert.ok((await readAll(blobs.open(ids[n]!))).equals(plain[n]!));
  await write(6);
  assert.deepEqual(here(), [ids[1], ids[5], ids[6]].sort(), 'the dropped one was the least recently used, and went');
  await store.close();

  // A start with a smaller cache keeps the most recently used (written last).
  const smaller = await open(400_000);
  t.after(() => smaller.close());
  assert.deepEqual(here(), [ids[6]]);
  for (const n of [4, 5]) assert.ok((await readAll(smaller.blobs.open(ids[n]!))).equals(plain[n]!));
});
