// The sending side's outbox with real nodes: a partner that is down is retried with back-off across a restart of the
// sender, a refusal fails at once with its reason, and the outbox API answers only the hospital's own systems.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { issueNodeCertificate } from '../../src/auth/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { filesIn } from '../support/dicom-files.ts';
import { call, midden, noord, startExchangeNode, type ExchangeNode } from '../support/exchange.ts';
import { freePort, waitFor } from '../support/net.ts';
import { restartTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { run } from '../support/processes.ts';
import { requireTool } from '../support/tools.ts';

async function withStudy(t: Parameters<typeof tempDir>[0], sender: ExchangeNode, seed: number): Promise<{ studyInstanceUid: string; instances: number }> {
  const work = tempDir(t);
  const synth = await synthesize({ outDir: join(work, 'synth'), patients: 1, seed });
  for (const f of filesIn(join(work, 'synth'))) await sender.n.node.studies.importFile({ actor: { kind: 'system', task: 'test' }, purpose: 'import' }, f);
  const study = synth.patients[0]?.studies[0];
  assert.ok(study !== undefined);
  return study;
}

const radiologist = { id: 'radioloog-7', name: 'Dr. C. Bakker', roleCode: '01.015' };

test('a partner that is down is tried again with back-off; a restart of the sender loses nothing; once up it gets the study', async (t) => {
  const receiverPort = await freePort();
  let sender = await startExchangeNode(t, { us: noord, partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiverPort}` }], outbox: { firstRetrySeconds: 1, maxRetrySeconds: 2 } });
  const study = await withStudy(t, sender, 41);
  const queued = await call(sender.port, 'POST', '/api/v1/outbox', sender.ca.certPem, sender.own, {
    studyInstanceUid: study.studyInstanceUid, to: midden.ura, purpose: 'transfer', urgency: 'urgent', reason: 'overplaatsing IC', user: radiologist,
  });
  assert.equal(queued.status, 202, queued.body);
  const transferId = (JSON.parse(queued.body) as { transferId: string; state: string }).transferId;

  const outboxOf = (s: ExchangeNode) => {
    const o = s.n.node.outbox;
    assert.ok(o !== undefined);
    return o;
  };
  await waitFor('a first failed attempt', async () => (outboxOf(sender).get(transferId)?.attempts ?? 0) >= 1 && outboxOf(sender).get(transferId)?.state === 'queued');
  const waiting = outboxOf(sender).get(transferId);
  assert.match(waiting?.lastError ?? '', /ECONNREFUSED|PARTNER_UNREACHABLE/);
  assert.ok(Date.parse(waiting?.nextAttemptAt ?? '') > Date.parse(waiting?.updatedAt ?? ''), 'the next attempt waits');

  sender = { ...sender, n: await restartTestNode(t, sender.n) };
  assert.equal(outboxOf(sender).get(transferId)?.state, 'queued', 'the queue survives the restart');

  const receiver = await startExchangeNode(t, { ca: sender.ca, us: midden, partners: [noord], port: receiverPort });
  await waitFor('delivery', async () => outboxOf(sender).get(transferId)?.state === 'delivered');
  const done = outboxOf(sender).get(transferId);
  assert.ok((done?.attempts ?? 0) >= 2, `attempts: ${done?.attempts}`);
  assert.equal(done?.instances, study.instances);
  assert.equal(done?.sent, study.instances);
  assert.equal(done?.lastError, null);
  assert.ok((done?.receipt ?? '').split('.').length === 3, 'the signed receipt is kept');
  assert.equal(receiver.n.node.store.index.stats().instances, study.instances);

  const shown = await call(sender.port, 'GET', `/api/v1/outbox/${transferId}`, sender.ca.certPem, sender.own);
  assert.equal(shown.status, 200);
  assert.equal((JSON.parse(shown.body) as { state: string }).state, 'delivered');
});

test('a refusal by the partner fails the transfer at once, with the partner\'s reason', async (t) => {
  // The receiver does not have Noord on its trust list: a considered 403, not a passing fault.
  const receiver = await startExchangeNode(t, { us: midden, partners: [{ name: 'Ziekenhuis Zuid', ura: '10000003' }] });
  const sender = await startExchangeNode(t, { ca: receiver.ca, us: noord, partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiver.port}` }] });
  const study = await withStudy(t, sender, 42);
  const queued = await call(sender.port, 'POST', '/api/v1/outbox', sender.ca.certPem, sender.own, {
    studyInstanceUid: study.studyInstanceUid, to: midden.ura, purpose: 'transfer', reason: '', user: radiologist,
  });
  assert.equal(queued.status, 202, queued.body);
  const transferId = (JSON.parse(queued.body) as { transferId: string }).transferId;
  await waitFor('failure', async () => sender.n.node.outbox?.get(transferId)?.state === 'failed');
  const failed = sender.n.node.outbox?.get(transferId);
  assert.equal(failed?.attempts, 1, 'no retries after a refusal');
  assert.match(failed?.lastError ?? '', /PARTNER_REFUSED.*403.*organization-not-trusted/);
  const list = await call(sender.port, 'GET', '/api/v1/outbox?state=failed', sender.ca.certPem, sender.own);
  assert.deepEqual((JSON.parse(list.body) as { transfers: { transferId: string }[] }).transfers.map((x) => x.transferId), [transferId]);
});

