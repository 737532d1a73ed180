// Two nodes of one hospital on one PostgreSQL database and one bucket of Ceph's RADOS gateway (database: postgresql,
// store.objects): DCMTK stores a study into node A; node B finds it and hands it out with C-GET, byte for byte what A
// hands out, reading the files A uploaded (encrypted) from the bucket.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/index.ts';
import { runDoctor } from '../../src/node/index.ts';
import type { PostgresSettings } from '../../src/database/index.ts';
import type { ObjectStorageSettings } from '../../src/store/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { Tag } from '../../src/dicom/index.ts';
import { run } from '../dimse/helpers.ts';
import { findscuAnswers } from '../support/dcmtk.ts';
import { datasetsByUid, filesIn } from '../support/dicom-files.ts';
import { waitFor } from '../support/net.ts';
import { logLines, restartTestNode, startTestNode } from '../support/node.ts';
import { startPostgres } from '../support/postgres.ts';
import { startObjectStorage, startObjectStorageServer } from '../support/rgw.ts';
import { watchExits } from '../support/processes.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

const PACS = 'PACS_AE';

/** The nodes of one hospital share the database, the bucket, and the keys of the audit trail and the files. */
const shared =
  (db: PostgresSettings, objects: ObjectStorageSettings, keysOf?: { audit: string; store: string }) =>
  (raw: Record<string, unknown>) => {
    raw['database'] = { kind: 'postgresql', ...db };
    const store = raw['store'] as Record<string, unknown>;
    store['objects'] = objects;
    if (keysOf !== undefined) {
      store['encryptionKeyFile'] = keysOf.store;
      (raw['audit'] as { keyFile: string }).keyFile = keysOf.audit;
    }
  };

