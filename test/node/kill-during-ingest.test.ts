// SIGKILL during ingest: the node runs as its own process, the way `beeldbrug start` runs in a hospital, and is killed
// at a random moment while two modalities store into it, then started again; KILL_ROUNDS times (50 by default, many
// more in `npm run soak`). A C-STORE success is an acknowledgement, and an acknowledgement means durable: after every
// kill each acknowledged instance is indexed and its file decrypts to exactly the bytes sent, and no index row lacks its
// file; every few rounds (and after the last) the store is settled as a start-up does and must then hold no orphan blob
// or temp file. The other kills are settled by the node's own start-up recovery.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { newUid, SopClass, TransferSyntax } from '../../src/dicom/index.ts';
import { Association, Status } from '../../src/dimse/index.ts';
import { silentLogger } from '../../src/log/index.ts';
import { openStudyStore, readEncryptionKeyFile, type Store } from '../../src/store/index.ts';
import { StudyService } from '../../src/studies/study-service.ts';
import { type NodeProcess, spawnNode, startNodeProcess } from '../../bench/our-node.ts';
import { freePort } from '../support/net.ts';
import { Steps } from '../support/steps.ts';
import { tempDir } from '../support/tmp.ts';
import { randomPixelsInstance } from '../support/dicom-files.ts';

const ROUNDS = Number(process.env['KILL_ROUNDS'] ?? 50);
/** Rounds between settling checks in the test; the node's own start-up recovery settles what the other kills left. */
const SETTLE_EVERY = 5;
/** Modalities storing at the same time, each on its own association. */
const MODALITIES = 2;
/**
 * The kill falls after a random number of acknowledgements in the round, from none (the first C-STOREs just went out)
 * to this many less one: counted in events, not milliseconds, so a slow machine shifts nothing.
 */
const KILL_AFTER_ACKS = 16;

function instance(studyUid: string, uid: string): Buffer {
  return randomPixelsInstance({ studyUid, uid, patientId: 'KILL-1', maxPixelBytes: 200_000 });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function decrypted(store: Store, blobId: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of store.blobs.open(blobId) as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);
}

