// Push between two hospital nodes over mutual TLS: Noord sends a study to Midden; Midden stores every instance byte for
// byte, Noord gets a receipt signed by Midden, and sending the same study again moves no image bytes.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createTestCa } from '../../src/auth/index.ts';
import { sendStudy, verifyReceipt } from '../../src/exchange/index.ts';
import { silentLogger } from '../../src/log/index.ts';
import { collect } from '../support/dicom-files.ts';
import { call, midden, noord, startExchangeNode, studyHeldBy } from '../support/exchange.ts';
import { addAccount, cliAs, cliLogin } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { testAccess } from '../support/patient-data.ts';
import { heldInstance, heldInstances } from '../support/patient-data.ts';

test('push: Noord sends a study to Midden, verified end to end; a second send moves nothing', async (t) => {
  const ca = createTestCa({ commonName: 'regio test CA' });
  const receiver = await startExchangeNode(t, { ca, us: midden, partners: [noord] });
  const sender = await startExchangeNode(t, {
    ca,
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiver.port}` }],
  });

  const { study } = await studyHeldBy(t, sender.n, 31);

  const progress: number[] = [];
  const request = {
    studyInstanceUid: study.studyInstanceUid,
    to: { ...midden, baseUrl: `https://127.0.0.1:${receiver.port}` },
    purpose: 'transfer' as const,
    urgency: 'urgent' as const,
    reason: 'Overplaatsing, graag beoordelen',
    user: { id: 'radioloog-7', name: 'Dr. C. Bakker', roleCode: '01.015' },
  };
  const result = await sendStudy(request, {
    access: testAccess(sender.n.node, 'exchange'),
    tls: sender.tls,
    logger: silentLogger(),
    onProgress: (p) => progress.push(p.sent),
  });
  assert.equal(result.instances, study.instances);
  assert.equal(result.sent, study.instances);
  assert.ok(progress.at(-1) === study.instances, 'progress reaches every instance');
  const verified = await verifyReceipt(result.receipt, ca.certPem);
  assert.ok(verified.ok && verified.claims.receiver.ura === midden.ura && verified.claims.sender.ura === noord.ura);

  for (const released of await heldInstances(sender.n.node, study.studyInstanceUid)) {
    const sent = released.stored;
    const arrived = await heldInstance(receiver.n.node, sent.instance.sopInstanceUid);
    assert.ok(arrived !== undefined, `${sent.instance.sopInstanceUid} arrived`);
    const got = arrived.stored;
    assert.equal(got.blob.sha256, sent.blob.sha256, 'the same bytes, file meta included');
    assert.ok((await collect(arrived.openFile())).equals(await collect(released.openFile())));
    assert.equal(got.provenance.via, 'exchange');
  }
  // The study's uncompressed images travelled packed (JPEG-LS lossless), restored above byte for byte.
  const received = await receivedByForm(receiver);
  assert.ok((received.packed ?? 0) > 0, `packed instances received: ${JSON.stringify(received)}`);

  const again = await sendStudy(request, {
    access: testAccess(sender.n.node, 'exchange'),
    tls: sender.tls,
    logger: silentLogger(),
  });
  assert.equal(again.sent, 0, 're-sending a delivered study moves no instances');
  assert.equal(again.bytesSent, 0);
  assert.ok((await verifyReceipt(again.receipt, ca.certPem)).ok);

  await assert.rejects(
    sendStudy(
      { ...request, purpose: 'consultation' },
      { access: testAccess(sender.n.node, 'exchange'), tls: sender.tls, logger: silentLogger() },
    ),
    /consent-reference-missing/,
    'a consultation without consent is refused by the receiver',
  );
});