test('the outbox API answers only this hospital\'s own systems and checks every request before queueing', async (t) => {
  const sender = await startExchangeNode(t, { us: noord, partners: [{ ...midden, baseUrl: 'https://127.0.0.1:1' }, { name: 'Ziekenhuis Zuid', ura: '10000003' }] });
  const study = await withStudy(t, sender, 43);
  const post = (client: typeof sender.own | undefined, body: unknown) => call(sender.port, 'POST', '/api/v1/outbox', sender.ca.certPem, client, body);
  const good = { studyInstanceUid: study.studyInstanceUid, to: midden.ura, purpose: 'transfer', user: radiologist };

  assert.equal((await post(undefined, good)).status, 401, 'no client certificate');
  assert.equal((await post(sender.partner, good)).status, 403, 'a partner node may not make us send');
  const stranger = issueNodeCertificate(sender.ca, { commonName: 'x.test', organization: { name: 'Elders', ura: '99999999' } });
  assert.equal((await post(stranger, good)).status, 403, 'another organization under the same CA');

  const bad = await post(sender.own, { ...good, to: 'Midden', purpose: 'holiday' });
  assert.equal(bad.status, 400);
  assert.equal((JSON.parse(bad.body) as { problems: string[] }).problems.length, 2);
  const refusals: [unknown, number, string][] = [
    [{ ...good, to: '10000009' }, 404, 'PARTNER_UNKNOWN'],
    [{ ...good, to: '10000003' }, 404, 'PARTNER_UNKNOWN'], // on the trust list, but without an address to send to
    [{ ...good, studyInstanceUid: '1.2.3.4' }, 404, 'NOT_FOUND'],
    [{ ...good, purpose: 'consultation' }, 422, 'SEND_NOT_ALLOWED'],
    [{ ...good, purpose: 'internal' }, 422, 'SEND_NOT_ALLOWED'],
  ];
  for (const [body, status, code] of refusals) {
    const r = await post(sender.own, body);
    assert.equal(r.status, status, r.body);
    assert.equal((JSON.parse(r.body) as { error: string }).error, code);
  }
  assert.deepEqual(sender.n.node.outbox?.list(), [], 'nothing refused was queued');

  const ok = await post(sender.own, { ...good, purpose: 'consultation', consentReference: 'toestemming-2026-0042' });
  assert.equal(ok.status, 202, ok.body);
  assert.equal(sender.n.node.outbox?.list().length, 1);
  assert.equal((await call(sender.port, 'GET', '/api/v1/outbox', sender.ca.certPem, sender.partner)).status, 403);
  assert.equal((await call(sender.port, 'GET', '/api/v1/outbox/00000000-0000-4000-8000-000000000000', sender.ca.certPem, sender.own)).status, 404);
});

test('send from the PACS menu: a C-MOVE (DCMTK movescu) to the partner\'s AE title queues the study and the partner gets it', async (t) => {
  if (requireTool(t, 'movescu') === undefined) return;
  const receiver = await startExchangeNode(t, { us: midden, partners: [noord] });
  const sender = await startExchangeNode(t, {
    ca: receiver.ca,
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiver.port}`, aeTitle: 'ZH_MIDDEN' }],
    dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', description: 'the PACS (no port: it only calls us)' }],
  });
  const study = await withStudy(t, sender, 44);
  const move = await run('movescu', ['-S', '-aet', 'PACS_NOORD', '-aec', sender.n.aeTitle, '-aem', 'ZH_MIDDEN', '127.0.0.1', String(sender.n.port),
    '-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=${study.studyInstanceUid}`]);
  assert.equal(move.code, 0, move.stderr);
  const queued = sender.n.node.outbox?.list() ?? [];
  assert.equal(queued.length, 1);
  assert.equal(queued[0]?.request.studyInstanceUid, study.studyInstanceUid);
  assert.equal(queued[0]?.request.partnerUra, midden.ura);
  assert.equal(queued[0]?.request.user.name, 'PACS_NOORD', 'the calling PACS is named as the requester');
  await waitFor('delivery', async () => sender.n.node.outbox?.get(queued[0]?.transferId ?? '')?.state === 'delivered');
  assert.equal(receiver.n.node.store.index.stats().instances, study.instances);

  // An AE title that is neither a peer nor a partner stays an unknown move destination.
  const unknown = await run('movescu', ['-S', '-aet', 'PACS_NOORD', '-aec', sender.n.aeTitle, '-aem', 'NOBODY', '127.0.0.1', String(sender.n.port),
    '-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=${study.studyInstanceUid}`]);
  assert.match(unknown.stdout + unknown.stderr, /MoveDestinationUnknown/);
  assert.equal(sender.n.node.outbox?.list().length, 1);
});
