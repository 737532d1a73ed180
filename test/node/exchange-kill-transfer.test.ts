// SIGKILL during node-to-node pushes (docs/exchange-protocol.md), each node its own process the way `beeldbrug start`
// runs it. The receiver is killed KILL_ROUNDS times (50 by default) while a push is under way and started again each
// time: whatever upload batch the sender saw answered 2xx is on the receiver's disk at once, and when the pushes end it
// holds every instance exactly once with the sender's digest, nothing orphaned. The sender is killed
// SENDER_KILL_ROUNDS times (40% of KILL_ROUNDS by default): its durable outbox resumes after every restart and delivers.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { type NodeProcess, spawnNode, startNodeProcess } from '../../bench/our-node.ts';
import { createTestCa, type IssuedCertificate, issueNodeCertificate } from '../../src/auth/index.ts';
import { Dataset, encodePart10, newUid, SopClass, Tag, TransferSyntax } from '../../src/dicom/index.ts';
import { openSqliteInbox, openSqliteOutbox, sendStudy, verifyReceipt } from '../../src/exchange/index.ts';
import { silentLogger } from '../../src/log/index.ts';
import { openStudyStore, readEncryptionKeyFile, type Store } from '../../src/store/index.ts';
import type { AccessContext, PatientDataAccess } from '../../src/studies/index.ts';
import { StudyService } from '../../src/studies/study-service.ts';
import { heldInstances, testAccess } from '../support/patient-data.ts';
import type { RunningNode } from '../../src/node/index.ts';
import { midden, noord, startExchangeNode } from '../support/exchange.ts';
import { freePort } from '../support/net.ts';
import { filesBesidesSpare } from '../support/node.ts';
import { Steps } from '../support/steps.ts';
import { tempDir } from '../support/tmp.ts';

const ROUNDS = Number(process.env['KILL_ROUNDS'] ?? 50);
const SENDER_ROUNDS = Number(process.env['SENDER_KILL_ROUNDS'] ?? Math.ceil(ROUNDS * 0.4));
const STUDY_INSTANCES = 120;
/**
 * The kill falls at a random step of the exchange (a request starting, answered or closed), from the first to this
 * many: counted in events, not milliseconds, so a slow machine shifts nothing.
 */
const KILL_WITHIN_STEPS = 16;
/** send-study.ts uploads batches of 16, 4 at a time: at most this many instances are cut off (and sent again) by a kill. */
const CUT_OFF_PER_KILL = 4 * 16;
/** How a push cut off by a dying partner fails (a connection refused, reset or cut mid-answer): a passing fault. */
const CUT_OFF: ReadonlySet<string> = new Set([
  'PARTNER_UNREACHABLE',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ERR_STREAM_PREMATURE_CLOSE',
]);
const EXCHANGE_PATH = /^\/exchange\/v1\/transfers(\/|$)/;
const UPLOAD_PATH = /^\/exchange\/v1\/transfers\/[^/]+\/instances$/;
const system: AccessContext = { actor: { kind: 'system', task: 'test' }, purpose: 'import' };

interface TestStudy {
  studyInstanceUid: string;
  /** The sender's SHA-256 of each stored Part 10 file, as its manifest announces it, by SOP Instance UID. */
  digests: Map<string, string>;
}

/** Where a test study goes: a running node (through its patient-data access), or a stopped node's store itself. */
interface StudyTarget {
  ingest(source: AsyncIterable<Buffer>): Promise<unknown>;
  digests(studyInstanceUid: string): Promise<Map<string, string>>;
}

const provenance = (): { receivedAt: string; via: 'import'; callingAeTitle: null; remoteAddress: null } => ({
  receivedAt: new Date().toISOString(),
  via: 'import',
  callingAeTitle: null,
  remoteAddress: null,
});

function runningTarget(node: RunningNode): StudyTarget {
  const access = testAccess(node, 'import');
  return {
    ingest: (source) => access.ingestPart10Stream(source, { provenance: provenance() }, undefined),
    digests: async (uid) =>
      new Map((await heldInstances(node, uid)).map((i) => [i.stored.instance.sopInstanceUid, i.stored.blob.sha256])),
  };
}

function storeTarget(studies: StudyService): StudyTarget {
  return {
    ingest: (source) => studies.ingestPart10Stream(system, source, { provenance: provenance() }),
    digests: async (uid) =>
      new Map((await studies.studyInstances(system, uid)).map((i) => [i.instance.sopInstanceUid, i.blob.sha256])),
  };
}

