// SIGKILL during ingest: the node runs as its own process and is killed at random moments while a modality stores
// into it. After each restart every acknowledged instance is there, its file decrypts and matches its digest, and no
// orphan file or temporary file is left. An acknowledgement means durable.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Dataset, newUid, SopClass, Tag, TransferSyntax, writeDataset } from '../../src/dicom/index.ts';
import { Association, Status } from '../../src/dimse/index.ts';
import { silentLogger } from '../../src/log/index.ts';
import { openEmbeddedStore, readEncryptionKeyFile } from '../../src/store/index.ts';
import { StudyService } from '../../src/studies/index.ts';
import { spawnNode, startNodeProcess } from '../../bench/our-node.ts';
import { freePort } from '../support/net.ts';
import { tempDir } from '../support/tmp.ts';

const ROUNDS = Number(process.env['KILL_ROUNDS'] ?? 6);
const pixels = Buffer.alloc(300_000, 7);

function instance(studyUid: string, uid: string): Buffer {
  const ds = new Dataset()
    .set(Tag.SOPClassUID, 'UI', SopClass.SecondaryCaptureImageStorage)
    .set(Tag.SOPInstanceUID, 'UI', uid)
    .set(Tag.PatientID, 'LO', 'KILL-1')
    .set(Tag.StudyInstanceUID, 'UI', studyUid)
    .set(Tag.SeriesInstanceUID, 'UI', `${studyUid}.1`)
    .set(Tag.PixelData, 'OB', pixels);
  return writeDataset(ds, TransferSyntax.ExplicitVRLittleEndian);
}

test(`SIGKILL during ingest, ${ROUNDS} times: every acknowledged instance survives intact, nothing orphaned`, async (t) => {
  const dir = tempDir(t, 'beeldbrug-kill-');
  const port = await freePort();
  const first = await spawnNode({ aeTitle: 'KILLTEST', port, dir, peers: [{ aeTitle: 'MODALITY', host: '127.0.0.1', description: 'test modality' }] });
  await first.stop();
  const studyUid = newUid();
  const acknowledged: string[] = [];

  for (let round = 0; round < ROUNDS; round++) {
    const node = await startNodeProcess('KILLTEST', port, dir, join(dir, 'beeldbrug.yaml'));
    t.after(() => node.stop('SIGKILL'));
    const assoc = await Association.connect({
      host: '127.0.0.1',
      port,
      callingAeTitle: 'MODALITY',
      calledAeTitle: 'KILLTEST',
      presentationContexts: [{ abstractSyntax: SopClass.SecondaryCaptureImageStorage, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] }],
    });
    const killAt = 50 + Math.floor(Math.random() * 400);
    const timer = setTimeout(() => node.child.kill('SIGKILL'), killAt);
    try {
      for (;;) {
        const uid = newUid();
        if ((await assoc.store({ sopClassUid: SopClass.SecondaryCaptureImageStorage, sopInstanceUid: uid, transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian, data: instance(studyUid, uid) })) === Status.Success) {
          acknowledged.push(uid);
        }
      }
    } catch {
      // the node died under us: that is the point
    } finally {
      clearTimeout(timer);
      assoc.abort();
      await node.stop('SIGKILL');
    }
  }
  assert.ok(acknowledged.length > ROUNDS, `instances were acknowledged before the kills (${acknowledged.length})`);

  const store = await openEmbeddedStore({ dataDir: join(dir, 'data'), encryptionKey: readEncryptionKeyFile(join(dir, 'keys', 'store.key')) });
  t.after(() => store.close());
  // What a restart does: settle the store, then index again every durable blob whose index commit the kill cut off.
  const recovery = await new StudyService({ store, logger: silentLogger(), retrieveAeTitle: 'X' }).recover();
  assert.deepEqual(recovery.missingBlobs, [], 'no indexed instance lacks its file');
  assert.deepEqual(recovery.unreadable, [], 'every blob on disk was readable');
  t.diagnostic(`recovery: ${recovery.tempFilesRemoved} temp files removed, ${recovery.tempFilesCompleted} completed, ${recovery.reindexed} instances indexed again`);
  for (const uid of acknowledged) {
    const stored = store.index.getInstance(uid);
    assert.ok(stored !== undefined, `acknowledged ${uid} is indexed`);
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of store.blobs.open(stored.blob.blobId) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    assert.equal(size, stored.blob.size);
    assert.equal(hash.digest('hex'), stored.blob.sha256, `${uid} decrypts to what was acknowledged`);
  }
  const files = readdirSync(join(dir, 'data', 'blobs'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
  assert.deepEqual(new Set(files), store.index.referencedBlobIds(), 'exactly the indexed blobs are on disk, nothing unindexed');
  assert.deepEqual(readdirSync(join(dir, 'data', 'tmp')), [], 'no temporary file remains');
});
