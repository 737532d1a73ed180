import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { openStudyStore } from './study-store.ts';
import { testKey } from './store-test-support.ts';

const CHILD = join(import.meta.dirname, 'crash-writer-child.ts');

/**
 * Starts the writer child and SIGKILLs it once it has recorded a random number of instances (none to 7): counted in
 * its lines, not in milliseconds, so a slow machine shifts nothing. It is writing the next one by then.
 */
async function runAndKill(dataDir: string, key: Buffer, tag: number): Promise<number> {
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', CHILD, dataDir, key.toString('base64'), String(tag)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const recorded = (): number => out.split('\n').filter((l) => /^\d+$/.test(l)).length;
  const killAfter = Math.floor(Math.random() * 8);
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('ready\n') && recorded() >= killAfter) resolve();
    });
    child.on('exit', () => reject(new Error(`child exited early: ${err}`)));
  });
  child.kill('SIGKILL');
  const signal = await exited;
  assert.equal(signal, 'SIGKILL', `child died on its own: ${err}`);
  return recorded();
}

test('SIGKILL at random moments never leaves an indexed instance without its blob; recover() accounts for every blob', async (t) => {
  const dataDir = tempDir(t);
  const key = testKey();
  let acknowledged = 0;
  let temps = 0;
  let unindexed = 0;
  for (let round = 0; round < 10; round += 1) {
    acknowledged += await runAndKill(dataDir, key, round);
    const store = await openStudyStore({ dataDir, encryptionKey: key });
    try {
      const report = await store.recover();
      assert.deepEqual(report.missingBlobs, [], `round ${round}`);
      temps += report.tempFilesRemoved;
      // Killed between a blob's fdatasync and its index commit: at most the one instance in hand. StudyService.recover
      // indexes such a blob from its DICOM content; these test blobs are random bytes, so the test deletes them instead.
      assert.ok(report.unindexedBlobs.length <= 1, `round ${round}: ${report.unindexedBlobs.length} unindexed blobs`);
      unindexed += report.unindexedBlobs.length;
      const referenced = await store.index.referencedBlobIds();
      const listed = new Set<string>();
      for await (const id of store.blobs.list()) listed.add(id);
      assert.deepEqual(
        listed,
        new Set([...referenced, ...report.unindexedBlobs]),
        `round ${round}: the indexed blobs and the reported ones remain`,
      );
      for (const id of report.unindexedBlobs) await store.blobs.delete(id);
      assert.deepEqual(readdirSync(join(dataDir, 'tmp')), [], `round ${round}: no temp files`);
      const all = await store.index.instancesMatching('PATIENT', []);
      assert.equal(all.length, referenced.size);
      // Every line the child printed came after a commit: those instances must all be there (durable acknowledgement).
      assert.ok(all.length >= acknowledged, `round ${round}: ${all.length} indexed, ${acknowledged} acknowledged`);
      for (const i of all) {
        const hash = createHash('sha256');
        let size = 0;
        for await (const c of store.blobs.open(i.blob.blobId)) {
          const b = Buffer.isBuffer(c) ? c : Buffer.from(c);
          hash.update(b);
          size += b.length;
        }
        assert.equal(hash.digest('hex'), i.blob.sha256);
        assert.equal(size, i.blob.size);
      }
    } finally {
      await store.close();
    }
  }
  assert.ok(acknowledged > 0, 'the child made progress');
  t.diagnostic(
    `${acknowledged} acknowledged; recovery removed ${temps} temp files and found ${unindexed} unindexed blobs over 10 kills`,
  );
});
