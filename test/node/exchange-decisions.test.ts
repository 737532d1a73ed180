// What people decide about transfers: a send that waits for a partner is cancelled and later retried (and then
// delivered); a held study is rejected with a reason, its copy removed, both decisions recorded in their name, and
// the sender told the reason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, midden, noord, startExchangeNode } from '../support/exchange.ts';
import { freePort, waitFor } from '../support/net.ts';
import { importSynthPatient } from '../support/patient-data.ts';
import { type SignedIn, signedIn } from '../support/sign-in.ts';

const radiologist = { username: 'c.bakker', name: 'Dr. C. Bakker', role: 'radiologist' as const };

/** A signed-in person queues a transfer of care of the study to Midden; answers the transfer id. */
async function queueTransferOfCare(person: SignedIn, studyInstanceUid: string): Promise<string> {
  const queued = await person.call('POST', '/api/v1/outbox', {
    studyInstanceUid,
    to: midden.ura,
    purpose: 'transfer',
    reason: 'overplaatsing',
  });
  assert.equal(queued.status, 202, queued.body);
  return (JSON.parse(queued.body) as { transferId: string }).transferId;
}

test('a send waiting for a partner that is down is cancelled, then retried by a person, and delivered once the partner is up', async (t) => {
  const receiverPort = await freePort();
  const sender = await startExchangeNode(t, {
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiverPort}` }],
    outbox: { firstRetrySeconds: 1, maxRetrySeconds: 1 },
  });
  const study = await importSynthPatient(t, sender.n.node, 51);
  const outbox = sender.n.node.outbox;
  assert.ok(outbox !== undefined);

  const bakker = await signedIn(t, sender, radiologist);
  const id = await queueTransferOfCare(bakker, study.studyInstanceUid);
  await waitFor(
    'a failed attempt',
    async () => ((await outbox.get(id))?.attempts ?? 0) >= 1 && (await outbox.get(id))?.state === 'queued',
  );

  const retryTooSoon = await bakker.call('POST', `/api/v1/outbox/${id}/retry`, {});
  assert.equal(retryTooSoon.status, 409, 'a send still being tried is not retried');
  assert.equal((JSON.parse(retryTooSoon.body) as { code: string; state: string }).code, 'TRANSFER_STATE_CONFLICT');
  assert.equal(
    (await bakker.call('POST', `/api/v1/outbox/${id}/cancel`, { user: { id: 'x', name: 'Someone Else' } })).status,
    400,
    'naming a person in the body is refused',
  );

  const cancelled = await bakker.call('POST', `/api/v1/outbox/${id}/cancel`, {});
  assert.equal(cancelled.status, 200, cancelled.body);
  const view = JSON.parse(cancelled.body) as { state: string; lastError: string };
  assert.equal(view.state, 'cancelled');
  assert.equal(view.lastError, `cancelled by ${radiologist.name}`);
  assert.equal(
    (await outbox.due(new Date(Date.now() + 3600_000))).find((x) => x.transferId === id),
    undefined,
    'the worker never takes a cancelled send',
  );
  assert.equal((await bakker.call('POST', `/api/v1/outbox/${id}/cancel`, {})).status, 409, 'cancelled once');
  assert.equal(
    (await bakker.call('POST', '/api/v1/outbox/00000000-0000-4000-8000-000000000000/cancel', {})).status,
    404,
  );

  // The partner comes up; the person queues the send again and it goes.
  const receiver = await startExchangeNode(t, { ca: sender.ca, us: midden, partners: [noord], port: receiverPort });
  // Someone at Midden already waits for the study, before its sender has opened the transfer there: the wait covers
  // that, where it used to answer "not found" at once (how the timeline's "view a prior" stalled).
  const atMidden = await signedIn(t, receiver, { username: 'm.devries', name: 'M. de Vries', role: 'radiologist' });
  const unknown = await atMidden.call('GET', '/api/v1/inbox/00000000-0000-4000-8000-000000000000?waitSeconds=1');
  assert.equal(unknown.status, 404, 'a transfer that never comes is still not found, after the wait');
  const waiting = atMidden.call('GET', `/api/v1/inbox/${id}?waitSeconds=25`);
  const retried = await bakker.call('POST', `/api/v1/outbox/${id}/retry`, {});
  assert.equal(retried.status, 200, retried.body);
  assert.equal((JSON.parse(retried.body) as { attempts: number }).attempts, 0, 'a retry starts counting again');
  await waitFor('delivery', async () => (await outbox.get(id))?.state === 'delivered');
  const waited = await waiting;
  assert.equal(waited.status, 200, waited.body);
  assert.equal((JSON.parse(waited.body) as { transferId: string }).transferId, id);
  assert.equal((await receiver.n.node.store.index.stats()).instances, study.instances);
  assert.equal((await bakker.call('POST', `/api/v1/outbox/${id}/cancel`, {})).status, 409, 'a delivered send stays');
  assert.equal((await bakker.call('POST', `/api/v1/outbox/${id}/retry`, {})).status, 409);

  // Both decisions are the person's, recorded with the patient.
  const decisions = (await sender.n.node.audit.list({ action: 'send' })).filter(
    (r) => r.user.id === bakker.id && / by Dr\. C\. Bakker/.test(r.description),
  );
  assert.deepEqual(
    decisions.map((r) => r.description.replace(/ \(was \w+\)$/, '')),
    [
      `send to URA ${midden.ura} cancelled by ${radiologist.name}`,
      `send to URA ${midden.ura} queued again by ${radiologist.name}`,
    ],
  );
  for (const r of decisions) assert.equal(r.objects.transferId, id);

  const auditor = await signedIn(t, sender, { username: 'a.audit', name: 'A. Auditor', role: 'auditor' });
  assert.equal(
    (await auditor.call('POST', `/api/v1/outbox/${id}/retry`, {})).status,
    403,
    'an auditor changes nothing',
  );
});

test('a held study is rejected with a reason: its copy is removed, the inbox shows who and why, the sender sees why, and it cannot be accepted after', async (t) => {
  const receiver = await startExchangeNode(t, { us: midden, partners: [noord] });
  const sender = await startExchangeNode(t, {
    ca: receiver.ca,
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiver.port}` }],
  });
  const study = await importSynthPatient(t, sender.n.node, 52);
  // Sent from the outbox by a radiologist at Noord, who is then told what became of it at Midden.
  const visser = await signedIn(t, sender, { username: 'd.visser', name: 'Dr. D. Visser', role: 'radiologist' });
  const id = await queueTransferOfCare(visser, study.studyInstanceUid);
  const outbox = sender.n.node.outbox;
  assert.ok(outbox !== undefined);
  await waitFor('delivery', async () => (await outbox.get(id))?.state === 'delivered');
  const sent = { transferId: id, receipt: (await outbox.get(id))?.receipt };
  const atMidden = async () => {
    const a = await visser.call('GET', `/api/v1/outbox/${id}`);
    return (JSON.parse(a.body) as { atReceiver: { state: string; reason: string | null } | null }).atReceiver;
  };
  await waitFor('Midden to say the study is there, held', async () => (await atMidden())?.state === 'delivered');
  assert.equal((await receiver.n.node.store.index.stats()).instances, study.instances, 'held: the copy is here');

  const deWit = await signedIn(t, receiver, { username: 'e.dewit', name: 'Dr. E. de Wit', role: 'radiologist' });
  const reject = (body: unknown) => deWit.call('POST', `/api/v1/inbox/${sent.transferId}/reject`, body);
  assert.equal((await reject({})).status, 400, 'a reason is needed');
  assert.equal((await reject({ reason: '   ' })).status, 400, 'a blank reason is no reason');
  assert.equal((await reject({ reason: 'wrong patient', user: { id: 'x', name: 'Y' } })).status, 400);
  const auditor = await signedIn(t, receiver, { username: 'a.audit', name: 'A. Auditor', role: 'auditor' });
  assert.equal((await auditor.call('POST', `/api/v1/inbox/${sent.transferId}/reject`, { reason: 'x' })).status, 403);

  const rejected = await reject({ reason: 'wrong patient: not ours' });
  assert.equal(rejected.status, 200, rejected.body);
  const view = JSON.parse(rejected.body) as { state: string; rejection: { by: { name: string }; reason: string } };
  assert.equal(view.state, 'rejected');
  assert.deepEqual([view.rejection.by.name, view.rejection.reason], ['Dr. E. de Wit', 'wrong patient: not ours']);
  assert.equal((await receiver.n.node.store.index.stats()).instances, 0, "the node's copy is gone");
  // The sender hears of it, with the reason but not the name of who rejected it.
  await waitFor('Noord to hear of the rejection', async () => (await atMidden())?.state === 'rejected');
  assert.deepEqual(await atMidden(), {
    state: 'rejected',
    reason: 'wrong patient: not ours',
    checkedAt: (await outbox.get(id))?.atReceiver?.checkedAt,
  });
  assert.doesNotMatch(JSON.stringify(await visser.call('GET', `/api/v1/outbox/${id}`)), /de Wit/);
  assert.equal(
    (await outbox.dueChecks(new Date(Date.now() + 30 * 24 * 3600_000))).length,
    0,
    'a rejection ends the asking',
  );

  const listed = JSON.parse((await deWit.call('GET', '/api/v1/inbox?state=rejected')).body) as {
    transfers: { transferId: string; rejection?: { reason: string } }[];
  };
  assert.deepEqual(
    listed.transfers.map((x) => [x.transferId, x.rejection?.reason]),
    [[sent.transferId, 'wrong patient: not ours']],
  );
  const accepted = await deWit.call('POST', `/api/v1/inbox/${sent.transferId}/accept`, {});
  assert.equal(accepted.status, 409, 'a rejected study is not accepted');
  assert.equal((JSON.parse(accepted.body) as { state: string }).state, 'rejected');
  assert.equal((await reject({ reason: 'again' })).status, 409);

  // The sender asking again for its receipt (a lost answer) still gets it.
  const receipt = await call(
    receiver.port,
    'POST',
    `/exchange/v1/transfers/${sent.transferId}/commit`,
    receiver.ca.certPem,
    receiver.partner,
  );
  assert.equal(receipt.status, 200, receipt.body);
  assert.equal((JSON.parse(receipt.body) as { receipt: string }).receipt, sent.receipt);

  // The decision in the person's name, the removal in the node's with that person responsible; both name the patient.
  const decision = (await receiver.n.node.audit.list({ action: 'import' })).find((r) => r.user.id === deWit.id);
  assert.match(decision?.description ?? '', /held study rejected by Dr\. E\. de Wit, not imported: wrong patient/);
  assert.equal(decision?.outcome, 'failure');
  const purge = await receiver.n.node.audit.list({ action: 'purge' });
  assert.equal(purge.length, 1);
  assert.equal(purge[0]?.user.id, 'system:inbox');
  assert.equal(purge[0]?.responsibleUser?.id, deWit.id);
  assert.match(
    purge[0]?.description ?? '',
    new RegExp(`copy of a rejected study removed \\(${study.instances} instances`),
  );
  for (const r of [decision, purge[0]]) assert.equal(r?.objects.studyInstanceUid, study.studyInstanceUid);
  assert.ok(purge[0]?.patient?.patientId !== undefined);
});