/** A study of Secondary Capture instances of random pixels, 4 KB to 130 KB each, stored in `studies` as if imported. */
async function storeStudy(studies: StudyTarget, patientId: string): Promise<TestStudy> {
  const studyInstanceUid = newUid();
  for (let n = 1; n <= STUDY_INSTANCES; n++) {
    const ds = new Dataset()
      .set(Tag.SOPClassUID, 'UI', SopClass.SecondaryCaptureImageStorage)
      .set(Tag.SOPInstanceUID, 'UI', newUid())
      .set(Tag.PatientID, 'LO', patientId)
      .set(Tag.PatientName, 'PN', 'Kill^Test')
      .set(Tag.StudyInstanceUID, 'UI', studyInstanceUid)
      .set(Tag.SeriesInstanceUID, 'UI', `${studyInstanceUid}.1`)
      .set(Tag.Modality, 'CS', 'OT')
      .set(Tag.InstanceNumber, 'IS', String(n))
      .set(Tag.PixelData, 'OB', randomBytes(2 * (2_000 + Math.floor(Math.random() * 63_000))));
    const parts = encodePart10(ds, TransferSyntax.ExplicitVRLittleEndian);
    await studies.ingest(
      (async function* () {
        yield* parts;
      })(),
    );
  }
  const digests = await studies.digests(studyInstanceUid);
  assert.equal(digests.size, STUDY_INSTANCES);
  return { studyInstanceUid, digests };
}

async function decryptedDigest(store: Store, blobId: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of store.blobs.open(blobId) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

function filesUnder(dir: string): Set<string> {
  return new Set(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => e.name),
  );
}

/** Every instance of `expected` held once with the sender's digest, its file decrypting to it; nothing else indexed. */
async function holdsExactly(store: Store, expected: Map<string, string>): Promise<{ lost: string[]; extra: number }> {
  const lost: string[] = [];
  for (const [uid, digest] of expected) {
    const stored = await store.index.getInstance(uid);
    if (stored === undefined) lost.push(`${uid}: not indexed`);
    else if (stored.blob.sha256 !== digest) lost.push(`${uid}: indexed with another digest`);
    else if ((await decryptedDigest(store, stored.blob.blobId).catch((err: unknown) => String(err))) !== digest)
      lost.push(`${uid}: file does not decrypt to its digest`);
  }
  return { lost, extra: (await store.index.stats()).instances - expected.size };
}

/** The mutual TLS files of a node run as its own process. */
function writeNodeTls(
  dir: string,
  ca: IssuedCertificate,
  organization: { name: string; ura: string },
): { certFile: string; keyFile: string; caFile: string } {
  const cert = issueNodeCertificate(ca, { commonName: `${organization.ura}.test`, organization, hosts: ['127.0.0.1'] });
  const files = { certFile: join(dir, 'node.crt'), keyFile: join(dir, 'node.key'), caFile: join(dir, 'ca.crt') };
  writeFileSync(files.caFile, ca.certPem);
  writeFileSync(files.certFile, cert.certPem);
  writeFileSync(files.keyFile, cert.keyPem, { mode: 0o600 });
  return files;
}

function subscribed(t: TestContext, channel: string, listener: (message: unknown) => void): void {
  subscribe(channel, listener);
  t.after(() => unsubscribe(channel, listener));
}