test(`SIGKILL during ingest (${ROUNDS} kills): every acknowledged instance survives intact, nothing orphaned`, async (t) => {
  const started = Date.now();
  const dir = tempDir(t, 'beeldbrug-kill-');
  const dataDir = join(dir, 'data');
  const openStore = (): Promise<Store> =>
    openStudyStore({ dataDir, encryptionKey: readEncryptionKeyFile(join(dir, 'keys', 'store.key')) });
  const port = await freePort();
  const first = await spawnNode({
    aeTitle: 'KILLTEST',
    port,
    dir,
    peers: [{ aeTitle: 'MODALITY', host: '127.0.0.1', description: 'test modality' }],
  });
  await first.stop();
  let node: NodeProcess | undefined;
  t.after(() => node?.stop('SIGKILL'));
  const studyUid = newUid();
  /** SHA-256 of the data set bytes of every acknowledged instance, by SOP Instance UID. */
  const acknowledged = new Map<string, string>();
  const verified = new Set<string>();
  let kills = 0;
  let lost = 0;
  let orphans = 0;
  const totals = { inFlightAtKill: 0, tempFilesRemoved: 0, tempFilesCompleted: 0, reindexed: 0 };

  try {
    for (let round = 1; round <= ROUNDS; round++) {
      // The node's start-up recovery settles whatever the previous kill left before it accepts an association.
      const running = await startNodeProcess('KILLTEST', port, dir, join(dir, 'beeldbrug.yaml'));
      node = running;
      const associations = await Promise.all(
        Array.from({ length: MODALITIES }, () =>
          Association.connect({
            host: '127.0.0.1',
            port,
            callingAeTitle: 'MODALITY',
            calledAeTitle: 'KILLTEST',
            presentationContexts: [
              {
                abstractSyntax: SopClass.SecondaryCaptureImageStorage,
                transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
              },
            ],
          }),
        ),
      );
      const inFlight = new Set<string>();
      const failures: string[] = [];
      let storing = 0;
      let killed = false;
      const killAfter = Math.floor(Math.random() * KILL_AFTER_ACKS);
      let acksThisRound = 0;
      const steps = new Steps();
      const modalities = associations.map(async (assoc) => {
        storing += 1;
        try {
          while (!killed) {
            const uid = newUid();
            const data = instance(studyUid, uid);
            inFlight.add(uid);
            const status = await assoc.store({
              sopClassUid: SopClass.SecondaryCaptureImageStorage,
              sopInstanceUid: uid,
              transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
              data,
            });
            inFlight.delete(uid);
            if (status === Status.Success) {
              acknowledged.set(uid, sha256(data));
              acksThisRound += 1;
              steps.step();
            } else {
              failures.push(`status 0x${status.toString(16)}`);
              steps.step();
            }
          }
        } catch (err) {
          // After the kill the node died under us: that is the point. Before it, nothing may fail.
          if (!killed) {
            failures.push(String(err));
            steps.step();
          }
        } finally {
          storing -= 1;
          assoc.abort();
        }
      });

      // The other modality's C-STORE is on its way when an acknowledgement comes in; a failure ends the wait too.
      await steps.until(`${killAfter} acknowledgements`, () => acksThisRound >= killAfter || failures.length > 0);
      // A kill of an idle node proves nothing: the node runs, every modality is still storing, an instance is on its way.
      assert.deepEqual(failures, [], `round ${round}: nothing failed before the kill`);
      assert.equal(running.child.exitCode, null, `round ${round}: the node was still running at the kill`);
      assert.equal(storing, MODALITIES, `round ${round}: every association was active at the kill`);
      assert.ok(inFlight.size > 0, `round ${round}: a C-STORE was in flight at the kill`);
      totals.inFlightAtKill += inFlight.size;
      running.child.kill('SIGKILL');
      killed = true;
      kills += 1;
      assert.equal(await running.stop('SIGKILL'), null, 'killed, not exited');
      await Promise.all(modalities);
      assert.deepEqual(failures, [], `round ${round}: every answer before the kill was a success`);

      // Straight after the kill, before any recovery: every acknowledged instance is indexed, its file in place and
      // decrypting to the data set sent (checked once, after the kill that followed its acknowledgement), and no index
      // row lacks its file.
      const lostNow: string[] = [];
      const orphansNow: string[] = [];
      const store = await openStore();
      try {
        const onDisk = new Set(filesUnder(join(dataDir, 'blobs')));
        for (const [uid, digest] of acknowledged) {
          const stored = await store.index.getInstance(uid);
          if (stored === undefined) lostNow.push(`acknowledged ${uid} is not indexed`);
          else if (!onDisk.has(stored.blob.blobId)) lostNow.push(`acknowledged ${uid} has no file`);
          else if (!verified.has(uid)) {
            const file = await decrypted(store, stored.blob.blobId).catch(() => Buffer.alloc(0));
            if (file.length !== stored.blob.size || sha256(file) !== stored.blob.sha256)
              lostNow.push(`${uid}: the file does not match its indexed size and digest`);
            else if (sha256(file.subarray(stored.datasetOffset)) !== digest)
              lostNow.push(`${uid}: the file does not hold the data set sent`);
            verified.add(uid);
          }
        }
        orphansNow.push(
          ...[...(await store.index.referencedBlobIds())]
            .filter((id) => !onDisk.has(id))
            .map((id) => `indexed blob ${id} has no file`),
        );

        if (round % SETTLE_EVERY === 0 || round === ROUNDS) {
          // What a start-up does: settle the store, then index again every durable blob whose index commit the kill cut
          // off. Afterwards exactly the indexed blobs are on disk and the temp folder is empty.
          const recovery = await new StudyService({ store, logger: silentLogger(), retrieveAeTitle: 'X' }).recover();
          assert.equal(recovery.refused, 0, `round ${round}: no recovered blob was refused`);
          orphansNow.push(...recovery.unreadable.map((id) => `blob ${id} cannot be read`));
          totals.tempFilesRemoved += recovery.tempFilesRemoved;
          totals.tempFilesCompleted += recovery.tempFilesCompleted;
          totals.reindexed += recovery.reindexed;
          const referenced = await store.index.referencedBlobIds();
          orphansNow.push(
            ...filesUnder(join(dataDir, 'blobs'))
              .filter((id) => !referenced.has(id))
              .map((id) => `blob ${id} is not indexed`),
          );
          orphansNow.push(...readdirSync(join(dataDir, 'tmp')).map((name) => `temp file ${name} remains`));
        }
      } finally {
        await store.close();
      }
      lost += lostNow.length;
      orphans += orphansNow.length;
      assert.deepEqual(lostNow, [], `round ${round}: every acknowledged instance is there, intact`);
      assert.deepEqual(orphansNow, [], `round ${round}: nothing orphaned`);
    }
    assert.ok(acknowledged.size >= ROUNDS, `instances were acknowledged between the kills (${acknowledged.size})`);

    // At the end every indexed instance, acknowledged or only recovered, decrypts to the digest its row names.
    const store = await openStore();
    t.after(() => store.close());
    const indexed = await store.index.instancesMatching('STUDY', [
      { key: 'studyInstanceUid', kind: 'single', value: studyUid },
    ]);
    assert.equal(indexed.length, (await store.index.stats()).instances, 'every instance belongs to the one study');
    for (const stored of indexed) {
      const file = await decrypted(store, stored.blob.blobId);
      assert.equal(
        sha256(file),
        stored.blob.sha256,
        `${stored.instance.sopInstanceUid} decrypts to its indexed digest`,
      );
    }
    t.diagnostic(
      `${kills} kills in ${((Date.now() - started) / 1000).toFixed(1)} s: ${acknowledged.size} acknowledged, ${indexed.length} indexed, ` +
        `${totals.inFlightAtKill} C-STOREs in flight at the kills; settled in the test: ${totals.tempFilesRemoved} temp files removed, ` +
        `${totals.tempFilesCompleted} completed, ${totals.reindexed} instances indexed again`,
    );
  } finally {
    t.diagnostic(`soak-stats test=ingest kills=${kills} lost=${lost} orphans=${orphans}`);
  }
});
