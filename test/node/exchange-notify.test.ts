// The receiving hospital is told a study arrived only when all of it is here and verified (the national portal today
// notifies on the first image), with urgent studies flagged: a JSON notice to the hospital's own endpoint, here a real
// HTTP server the test runs.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { type ArrivalNotice, sendStudy } from '../../src/exchange/index.ts';
import { silentLogger } from '../../src/log/index.ts';
import { midden, noord, startExchangeNode, studyHeldBy } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { testAccess } from '../support/patient-data.ts';

async function bodyOf(req: IncomingMessage): Promise<string> {
  let s = '';
  for await (const c of req) s += String(c);
  return s;
}

test('arrival notice: one per study, only once every instance is stored and verified, urgent flagged, route named', async (t) => {
  const notices: { notice: ArrivalNotice; storedThen: number }[] = [];
  let receiverNode: Awaited<ReturnType<typeof startExchangeNode>> | undefined;
  let refuseFirst = true;
  const ris = createServer((req, res) => {
    void bodyOf(req).then(async (b) => {
      // The first post is refused, as a RIS being restarted would: the notice is tried again.
      if (refuseFirst) {
        refuseFirst = false;
        res.writeHead(503).end();
        return;
      }
      notices.push({
        notice: JSON.parse(b) as ArrivalNotice,
        storedThen: (await receiverNode?.n.node.store.index.stats())?.instances ?? -1,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => ris.listen(0, '127.0.0.1', resolve));
  t.after(() => ris.close());
  const address = ris.address();
  assert.ok(address !== null && typeof address === 'object');

  receiverNode = await startExchangeNode(t, {
    us: midden,
    partners: [noord],
    notifyUrl: `http://127.0.0.1:${address.port}/beeldbrug/arrivals`,
  });
  const sender = await startExchangeNode(t, {
    ca: receiverNode.ca,
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiverNode.port}` }],
  });
  const { study, patient } = await studyHeldBy(t, sender.n, 91);

  const to = { ...midden, baseUrl: `https://127.0.0.1:${receiverNode.port}` };
  const request = {
    studyInstanceUid: study.studyInstanceUid,
    to,
    purpose: 'transfer' as const,
    urgency: 'urgent' as const,
    reason: 'trauma, onderweg',
    user: { id: 'r1', name: 'Dr. D. Visser' },
  };
  const sent = await sendStudy(request, {
    access: testAccess(sender.n.node, 'exchange'),
    tls: sender.tls,
    logger: silentLogger(),
  });
  await waitFor('the notice', async () => notices.length === 1);
  const [first] = notices;
  assert.equal(first?.storedThen, study.instances, 'told only when every instance was stored');
  assert.equal(first?.notice.event, 'study-arrived');
  assert.equal(first?.notice.transferId, sent.transferId);
  assert.equal(first?.notice.urgent, true);
  assert.equal(first?.notice.instances, study.instances);
  assert.equal(first?.notice.route, 'hold');
  assert.deepEqual(first?.notice.from, { ura: noord.ura, name: noord.name });
  assert.equal(first?.notice.study.studyInstanceUid, study.studyInstanceUid);
  assert.equal(first?.notice.patient.bsn, patient.bsn);

  // Sent again (a new transfer, no image bytes moved), routine this time: announced again, not flagged.
  await sendStudy(
    { ...request, urgency: 'routine' },
    { access: testAccess(sender.n.node, 'exchange'), tls: sender.tls, logger: silentLogger() },
  );
  await waitFor('the second notice', async () => notices.length === 2);
  assert.equal(notices[1]?.notice.urgent, false, 'a routine send is not flagged');
});
