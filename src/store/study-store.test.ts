import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { startPostgres } from '../../test/support/postgres.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { openPostgresPool } from '../database/index.ts';
import { openStudyStore } from './study-store.ts';
import { newInstance, readAll, testKey, writeBlob } from './store-test-support.ts';

test('the data folders are private (0700) and a stored instance reads back through the index', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const key = testKey();
  const store = await openStudyStore({ dataDir, encryptionKey: key });
  t.after(() => store.close());
  for (const d of ['', 'blobs', 'tmp']) assert.equal(statSync(join(dataDir, d)).mode & 0o777, 0o700, d);
  const data = randomBytes(300_000);
  const blob = await writeBlob(store.blobs, data, [12_345]);
  await store.index.recordInstance(newInstance(), blob, 132);
  const got = await store.index.getInstance('1.2.3.1.1.1');
  assert.ok(got !== undefined);
  assert.deepEqual(await readAll(store.blobs.open(got.blob.blobId, { start: got.datasetOffset })), data.subarray(132));
});

test('recover() settles every crash point: a cut-short write goes, a whole temp file moves into place, unindexed blobs are reported, removed ones deleted', async (t) => {
  const dataDir = tempDir(t);
  const key = testKey();
  const before = await openStudyStore({ dataDir, encryptionKey: key });
  // Crash points of an earlier process: mid-write (temp file), fdatasync'd but the rename lost to a power cut (a whole
  // temp file), after the rename but before the index commit (unindexed), an instance removed by retention whose blob
  // was not yet deleted, and an indexed blob that someone deleted by hand.
  const halfWritten = await before.blobs.create();
  await halfWritten.write(randomBytes(100_000));
  const unindexed = await writeBlob(before.blobs, randomBytes(2000));
  const renameLost = await writeBlob(before.blobs, randomBytes(70_000));
  renameSync(
    join(dataDir, 'blobs', renameLost.blobId.slice(0, 2), renameLost.blobId),
    join(dataDir, 'tmp', `${renameLost.blobId}.tmp`),
  );
  await before.index.recordInstance(newInstance({ sop: 'rename-lost' }), renameLost, 0);
  const kept = await writeBlob(before.blobs, randomBytes(2000));
  const lost = await writeBlob(before.blobs, randomBytes(2000));
  const purged = await writeBlob(before.blobs, randomBytes(2000));
  await before.index.recordInstance(newInstance({ sop: 'kept' }), kept, 0);
  await before.index.recordInstance(newInstance({ sop: 'lost' }), lost, 0);
  await before.index.recordInstance(newInstance({ sop: 'purged' }), purged, 0);
  assert.equal((await before.index.removeInstance('purged'))?.blob.blobId, purged.blobId);
  unlinkSync(join(dataDir, 'blobs', lost.blobId.slice(0, 2), lost.blobId));
  await before.close();
  await sleep(5);

  const store = await openStudyStore({ dataDir, encryptionKey: key });
  t.after(() => store.close());
  // A write in flight in this process while recovery runs is left alone.
  const live = await store.blobs.create();
  await live.write(randomBytes(10));
  assert.deepEqual(await store.recover(), {
    tempFilesRemoved: 1,
    tempFilesCompleted: 1,
    orphanBlobsRemoved: 1,
    unindexedBlobs: [unindexed.blobId],
    missingBlobs: [lost.blobId],
  });
  const listed: string[] = [];
  for await (const id of store.blobs.list()) listed.push(id);
  assert.deepEqual(listed.sort(), [kept.blobId, renameLost.blobId, unindexed.blobId].sort());
  assert.equal(
    (await readAll(store.blobs.open(renameLost.blobId))).length,
    70_000,
    'the whole temp file reads back under its id',
  );
  assert.deepEqual(await store.index.removedBlobIds(), new Set(), 'a removed blob is forgotten once it is gone');
  assert.equal(
    (await store.index.getInstance('lost'))?.blob.blobId,
    lost.blobId,
    'the row of a missing blob is kept for the operator',
  );
  assert.equal(
    readdirSync(join(dataDir, 'tmp')).length,
    2,
    'only the live temp file and the spare for the next write remain',
  );
  const liveRef = await live.commit();
  // Committed in this process but not yet indexed: a second recover() must not report it.
  assert.deepEqual((await store.recover()).unindexedBlobs, [unindexed.blobId]);
  assert.equal((await readAll(store.blobs.open(liveRef.blobId))).length, 10);
});

test('on PostgreSQL a second store keeps its index in a schema of its own (the quarantine beside the studies)', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const settings = await server.database('node');
  const key = testKey();
  const open = async (schema?: string) => {
    const pool = openPostgresPool(settings, { schema });
    const store = await openStudyStore({ dataDir: tempDir(t), encryptionKey: key, postgres: { pool, schema } });
    t.after(async () => {
      await store.close();
      await pool.end();
    });
    return store;
  };
  const studies = await open();
  const quarantine = await open('quarantine');
  await quarantine.index.recordInstance(newInstance(), await writeBlob(quarantine.blobs, randomBytes(1000)), 0);
  assert.equal((await quarantine.index.stats()).instances, 1);
  assert.equal((await studies.index.stats()).instances, 0, 'an upload in quarantine is not among the studies');
  await studies.index.recordInstance(newInstance(), await writeBlob(studies.blobs, randomBytes(1000)), 0);
  assert.equal((await studies.index.stats()).instances, 1, 'the same instance may be in both, each its own row');
  const reopened = await open('quarantine');
  assert.equal((await reopened.index.getInstance('1.2.3.1.1.1'))?.patient.patientId, 'P1', 'and stays there');
});