test(`SIGKILL of the receiving node mid-push (${ROUNDS} kills): every batch answered 2xx is durable, every instance arrives once`, async (t) => {
  const started = Date.now();
  const ca = createTestCa({ commonName: 'regio test CA' });
  const dir = tempDir(t, 'beeldbrug-receiver-');
  const dataDir = join(dir, 'data');
  const tls = writeNodeTls(tempDir(t), ca, midden);
  const httpsPort = await freePort();
  const dimsePort = await freePort();
  let receiver: NodeProcess = await spawnNode({
    aeTitle: 'MIDDEN',
    port: dimsePort,
    dir,
    peers: [],
    edit: (raw) => {
      raw['node'] = { name: midden.name, organization: midden };
      raw['exchange'] = {
        listen: { host: '127.0.0.1', port: httpsPort },
        tls,
        partners: [{ ura: noord.ura, name: noord.name }],
      };
    },
  });
  t.after(() => receiver.stop('SIGKILL'));
  const to = { ...midden, baseUrl: `https://127.0.0.1:${httpsPort}` };
  const sender = await startExchangeNode(t, { ca, us: noord, partners: [to] });
  const studies = runningTarget(sender.n.node);

  // The sender's side of the wire: its requests of the push in flight, and every 2xx answer to an upload batch with the
  // instances it names as stored. Those are acknowledged: a kill must not lose one of them.
  const inFlight = new Set<ClientRequest>();
  const acknowledged = new Set<string>();
  const steps = new Steps();
  subscribed(t, 'http.client.request.start', (m) => {
    const request = (m as { request: ClientRequest }).request;
    if (!EXCHANGE_PATH.test(request.path)) return;
    inFlight.add(request);
    request.once('close', () => (inFlight.delete(request), steps.step()));
    steps.step();
  });
  subscribed(t, 'http.client.response.finish', (m) => {
    const { request, response } = m as { request: ClientRequest; response: IncomingMessage };
    const status = response.statusCode ?? 0;
    if (EXCHANGE_PATH.test(request.path)) steps.step();
    if (!UPLOAD_PATH.test(request.path) || status < 200 || status > 299) return;
    const chunks: Buffer[] = [];
    response.on('data', (c: Buffer) => chunks.push(c));
    response.on('end', () => {
      for (const uid of (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { stored: string[] }).stored)
        acknowledged.add(uid);
    });
  });
  // How often each instance went out: a resumed push sends only what the receiver lacks, so a kill costs at most the
  // batches it cut off.
  const uploads = new Map<string, number>();
  const access = testAccess(sender.n.node, 'exchange');
  const counting = new Proxy(access, {
    get(target, key) {
      if (key === 'releaseStudy') {
        return async (...args: Parameters<PatientDataAccess['releaseStudy']>) =>
          (await target.releaseStudy(...args)).map((i) => ({
            ...i,
            openFile: () => {
              const uid = i.stored.instance.sopInstanceUid;
              uploads.set(uid, (uploads.get(uid) ?? 0) + 1);
              return i.openFile();
            },
          }));
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const push = (study: TestStudy, transferId: string): Promise<{ ok: true } | { ok: false; err: unknown }> =>
    sendStudy(
      {
        studyInstanceUid: study.studyInstanceUid,
        to,
        purpose: 'transfer',
        urgency: 'urgent',
        reason: 'kill test',
        user: { id: 'r', name: 'R' },
      },
      // One attempt each, as the outbox worker runs them; this test is the outbox and tries again once the receiver is back.
      { access: counting, tls: sender.tls, logger: silentLogger(), transferId, attempts: 1 },
    ).then(
      () => ({ ok: true }) as const,
      (err: unknown) => ({ ok: false, err }) as const,
    );

  const pushed: { study: TestStudy; transferId: string }[] = [];
  const expected = new Map<string, string>();
  const newPush = async (): Promise<{ study: TestStudy; transferId: string }> => {
    const study = await storeStudy(studies, `KILL-${pushed.length + 1}`);
    for (const [uid, digest] of study.digests) expected.set(uid, digest);
    const p = { study, transferId: randomUUID() };
    pushed.push(p);
    return p;
  };
  let current = await newPush();
  const verified = new Set<string>();
  let kills = 0;
  let killsDuringUpload = 0;
  let lost = 0;
  let orphans = 0;
  try {
    while (kills < ROUNDS) {
      let outcome: { ok: true } | { ok: false; err: unknown } | undefined;
      const attempt = push(current.study, current.transferId).then((o) => {
        outcome = o;
        steps.step();
        return o;
      });
      // At a random step of the push, when a request of it is in flight (else at the next step that has one).
      await steps.randomStep(KILL_WITHIN_STEPS, () => outcome !== undefined);
      await steps.until('a request of the push is in flight', () => outcome !== undefined || inFlight.size > 0);
      const killedNow = outcome === undefined;
      if (killedNow) {
        // A kill of an idle node proves nothing: the receiver runs and a request of the push is on its way to it.
        assert.equal(receiver.child.exitCode, null, 'the receiver was running at the kill');
        assert.ok(inFlight.size > 0, 'a request of the push was in flight at the kill');
        if ([...inFlight].some((r) => UPLOAD_PATH.test(r.path))) killsDuringUpload += 1;
        receiver.child.kill('SIGKILL');
        kills += 1;
        assert.equal(await receiver.stop('SIGKILL'), null, 'killed, not exited');

        // Before any restart: what the sender saw acknowledged is indexed, its file decrypts to the announced digest,
        // every index row has its file, and the inbox counts as received nothing the store lacks.
        const store = await openStudyStore({
          dataDir,
          encryptionKey: readEncryptionKeyFile(join(dir, 'keys', 'store.key')),
        });
        const problems: string[] = [];
        try {
          const onDisk = filesUnder(join(dataDir, 'blobs'));
          for (const uid of acknowledged) {
            const stored = await store.index.getInstance(uid);
            if (stored === undefined || stored.blob.sha256 !== expected.get(uid) || !onDisk.has(stored.blob.blobId))
              problems.push(`acknowledged ${uid} is not held intact`);
            else if (!verified.has(uid)) {
              if ((await decryptedDigest(store, stored.blob.blobId)) !== stored.blob.sha256)
                problems.push(`acknowledged ${uid} does not decrypt to its digest`);
              verified.add(uid);
            }
          }
          const inbox = openSqliteInbox(join(dataDir, 'exchange.sqlite'));
          try {
            for (const uid of await inbox.received(current.transferId))
              if ((await store.index.getInstance(uid)) === undefined)
                problems.push(`the inbox counts ${uid} as received but the store lacks it`);
          } finally {
            await inbox.close();
          }
          lost += problems.length;
          const missing = [...(await store.index.referencedBlobIds())].filter((id) => !onDisk.has(id));
          orphans += missing.length;
          problems.push(...missing.map((id) => `indexed blob ${id} has no file`));
        } finally {
          await store.close();
        }
        assert.deepEqual(problems, [], `after kill ${kills}`);
        receiver = await startNodeProcess('MIDDEN', dimsePort, dir, join(dir, 'beeldbrug.yaml'));
      }
      const o = await attempt;
      if (o.ok) current = await newPush();
      else {
        // Cut off by the kill (reset, refused, cut mid-upload): the outbox would try again; so does this loop. Without a
        // kill nothing may fail.
        assert.ok(killedNow, `an attempt failed without a kill: ${String(o.err)}`);
        assert.ok(
          CUT_OFF.has((o.err as { code?: string }).code ?? ''),
          `the attempt failed for the kill: ${String(o.err)}`,
        );
      }
    }
    // The last push runs to its end with the receiver left alone.
    const last = await push(current.study, current.transferId);
    assert.ok(last.ok, `the last push completes: ${last.ok ? '' : String(last.err)}`);
    await receiver.stop();

    const store = await openStudyStore({
      dataDir,
      encryptionKey: readEncryptionKeyFile(join(dir, 'keys', 'store.key')),
    });
    t.after(() => store.close());
    const held = await holdsExactly(store, expected);
    lost += held.lost.length;
    assert.deepEqual(held.lost, [], 'every instance of every push is held with the sender’s digest');
    assert.equal(held.extra, 0, 'and nothing else');
    // The receiver's own start-up recovery settled each kill, and a clean stop leaves no temp file: nothing to settle now.
    const blobs = filesUnder(join(dataDir, 'blobs'));
    const referenced = await store.index.referencedBlobIds();
    const strays = [...blobs].filter((id) => !referenced.has(id)).length + readdirSync(join(dataDir, 'tmp')).length;
    orphans += strays;
    assert.equal(strays, 0, 'no orphan blob or temp file');
    assert.deepEqual(blobs, referenced, 'one file per instance, each indexed');
    const inbox = openSqliteInbox(join(dataDir, 'exchange.sqlite'));
    t.after(() => inbox.close());
    for (const p of pushed)
      assert.equal((await inbox.find(p.transferId))?.state, 'delivered', `transfer ${p.transferId} delivered`);

    const resent = [...uploads.values()].reduce((n, c) => n + c, 0) - expected.size;
    assert.equal(uploads.size, expected.size, 'every instance went out');
    assert.ok(
      resent <= kills * CUT_OFF_PER_KILL,
      `resumed rather than started over: ${resent} instances sent again over ${kills} kills`,
    );
    t.diagnostic(
      `${kills} receiver kills (${killsDuringUpload} during an upload batch) in ${((Date.now() - started) / 1000).toFixed(1)} s: ${pushed.length} pushes, ` +
        `${expected.size} instances, ${acknowledged.size} acknowledged in 2xx batches, ${resent} sent again`,
    );
  } finally {
    t.diagnostic(`soak-stats test=transfer-receiver kills=${kills} lost=${lost} orphans=${orphans}`);
  }
});

test(`SIGKILL of the sending node mid-push (${SENDER_ROUNDS} kills): its outbox resumes after each restart and delivers everything once`, async (t) => {
  const started = Date.now();
  const ca = createTestCa({ commonName: 'regio test CA' });
  const receiver = await startExchangeNode(t, { ca, us: midden, partners: [noord] });
  const receiverStore = receiver.n.node.store;
  const receiverData = join(receiver.n.dir, 'data');
  // The receiver's side of the wire: the sender's requests it is handling now.
  const inFlight = new Set<ServerResponse>();
  const uploading = new Set<ServerResponse>();
  const steps = new Steps();
  subscribed(t, 'http.server.request.start', (m) => {
    const { request, response } = m as { request: IncomingMessage; response: ServerResponse };
    const path = (request.url ?? '').split('?')[0] ?? '';
    if (!EXCHANGE_PATH.test(path)) return;
    inFlight.add(response);
    if (UPLOAD_PATH.test(path)) uploading.add(response);
    response.once('close', () => (inFlight.delete(response), uploading.delete(response), steps.step()));
    steps.step();
  });
  // The receiver's temp files come and go in its tmp folder.
  steps.watch(t, join(receiverData, 'tmp'));

  const dir = tempDir(t, 'beeldbrug-sender-');
  const dataDir = join(dir, 'data');
  const tls = writeNodeTls(tempDir(t), ca, noord);
  const httpsPort = await freePort();
  const dimsePort = await freePort();
  const first = await spawnNode({
    aeTitle: 'NOORD',
    port: dimsePort,
    dir,
    peers: [],
    edit: (raw) => {
      raw['node'] = { name: noord.name, organization: noord };
      raw['exchange'] = {
        listen: { host: '127.0.0.1', port: httpsPort },
        tls,
        partners: [{ ura: midden.ura, name: midden.name, baseUrl: `https://127.0.0.1:${receiver.port}` }],
        outbox: { firstRetrySeconds: 1, maxRetrySeconds: 1 },
      };
    },
  });
  await first.stop();
  let sender: NodeProcess | undefined;
  t.after(() => sender?.stop('SIGKILL'));
  // The sender's outbox as `beeldbrug send` sees it: the same database, opened beside the running node.
  const outbox = openSqliteOutbox(join(dataDir, 'exchange.sqlite'));
  t.after(() => outbox.close());
  // The sender's outbox is written into its data folder (the database's write-ahead log): a delivery recorded is a step.
  steps.watch(t, dataDir);

  const queued: { study: TestStudy; transferId: string }[] = [];
  const expected = new Map<string, string>();
  const undelivered = new Set<string>();
  const allDelivered = async (): Promise<boolean> => {
    for (const id of undelivered) if ((await outbox.get(id))?.state === 'delivered') undelivered.delete(id);
    return undelivered.size === 0;
  };
  /** While the sender is down: a study into its store and a transfer of it into its outbox, as `beeldbrug send` queues one. */
  const queueStudy = async (): Promise<void> => {
    const store = await openStudyStore({
      dataDir,
      encryptionKey: readEncryptionKeyFile(join(dir, 'keys', 'store.key')),
    });
    try {
      const patientId = `KILL-S${queued.length + 1}`;
      const study = await storeStudy(
        storeTarget(new StudyService({ store, logger: silentLogger(), retrieveAeTitle: 'NOORD' })),
        patientId,
      );
      const { transferId } = await outbox.enqueue({
        studyInstanceUid: study.studyInstanceUid,
        partnerUra: midden.ura,
        purpose: 'transfer',
        urgency: 'routine',
        reason: 'kill test',
        user: { id: 'r', name: 'R' },
        patient: { patientId },
      });
      queued.push({ study, transferId });
      undelivered.add(transferId);
      for (const [uid, digest] of study.digests) expected.set(uid, digest);
    } finally {
      await store.close();
    }
  };

  let kills = 0;
  let killsDuringUpload = 0;
  let ranDry = 0;
  let lost = 0;
  let orphans = 0;
  try {
    while (kills < SENDER_ROUNDS) {
      // Keep work queued, so the restarted sender has a push to resume.
      while (expected.size - (await receiverStore.index.stats()).instances < 2 * STUDY_INSTANCES) await queueStudy();
      const node = await startNodeProcess('NOORD', dimsePort, dir, join(dir, 'beeldbrug.yaml'));
      sender = node;
      // The outbox resumes at start: its push reaches the receiver, and the kill falls at a random step of it, when a
      // request is being handled (else at the next step that has one), unless everything was delivered first.
      await steps.until('the restarted sender pushes again', () => inFlight.size > 0 || allDelivered());
      await steps.randomStep(KILL_WITHIN_STEPS, allDelivered);
      await steps.until('a request of the push is being handled', async () => inFlight.size > 0 || allDelivered());
      const pushing = inFlight.size > 0;
      if (!pushing) {
        // Everything went out before a kill fell: stop it cleanly, queue more, and go again.
        ranDry += 1;
        await node.stop();
        continue;
      }
      // A kill of an idle node proves nothing: the sender runs and a request of its push is being handled.
      assert.equal(node.child.exitCode, null, 'the sender was running at the kill');
      if (uploading.size > 0) killsDuringUpload += 1;
      node.child.kill('SIGKILL');
      kills += 1;
      assert.equal(await node.stop('SIGKILL'), null, 'killed, not exited');
      // The receiver drops what the dead sender was uploading: the instance cut off leaves no temp file behind. A
      // request the dead sender had already put in the socket may still start after the kill (seen under load: a temp
      // file listed just after the wait had held), so the wait is for no request in flight and no temp file at one
      // moment; a temp file that stays keeps the wait, and the test, from ending (the runner's timeout names it).
      await steps.until(
        `kill ${kills}: the receiver cleaned up the cut-off uploads, no temp file left`,
        () => inFlight.size === 0 && filesBesidesSpare(receiverData, 'tmp').length === 0,
      );
      for (const q of queued)
        assert.notEqual(
          (await outbox.get(q.transferId))?.state,
          'failed',
          `kill ${kills}: transfer ${q.transferId} was not given up`,
        );
    }
    // Left alone, the sender's outbox works off the rest.
    sender = await startNodeProcess('NOORD', dimsePort, dir, join(dir, 'beeldbrug.yaml'));
    await steps.until('every queued transfer is delivered', allDelivered);
    await sender.stop();
    // No receiver request may still be running (the last one answered the commit).
    await steps.until('the receiver is idle', () => inFlight.size === 0);

    let attempts = 0;
    for (const q of queued) {
      const sent = await outbox.get(q.transferId);
      assert.equal(sent?.state, 'delivered');
      attempts += sent.attempts;
      const receipt = await verifyReceipt(sent.receipt ?? '', ca.certPem);
      assert.ok(receipt.ok, 'the receipt verifies');
      assert.equal(receipt.claims.transferId, q.transferId);
      assert.deepEqual(
        new Map(receipt.claims.instances.map((i) => [i.sopInstanceUid, i.sha256])),
        q.study.digests,
        'the receipt names every instance with its digest',
      );
    }
    // Each kill cut off at least one attempt under way, and each was taken up again after the restart.
    assert.ok(
      attempts >= queued.length + kills,
      `${attempts} attempts for ${queued.length} transfers and ${kills} kills`,
    );

    const held = await holdsExactly(receiverStore, expected);
    lost += held.lost.length;
    assert.deepEqual(held.lost, [], 'the receiver holds every instance with the sender’s digest');
    assert.equal(held.extra, 0, 'and nothing else');
    const referenced = await receiverStore.index.referencedBlobIds();
    const blobs = filesUnder(join(receiverData, 'blobs'));
    const strays =
      [...blobs].filter((id) => !referenced.has(id)).length + filesBesidesSpare(receiverData, 'tmp').length;
    orphans += strays;
    assert.equal(strays, 0, 'no orphan blob or temp file on the receiver');
    assert.deepEqual(blobs, referenced);

    // The sender's own store came through the kills untouched.
    const senderStore = await openStudyStore({
      dataDir,
      encryptionKey: readEncryptionKeyFile(join(dir, 'keys', 'store.key')),
    });
    t.after(() => senderStore.close());
    const senderHeld = await holdsExactly(senderStore, expected);
    lost += senderHeld.lost.length;
    assert.deepEqual(senderHeld.lost, [], 'the sender still holds every instance intact');
    assert.deepEqual(filesUnder(join(dataDir, 'blobs')), await senderStore.index.referencedBlobIds());
    assert.deepEqual(readdirSync(join(dataDir, 'tmp')), [], 'no temp file on the sender');
    t.diagnostic(
      `${kills} sender kills (${killsDuringUpload} during an upload batch) in ${((Date.now() - started) / 1000).toFixed(1)} s: ${queued.length} transfers, ` +
        `${expected.size} instances, ${attempts} attempts; ${ranDry} restarts delivered everything before the kill fell`,
    );
  } finally {
    t.diagnostic(`soak-stats test=transfer-sender kills=${kills} lost=${lost} orphans=${orphans}`);
  }
});
