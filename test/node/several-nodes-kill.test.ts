// Two nodes of one hospital behind one address (HAProxy, TCP mode), on one PostgreSQL database and one bucket of Ceph's
// RADOS gateway, each its own process as `beeldbrug start` runs it.
// Ingest: modalities store through HAProxy while one node is SIGKILLed at a random moment, HA_KILL_ROUNDS times (20 by
// default), the two in turn; a new association right after the kill is served by the other node, and the killed one
// starts again. A C-STORE success is an acknowledgement: after every kill each acknowledged instance is in the shared
// index, and at the end every acknowledged instance's file, read back from the bucket on a third data folder, decrypts
// to exactly the bytes sent; the bucket holds no file the index does not know.
// Pushes: the two nodes send studies to a partner from their shared outbox while the one sending is SIGKILLed,
// HA_PUSH_KILL_ROUNDS times (20): each transfer resumes and is delivered, every instance arrives once.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { type NodeProcess, spawnNode, startNodeProcess } from '../../bench/our-node.ts';
import { createTestCa, issueNodeCertificate } from '../../src/auth/index.ts';
import { openPostgresPool } from '../../src/database/index.ts';
import { openPostgresOutbox, verifyReceipt } from '../../src/exchange/index.ts';
import { newUid, SopClass, TransferSyntax } from '../../src/dicom/index.ts';
import { Association, Status } from '../../src/dimse/index.ts';
import { openStudyStore, PostgresStudyIndex, readEncryptionKeyFile } from '../../src/store/index.ts';
import { call, midden, noord, startExchangeNode } from '../support/exchange.ts';
import { startHaproxy } from '../support/haproxy.ts';
import { freePort, waitFor } from '../support/net.ts';
import { startPostgres } from '../support/postgres.ts';
import { startObjectStorage } from '../support/rgw.ts';
import { Steps } from '../support/steps.ts';
import { tempDir } from '../support/tmp.ts';
import { randomPixelsInstance } from '../support/dicom-files.ts';

const ROUNDS = Number(process.env['HA_KILL_ROUNDS'] ?? 20);
/** Modalities storing at the same time, each on its own association (HAProxy spreads them over the nodes). */
const MODALITIES = 4;
/** The kill falls after this many acknowledgements of a round at most (uniformly at random, at least one). */
const KILL_AFTER_ACKS = 12;
const AE = 'HOSPITAL';
const BUCKET = 'hospital-ha';