test("beeldbrug send: the command line queues a study in the running node's outbox, shows progress and reports the verified receipt", async (t) => {
  const ca = createTestCa({ commonName: 'regio test CA' });
  const receiver = await startExchangeNode(t, { ca, us: midden, partners: [noord] });
  const sender = await startExchangeNode(t, {
    ca,
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiver.port}` }],
  });
  const { study, patient } = await studyHeldBy(t, sender.n, 32);
  const work = tempDir(t);

  // The person signs in at the CLI (password + TOTP), then asks the running node to send; the CLI opens no database.
  const secret = await addAccount(t, sender, {
    username: 'c.bakker',
    name: 'Dr. C. Bakker',
    role: 'radiologist',
    uziRoleCode: '01.015',
  });
  const sessionFile = join(work, 'session.json');
  const caFile = join(work, 'ca.crt');
  writeFileSync(caFile, ca.certPem);
  const login = await cliLogin(sender, sessionFile, caFile, 'c.bakker', secret);
  assert.equal(login.code, 0, login.stderr);
  const run = await cliAs(sessionFile, [
    'send',
    '--study',
    study.studyInstanceUid,
    '--to',
    midden.ura,
    '--purpose',
    'transfer',
    '--urgency',
    'urgent',
  ]);
  const r = { code: run.code, out: run.stdout, err: run.stderr };
  const bakker = (await sender.n.node.audit.list({ action: 'login' })).findLast((x) => x.user.name === 'Dr. C. Bakker')
    ?.user.id;
  assert.ok(bakker !== undefined);
  assert.equal(r.code, 0, r.err);
  const transferId = /queued transfer ([0-9a-f-]{36}) to Ziekenhuis Midden \(URA 10000002\)/.exec(r.out)?.[1];
  assert.ok(transferId !== undefined, r.out);
  const row = await sender.n.node.outbox?.get(transferId);
  assert.equal(row?.state, 'delivered', 'the node sent it from its outbox');
  assert.equal(row?.request.urgency, 'urgent');
  assert.ok((row?.receipt ?? '').length > 0, 'the receipt is kept');
  const sent = await sender.n.node.audit.list({ action: 'send' });
  assert.deepEqual(
    sent.map((r) => [r.outcome, r.objects.transferId, r.user.id]),
    [
      ['success', transferId, bakker],
      ['success', transferId, bakker],
    ],
  );
  assert.match(sent[0]?.description ?? '', /queued/);
  assert.match(sent[1]?.description ?? '', /delivered, receipt verified/);
  assert.equal(sent[0]?.patient?.bsn, patient.bsn, 'the audit trail names the patient');
  assert.match(
    r.out,
    new RegExp(
      `delivered to Ziekenhuis Midden \\(URA ${midden.ura}\\): transfer [0-9a-f-]{36}, ${study.instances} instances, ${study.instances} sent, receipt verified`,
    ),
  );
  assert.match(r.err, new RegExp(`${study.instances}/${study.instances} instances sent`), 'progress is shown');
  assert.equal((await receiver.n.node.store.index.stats()).instances, study.instances);
});

/** The receiving node's count of instances received, by how they travelled (its /metrics, read with its own certificate). */
async function receivedByForm(node: Awaited<ReturnType<typeof startExchangeNode>>): Promise<Record<string, number>> {
  const a = await call(node.port, 'GET', '/metrics', node.ca.certPem, node.own);
  assert.equal(a.status, 200, a.body);
  const counts: Record<string, number> = {};
  for (const m of a.body.matchAll(/^beeldbrug_exchange_instances_received_total\{form="([^"]+)"\} (\d+)$/gm))
    counts[m[1] ?? ''] = Number(m[2]);
  return counts;
}

test('push with wireCompression zstd: nothing is packed, and every instance still arrives byte for byte', async (t) => {
  const ca = createTestCa({ commonName: 'regio test CA' });
  const receiver = await startExchangeNode(t, { ca, us: midden, partners: [noord] });
  const to = { ...midden, baseUrl: `https://127.0.0.1:${receiver.port}`, wireCompression: 'zstd' as const };
  const sender = await startExchangeNode(t, { ca, us: noord, partners: [to] });
  const { study } = await studyHeldBy(t, sender.n, 32);
  const result = await sendStudy(
    {
      studyInstanceUid: study.studyInstanceUid,
      to,
      purpose: 'transfer',
      urgency: 'routine',
      reason: 'Overplaatsing',
      user: { id: 'radioloog-7', name: 'Dr. C. Bakker' },
    },
    { access: testAccess(sender.n.node, 'exchange'), tls: sender.tls, logger: silentLogger() },
  );
  assert.equal(result.sent, study.instances);
  for (const released of await heldInstances(sender.n.node, study.studyInstanceUid)) {
    const arrived = await heldInstance(receiver.n.node, released.stored.instance.sopInstanceUid);
    assert.ok(arrived !== undefined);
    assert.ok((await collect(arrived.openFile())).equals(await collect(released.openFile())));
  }
  const received = await receivedByForm(receiver);
  assert.equal(received.packed ?? 0, 0);
  assert.equal(received['as-stored'], study.instances);
});
