// The node is a cache, not the archive: a study to send that the node does not hold (or holds in part) is fetched from
// the hospital's PACS first (exchange.fetchFrom), by C-MOVE to the node's own AE title or by C-GET, then sent whole.
// The PACS is a real Orthanc; the send is asked for with DCMTK movescu (a C-MOVE to the partner's AE title) or the API.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { synthesize } from '../../src/synth/index.ts';
import { run } from '../support/processes.ts';
import { call, midden, noord, startExchangeNode } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { startOrthanc } from '../support/orthanc-pacs.ts';
import { logLines } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import { testAccess } from '../support/patient-data.ts';

/** Noord's node with Orthanc as its PACS and fetch source; Midden's node as the partner, holding what arrives. */
async function nodeWithPacs(t: TestContext, method: 'c-move' | 'c-get') {
  const pacs = await startOrthanc({
    dir: tempDir(t),
    aeTitle: 'PACS_NOORD',
    modalities: { workstation: { aeTitle: 'WS1', host: '127.0.0.1', port: 1 } },
  });
  t.after(() => pacs.stop());
  const receiver = await startExchangeNode(t, { us: midden, partners: [noord] });
  const sender = await startExchangeNode(t, {
    ca: receiver.ca,
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiver.port}`, aeTitle: 'MIDDEN' }],
    dimsePeers: [
      { aeTitle: 'PACS_NOORD', host: '127.0.0.1', port: pacs.dicomPort, description: 'Noord PACS' },
      { aeTitle: 'WS1', host: '127.0.0.1', description: 'a reading workstation' },
    ],
    fetchFrom: { aeTitle: 'PACS_NOORD', method },
  });
  // The PACS knows the node as a modality (for C-MOVE, also as the destination), once its port is known.
  await pacs.rest('PUT', '/modalities/beeldbrug', { AET: sender.n.aeTitle, Host: '127.0.0.1', Port: sender.n.port });
  const synth = await synthesize({
    outDir: join(tempDir(t), 'synth'),
    patients: 1,
    seed: method === 'c-move' ? 81 : 82,
  });
  const study = synth.patients[0]?.studies[0];
  assert.ok(study !== undefined);
  for (const f of study.files) await pacs.upload(f);
  return { pacs, receiver, sender, study };
}

test('a C-MOVE to the partner for a study only the PACS holds: the node fetches it by C-MOVE and Midden gets all of it', async (t) => {
  if (
    requireTool(t, 'Orthanc') === undefined ||
    requireTool(t, 'movescu') === undefined ||
    requireTool(t, 'findscu') === undefined
  )
    return;
  const { receiver, sender, study } = await nodeWithPacs(t, 'c-move');
  assert.equal((await sender.n.node.store.index.stats()).instances, 0);

  const move = await run('movescu', [
    '-S',
    '-aet',
    'WS1',
    '-aec',
    sender.n.aeTitle,
    '-aem',
    'MIDDEN',
    '127.0.0.1',
    String(sender.n.port),
    '-k',
    'QueryRetrieveLevel=STUDY',
    '-k',
    `StudyInstanceUID=${study.studyInstanceUid}`,
  ]);
  assert.equal(move.code, 0, move.stderr);
  const queued = (await sender.n.node.outbox?.list({})) ?? [];
  assert.equal(queued.length, 1);
  await waitFor(
    'delivery',
    async () => (await sender.n.node.outbox?.get(queued[0]?.transferId ?? ''))?.state === 'delivered',
  );
  assert.equal(
    (await sender.n.node.store.index.stats()).instances,
    study.instances,
    'the node fetched the whole study from the PACS',
  );
  assert.equal((await receiver.n.node.store.index.stats()).instances, study.instances, 'Midden got all of it');

  // The partner's AE title only takes C-STORE: a query under it is refused.
  const find = await run('findscu', [
    '-v',
    '-S',
    '-aet',
    'WS1',
    '-aec',
    'MIDDEN',
    '127.0.0.1',
    String(sender.n.port),
    '-k',
    'QueryRetrieveLevel=STUDY',
    '-k',
    'StudyInstanceUID',
  ]);
  assert.doesNotMatch(
    find.stdout + find.stderr,
    new RegExp(study.studyInstanceUid.replaceAll('.', '\\.')),
    'no study is answered under the partner title',
  );
  assert.ok(
    logLines(sender.n).some((l) => String(l['msg']).startsWith('C-FIND refused: MIDDEN stands for a partner hospital')),
    'the refusal is logged',
  );
});

test('the API queues a study the node holds in part: the rest comes by C-GET, the partner gets it whole; an unknown study is 404', async (t) => {
  if (requireTool(t, 'Orthanc') === undefined) return;
  const { receiver, sender, study } = await nodeWithPacs(t, 'c-get');
  // One instance already passed through the node (an earlier send, say).
  await testAccess(sender.n.node, 'import').importFile(study.files[0] ?? '');
  assert.equal((await sender.n.node.store.index.stats()).instances, 1);

  const body = {
    studyInstanceUid: study.studyInstanceUid,
    to: midden.ura,
    purpose: 'transfer',
    reason: 'overplaatsing',
  };
  const queued = await call(sender.port, 'POST', '/api/v1/outbox', sender.ca.certPem, sender.own, body);
  assert.equal(queued.status, 202, queued.body);
  const transferId = (JSON.parse(queued.body) as { transferId: string }).transferId;
  await waitFor('delivery', async () => (await sender.n.node.outbox?.get(transferId))?.state === 'delivered');
  assert.equal((await sender.n.node.store.index.stats()).instances, study.instances);
  assert.equal((await receiver.n.node.store.index.stats()).instances, study.instances);

  const unknown = await call(sender.port, 'POST', '/api/v1/outbox', sender.ca.certPem, sender.own, {
    ...body,
    studyInstanceUid: '1.2.3.4.5.6.7.8.9',
  });
  assert.equal(unknown.status, 404, unknown.body);
  assert.match(unknown.body, /nor in its PACS/);
});