function instance(studyUid: string, uid: string): Buffer {
  return randomPixelsInstance({ studyUid, uid, patientId: 'HA-1', maxPixelBytes: 100_000 });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function associate(port: number): Promise<Association> {
  return Association.connect({
    host: '127.0.0.1',
    port,
    callingAeTitle: 'MODALITY',
    calledAeTitle: AE,
    presentationContexts: [
      {
        abstractSyntax: SopClass.SecondaryCaptureImageStorage,
        transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
      },
    ],
  });
}

test(`two nodes behind HAProxy, SIGKILL one of them ${ROUNDS} times during ingest: every acknowledged instance is stored once, intact`, async (t) => {
  const server = await startPostgres(t);
  const rgw = await startObjectStorage(t);
  if (server === undefined || rgw === undefined) return;
  const db = await server.database('hospital');
  const objects = await rgw.bucket(BUCKET);
  const [front, portA, portB] = [await freePort(), await freePort(), await freePort()];
  const [dirA, dirB] = [tempDir(t, 'beeldbrug-ha-a-'), tempDir(t, 'beeldbrug-ha-b-')];
  const peers = [{ aeTitle: 'MODALITY', host: '127.0.0.1', description: 'test modality' }];
  // The nodes share the database, the bucket and the keys of the audit trail and of the files.
  const shared = (keysOf?: string) => (raw: Record<string, unknown>) => {
    raw['database'] = { kind: 'postgresql', ...db };
    const store = raw['store'] as Record<string, unknown>;
    store['objects'] = objects;
    if (keysOf !== undefined) {
      store['encryptionKeyFile'] = join(keysOf, 'keys', 'store.key');
      (raw['audit'] as Record<string, unknown>)['keyFile'] = join(keysOf, 'keys', 'audit.key');
    }
  };
  const nodes = new Map<'a' | 'b', NodeProcess>([
    ['a', await spawnNode({ aeTitle: AE, port: portA, dir: dirA, peers, edit: shared() })],
    ['b', await spawnNode({ aeTitle: AE, port: portB, dir: dirB, peers, edit: shared(dirA) })],
  ]);
  t.after(() => Promise.all([...nodes.values()].map((n) => n.stop('SIGKILL'))));
  if (!(await startHaproxy(t, [{ name: 'dimse', port: front, servers: [portA, portB] }]))) return;

  const pool = openPostgresPool(db);
  const index = await PostgresStudyIndex.open(pool, { ownsPool: true });
  t.after(() => index.close());
  const studyUid = newUid();
  /** SHA-256 of the data set bytes of every acknowledged instance, by SOP Instance UID. */
  const acknowledged = new Map<string, string>();
  let inFlightAtKill = 0;

  let acksThisRound = 0;
  const steps = new Steps();
  const storeOne = async (assoc: Association): Promise<boolean> => {
    const uid = newUid();
    const data = instance(studyUid, uid);
    const status = await assoc.store({
      sopClassUid: SopClass.SecondaryCaptureImageStorage,
      sopInstanceUid: uid,
      transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
      data,
    });
    if (status === Status.Success) {
      acknowledged.set(uid, sha256(data));
      acksThisRound += 1;
      steps.step();
    }
    return status === Status.Success;
  };

  for (let round = 1; round <= ROUNDS; round++) {
    const victim = round % 2 === 1 ? 'a' : 'b';
    const associations = await Promise.all(Array.from({ length: MODALITIES }, () => associate(front)));
    const inFlight = new Set<Association>();
    const failures: string[] = [];
    let killed = false;
    const modalities = associations.map(async (assoc) => {
      try {
        while (!killed) {
          inFlight.add(assoc);
          const ok = await storeOne(assoc);
          inFlight.delete(assoc);
          if (!ok) {
            failures.push(`round ${round}: a C-STORE was refused`);
            steps.step();
          }
        }
      } catch (err) {
        // The associations on the killed node die with it: that is the point. Before the kill, nothing may fail.
        if (!killed) {
          failures.push(String(err));
          steps.step();
        }
      } finally {
        assoc.abort();
      }
    });
    // The kill moment is an event: some acknowledgements into the round, while the other C-STOREs are on their way.
    acksThisRound = 0;
    const killAfter = 1 + Math.floor(Math.random() * KILL_AFTER_ACKS);
    await steps.until(`${killAfter} acknowledgements`, () => acksThisRound >= killAfter || failures.length > 0);
    assert.deepEqual(failures, [], `round ${round}: nothing failed before the kill`);
    inFlightAtKill += inFlight.size;
    await nodes.get(victim)!.stop('SIGKILL');
    killed = true;
    await Promise.all(modalities);

    // With one node down the hospital's address still takes studies: HAProxy sends a new association to the other.
    const failover = await associate(front);
    assert.ok(await storeOne(failover), `round ${round}: stored through HAProxy while node ${victim} is down`);
    await failover.release();

    const dir = victim === 'a' ? dirA : dirB;
    nodes.set(victim, await startNodeProcess(AE, victim === 'a' ? portA : portB, dir, join(dir, 'beeldbrug.yaml')));
    const missing: string[] = [];
    for (const uid of acknowledged.keys()) if ((await index.getInstance(uid)) === undefined) missing.push(uid);
    assert.deepEqual(missing, [], `round ${round}: every acknowledged instance is in the shared index`);
  }
  assert.ok(inFlightAtKill > 0, 'the kills fell while instances were on their way');

  // Every file reaches the bucket (a killed node uploads what it left at its next start), and no other file is there.
  const referenced = await index.referencedBlobIds();
  const inBucket = async (): Promise<Set<string>> => {
    const out = await rgw.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'blobs/', MaxKeys: 100_000 }));
    return new Set((out.Contents ?? []).map((o) => o.Key!.slice('blobs/'.length)));
  };
  await waitFor('every indexed file in the bucket', async () => {
    const there = await inBucket();
    return [...referenced].every((id) => there.has(id));
  });
  assert.deepEqual([...(await inBucket())].sort(), [...referenced].sort(), 'no file in the bucket the index lacks');

  // Read back on a data folder of its own, from the bucket: exactly the bytes each modality was acknowledged for.
  const reader = await openStudyStore({
    dataDir: tempDir(t),
    encryptionKey: readEncryptionKeyFile(join(dirA, 'keys', 'store.key')),
    objects: { settings: objects, prefix: 'blobs/' },
  });
  t.after(() => reader.close());
  for (const [uid, hash] of acknowledged) {
    const stored = await index.getInstance(uid);
    assert.ok(stored !== undefined);
    const chunks: Buffer[] = [];
    for await (const c of reader.blobs.open(stored.blob.blobId, {
      start: stored.datasetOffset,
    }) as AsyncIterable<Buffer>)
      chunks.push(c);
    assert.equal(sha256(Buffer.concat(chunks)), hash, `${uid}: the bytes acknowledged`);
  }
  t.diagnostic(
    `${acknowledged.size} instances acknowledged over ${ROUNDS} kills; ${inFlightAtKill} C-STOREs were on their way at the kills`,
  );
});