test('two nodes on one database and one bucket: a study stored into one is found and retrieved from the other', async (t) => {
  for (const tool of ['storescu', 'findscu', 'getscu']) if (requireTool(t, tool) === undefined) return;
  const server = await startPostgres(t);
  const rgw = await startObjectStorage(t);
  if (server === undefined || rgw === undefined) return;
  const db = await server.database('hospital');
  const objects = await rgw.bucket('hospital-studies');
  const synth = await synthesize({ outDir: join(tempDir(t), 'synth'), patients: 1, seed: 5 });
  const study = synth.patients[0]!.studies[0]!;
  const peers = [{ aeTitle: PACS, host: '127.0.0.1', port: 1, description: 'test PACS' }];
  const a = await startTestNode(t, { aeTitle: 'BB_A', peers, edit: shared(db, objects) });
  const keys = loadConfig(a.configPath);
  const b = await startTestNode(t, {
    aeTitle: 'BB_B',
    peers,
    edit: shared(db, objects, { audit: keys.audit.keyFile, store: keys.store.encryptionKeyFile }),
  });

  const stored = await run('storescu', ['-aet', PACS, '-aec', a.aeTitle, '127.0.0.1', String(a.port), ...study.files]);
  assert.equal(stored.code, 0, stored.stderr);
  // What A acknowledged is on its disk; it reaches the bucket right after.
  await (a.node.store.blobs as unknown as { drained(): Promise<void> }).drained();

  const [found] = await findscuAnswers(
    t,
    ['-aet', PACS, '-aec', b.aeTitle, '127.0.0.1', String(b.port)],
    ['QueryRetrieveLevel=STUDY', `StudyInstanceUID=${study.studyInstanceUid}`, 'NumberOfStudyRelatedInstances'],
  );
  assert.equal(Number(found?.string(Tag.NumberOfStudyRelatedInstances)), study.files.length, 'the study is found');

  const getFrom = async (n: typeof a): Promise<Map<string, Buffer>> => {
    const out = tempDir(t);
    const r = await run('getscu', [
      '-S',
      '+B',
      '-aet',
      PACS,
      '-aec',
      n.aeTitle,
      '127.0.0.1',
      String(n.port),
      '-od',
      out,
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${study.studyInstanceUid}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    return datasetsByUid(filesIn(out));
  };
  const fromB = await getFrom(b);
  const fromA = await getFrom(a);
  assert.equal(fromB.size, study.files.length, 'B hands out every instance A received');
  assert.deepEqual([...fromB.keys()].sort(), [...fromA.keys()].sort());
  for (const [uid, bytes] of fromA) assert.ok(fromB.get(uid)?.equals(bytes), `${uid}: the same bytes from B as from A`);

  // doctor says where the files are, and that a bucket the node cannot use stops it.
  const shown = (await runDoctor(keys)).find((f) => f.subject === 'store.objects');
  assert.deepEqual(shown, {
    level: 'ok',
    subject: 'store.objects',
    finding: `instance files in the bucket hospital-studies at ${objects.endpoint}, encrypted by the node before upload`,
  });
  const wrong = { ...keys, store: { ...keys.store, objects: { ...keys.store.objects!, bucket: 'not-made' } } };
  const missing = (await runDoctor(wrong)).find((f) => f.subject === 'store.objects');
  assert.equal(missing?.level, 'critical');
  assert.match(missing?.finding ?? '', /bucket not-made .* cannot be used \(NotFound/);
});

test('two nodes on one database and one bucket purge each study once: the retention lease keeps them from both purging', async (t) => {
  if (requireTool(t, 'storescu') === undefined) return;
  const server = await startPostgres(t);
  const rgw = await startObjectStorage(t);
  if (server === undefined || rgw === undefined) return;
  const db = await server.database('hospital');
  const objects = await rgw.bucket('purged-once');
  const synth = await synthesize({ outDir: join(tempDir(t), 'synth'), patients: 2, seed: 8 });
  const files = synth.patients.flatMap((p) => p.studies.flatMap((s) => s.files));
  const studies = synth.patients.flatMap((p) => p.studies.map((s) => s.studyInstanceUid)).sort();
  const peers = [{ aeTitle: PACS, host: '127.0.0.1', port: 1, description: 'test PACS' }];
  // Stored while retention is off, so no pass runs while a study is still arriving.
  const retention = (days: number) => (raw: Record<string, unknown>) =>
    ((raw['store'] as Record<string, unknown>)['retentionDays'] = days);
  let a = await startTestNode(t, {
    aeTitle: 'BB_A',
    peers,
    edit: (raw) => (shared(db, objects)(raw), retention(0)(raw)),
  });
  const keys = loadConfig(a.configPath);
  let b = await startTestNode(t, {
    aeTitle: 'BB_B',
    peers,
    edit: (raw) => (
      shared(db, objects, { audit: keys.audit.keyFile, store: keys.store.encryptionKeyFile })(raw),
      retention(0)(raw)
    ),
  });
  const stored = await run('storescu', ['-aet', PACS, '-aec', a.aeTitle, '127.0.0.1', String(a.port), ...files]);
  assert.equal(stored.code, 0, stored.stderr);
  await (a.node.store.blobs as unknown as { drained(): Promise<void> }).drained();
  const storedAt = Date.now();
  const inBucket = async (): Promise<number> =>
    (await rgw.client.send(new ListObjectsV2Command({ Bucket: 'purged-once' }))).KeyCount ?? 0;
  assert.equal(await inBucket(), files.length);

  // One second instead of seven days, for both; both run a pass every second from their restart on.
  for (const n of [a, b]) {
    const raw = parseYaml(readFileSync(n.configPath, 'utf8')) as Record<string, unknown>;
    retention(1 / 86_400)(raw);
    writeFileSync(n.configPath, stringifyYaml(raw));
  }
  await waitFor('every instance to be older than the retention period', async () => Date.now() > storedAt + 1000);
  [a, b] = await Promise.all([restartTestNode(t, a), restartTestNode(t, b)]);
  await waitFor('the purge', async () => (await a.node.store.index.stats()).instances === 0);
  await waitFor('the files gone from the bucket', async () => (await inBucket()) === 0);
  await waitFor(
    'a purge record per study',
    async () => (await a.node.audit.list({ action: 'purge' })).length >= studies.length,
  );
  // The other node has run passes meanwhile and left the shared studies to the lease's holder.
  const purger = (await a.node.audit.list({ action: 'purge' }))[0]?.accessPoint.node;
  const other = purger === `test node ${a.aeTitle}` ? b : a;
  await waitFor(
    'two passes of the other node',
    async () =>
      logLines(other).filter((l) => String(l['msg']).startsWith('another node holds the retention lease')).length >= 2,
  );
  const purges = await b.node.audit.list({ action: 'purge' });
  assert.deepEqual(purges.map((r) => r.objects.studyInstanceUid).sort(), studies);
  assert.equal(new Set(purges.map((r) => r.accessPoint.node)).size, 1, 'one node did the purging');
});

test('the test object storage stops whole: its monitor, OSD and gateway are gone, so no test leaves daemons behind', async (t) => {
  for (const tool of ['ceph-mon', 'ceph-osd', 'radosgw', 'curl']) if (requireTool(t, tool) === undefined) return;
  const server = await startObjectStorageServer(tempDir(t, 'beeldbrug-rgw-'));
  assert.equal(server.pids.length, 3, 'the monitor, the OSD and the gateway');
  const watching = await watchExits(t, server.pids);
  assert.ok(watching !== undefined, 'each daemon runs');
  server.stop();
  await watching.exited;
});