const PUSH_ROUNDS = Number(process.env['HA_PUSH_KILL_ROUNDS'] ?? 20);
const PUSH_STUDY_INSTANCES = 120;
/** A kill falls after this many more requests of a push reached the partner at most (uniformly at random). */
const PUSH_KILL_AFTER_REQUESTS = 4;
const EXCHANGE_PATH = /^\/exchange\/v1\/transfers(\/|$)/;

test(`two nodes behind HAProxy push studies to a partner, one SIGKILLed ${PUSH_ROUNDS} times mid-push: every transfer completes, every instance arrives once`, async (t) => {
  const server = await startPostgres(t);
  const rgw = await startObjectStorage(t);
  if (server === undefined || rgw === undefined) return;
  const db = await server.database('hospital');
  const objects = await rgw.bucket('hospital-push');
  const ca = createTestCa({ commonName: 'regio test CA' });
  const receiver = await startExchangeNode(t, { ca, us: midden, partners: [noord] });
  // The partner's side of the wire: the pushes it is handling now.
  const pushing = new Set<ServerResponse>();
  let requests = 0;
  const pushSteps = new Steps();
  const watch = (m: unknown): void => {
    const { request, response } = m as { request: IncomingMessage; response: ServerResponse };
    if (!EXCHANGE_PATH.test((request.url ?? '').split('?')[0] ?? '')) return;
    pushing.add(response);
    requests += 1;
    response.once('close', () => (pushing.delete(response), pushSteps.step()));
    pushSteps.step();
  };
  subscribe('http.server.request.start', watch);
  t.after(() => unsubscribe('http.server.request.start', watch));

  // One certificate for the hospital: both nodes answer at its one address.
  const pki = tempDir(t);
  const cert = issueNodeCertificate(ca, { commonName: `${noord.ura}.test`, organization: noord, hosts: ['127.0.0.1'] });
  const tls = { certFile: join(pki, 'node.crt'), keyFile: join(pki, 'node.key'), caFile: join(pki, 'ca.crt') };
  writeFileSync(tls.caFile, ca.certPem);
  writeFileSync(tls.certFile, cert.certPem);
  writeFileSync(tls.keyFile, cert.keyPem, { mode: 0o600 });
  const [front, exchangeFront, portA, portB, httpsA, httpsB] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const [dirA, dirB] = [tempDir(t, 'beeldbrug-ha-a-'), tempDir(t, 'beeldbrug-ha-b-')];
  const node = (httpsPort: number, keysOf?: string) => (raw: Record<string, unknown>) => {
    raw['node'] = { name: noord.name, organization: noord };
    raw['database'] = { kind: 'postgresql', ...db };
    const store = raw['store'] as Record<string, unknown>;
    store['objects'] = objects;
    raw['exchange'] = {
      listen: { host: '127.0.0.1', port: httpsPort },
      tls,
      partners: [{ ura: midden.ura, name: midden.name, baseUrl: `https://127.0.0.1:${receiver.port}` }],
      outbox: { firstRetrySeconds: 1, maxRetrySeconds: 1 },
    };
    if (keysOf !== undefined) {
      store['encryptionKeyFile'] = join(keysOf, 'keys', 'store.key');
      (raw['audit'] as Record<string, unknown>)['keyFile'] = join(keysOf, 'keys', 'audit.key');
    }
  };
  const peers = [{ aeTitle: 'MODALITY', host: '127.0.0.1', description: 'test modality' }];
  const nodes = new Map<'a' | 'b', NodeProcess>([
    ['a', await spawnNode({ aeTitle: AE, port: portA, dir: dirA, peers, edit: node(httpsA) })],
    ['b', await spawnNode({ aeTitle: AE, port: portB, dir: dirB, peers, edit: node(httpsB, dirA) })],
  ]);
  t.after(() => Promise.all([...nodes.values()].map((n) => n.stop('SIGKILL'))));
  const proxied = await startHaproxy(t, [
    { name: 'dimse', port: front, servers: [portA, portB] },
    { name: 'exchange', port: exchangeFront, servers: [httpsA, httpsB] },
  ]);
  if (!proxied) return;
  // TLS passes through HAProxy: the partner reaches the hospital's exchange at the one address, and either node
  // checks its certificate and answers under the hospital's.
  const asked = await call(exchangeFront, 'GET', '/exchange/v1/transfers/no-such-transfer', ca.certPem, receiver.own);
  assert.equal(asked.status, 404, asked.body);

  const pool = openPostgresPool(db);
  const index = await PostgresStudyIndex.open(pool, { ownsPool: false });
  const outbox = await openPostgresOutbox(pool, { ownsPool: true });
  t.after(() => outbox.close());
  const expected = new Map<string, string>();
  const transfers: { transferId: string; studyInstanceUid: string }[] = [];
  /** A modality stores a study through the hospital's address; answers its digests, by SOP Instance UID. */
  const storeStudy = async (): Promise<{ studyUid: string; digests: Map<string, string> }> => {
    const studyUid = newUid();
    const assoc = await associate(front);
    for (let n = 0; n < PUSH_STUDY_INSTANCES; n++) {
      const uid = newUid();
      const status = await assoc.store({
        sopClassUid: SopClass.SecondaryCaptureImageStorage,
        sopInstanceUid: uid,
        transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
        data: instance(studyUid, uid),
      });
      assert.equal(status, Status.Success);
    }
    await assoc.release();
    const held = await index.instancesMatching('STUDY', [{ key: 'studyInstanceUid', kind: 'single', value: studyUid }]);
    return { studyUid, digests: new Map(held.map((i) => [i.instance.sopInstanceUid, i.blob.sha256])) };
  };
  // Stored ahead: a push is faster than a modality, so sends are queued from these, a few at once.
  const ready = await Promise.all(Array.from({ length: 8 }, () => storeStudy()));
  /** A radiologist's send of a stored study is queued. */
  const queueStudy = async (): Promise<void> => {
    const { studyUid, digests } = ready.pop() ?? (await storeStudy());
    for (const [uid, digest] of digests) expected.set(uid, digest);
    const { transferId } = await outbox.enqueue({
      studyInstanceUid: studyUid,
      partnerUra: midden.ura,
      purpose: 'transfer',
      urgency: 'routine',
      reason: 'several nodes kill test',
      user: { id: 'r', name: 'R' },
    });
    transfers.push({ transferId, studyInstanceUid: studyUid });
  };
  const undelivered = async (): Promise<number> => {
    let n = 0;
    for (const q of transfers) if ((await outbox.get(q.transferId))?.state !== 'delivered') n += 1;
    return n;
  };
  /** Which node is sending a transfer now, by the holder of its lease (the host and the node's data folder). */
  const sender = async (): Promise<'a' | 'b' | undefined> => {
    const sending = await outbox.list({ state: 'sending' });
    const holders = await Promise.all(
      sending.map(
        async (s) =>
          (await pool.query('SELECT claimed_by FROM outgoing_transfer WHERE transfer_id = $1', [s.transferId])).rows[0]
            ?.claimed_by as string,
      ),
    );
    if (holders.some((h) => h.endsWith(`:${join(dirA, 'data')}`))) return 'a';
    if (holders.some((h) => h.endsWith(`:${join(dirB, 'data')}`))) return 'b';
    return undefined;
  };

  let kills = 0;
  let missed = 0;
  while (kills < PUSH_ROUNDS) {
    // Keep pushes going, so every kill can fall in the middle of one.
    // Three at once: a modality waits for each C-STORE's durable acknowledgement, so three associations store three
    // studies in about the time of one (queueing took half of this test's time one after the other).
    if ((await undelivered()) === 0) await Promise.all([queueStudy(), queueStudy(), queueStudy()]);
    // A push under way, or none left: then more are queued.
    await waitFor(
      'a push under way, or all delivered',
      async () => (pushing.size > 0 && (await sender()) !== undefined) || (await undelivered()) === 0,
    );
    // The kill moment is an event: a few more requests of the push reached the partner (or it ended first).
    const killAt = requests + Math.floor(Math.random() * (PUSH_KILL_AFTER_REQUESTS + 1));
    await pushSteps.until('the push to go on', () => requests >= killAt || pushing.size === 0);
    const victim = await sender();
    if (victim === undefined || pushing.size === 0) {
      missed += 1;
      continue;
    }
    await nodes.get(victim)!.stop('SIGKILL');
    kills += 1;
    const dir = victim === 'a' ? dirA : dirB;
    // Started again at once: it takes up its own cut-off transfers at start, the other node goes on with its own.
    nodes.set(victim, await startNodeProcess(AE, victim === 'a' ? portA : portB, dir, join(dir, 'beeldbrug.yaml')));
    for (const q of transfers)
      assert.notEqual((await outbox.get(q.transferId))?.state, 'failed', `kill ${kills}: ${q.transferId} not given up`);
  }
  await waitFor('every transfer delivered', async () => (await undelivered()) === 0);

  let attempts = 0;
  for (const q of transfers) {
    const sent = await outbox.get(q.transferId);
    attempts += sent?.attempts ?? 0;
    const receipt = await verifyReceipt(sent?.receipt ?? '', ca.certPem);
    assert.ok(receipt.ok && receipt.claims.transferId === q.transferId, 'a receipt signed by the partner');
  }
  assert.ok(
    attempts >= transfers.length + kills,
    `${attempts} attempts for ${transfers.length} transfers, ${kills} kills`,
  );
  const lost: string[] = [];
  for (const [uid, digest] of expected)
    if ((await receiver.n.node.store.index.getInstance(uid))?.blob.sha256 !== digest) lost.push(uid);
  assert.deepEqual(lost, [], 'the partner holds every instance with the digest the hospital announced');
  assert.equal((await receiver.n.node.store.index.stats()).instances, expected.size, 'each once, nothing else');
  t.diagnostic(
    `${transfers.length} transfers, ${expected.size} instances, ${kills} kills mid-push (${missed} pushes ended before the kill fell), ${attempts} attempts`,
  );
});
