// The virtual PACS on a hospital with two nodes behind one address, on one PostgreSQL database and one bucket: the PACS's
// C-MOVE reaches one node, the source's upload of the study lands on the other. The waiting node hears of each batch
// through the shared inbox and sends the study into the PACS; the receiving node leaves it to it (the claim is shared),
// so its routing rule does not forward it a second time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { moveIntoPacs, storescpDestination } from '../support/dcmtk.ts';
import { datasetsByUid, filesIn } from '../support/dicom-files.ts';
import { midden, noord, startExchangeNode } from '../support/exchange.ts';
import { freePort } from '../support/net.ts';
import { startPostgres } from '../support/postgres.ts';
import { startObjectStorage } from '../support/rgw.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import { byHolder, network, recorded } from '../support/timeline-network.ts';

const EXTERNAL = 'BB_PRIORS';

test('virtual PACS, two nodes of one hospital: a C-MOVE on one is served while the study arrives at the other, into the PACS once', async (t) => {
  if (['movescu', 'storescp'].map((tool) => requireTool(t, tool)).includes(undefined)) return;
  const server = await startPostgres(t);
  const rgw = await startObjectStorage(t);
  if (server === undefined || rgw === undefined) return;
  const database = await server.database('noord');
  const objects = await rgw.bucket('noord');
  const pacsPort = await freePort();
  // The hospital's address for its partners is the second node's; the PACS asks the first.
  const [first, second] = [await freePort(), await freePort()];
  const noordNode = {
    database,
    objects,
    dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', port: pacsPort, description: 'Noord PACS' }],
    timeline: { sourceTimeoutMs: 5000, externalAe: { aeTitle: EXTERNAL, callers: ['PACS_NOORD'] } },
    // Retrievals would go into the PACS by themselves too: the C-MOVE must not make them arrive twice.
    routing: [{ purpose: 'retrieval', action: 'forward' as const, destination: 'PACS_NOORD' }],
  };
  let partners: { name: string; ura: string; baseUrl: string }[] = [];
  const net = await network(t, {
    noordAt: second,
    noord: (p) => ((partners = p), { ...noordNode, port: first }),
  });
  const { p, nodes } = net;
  await startExchangeNode(t, {
    ...noordNode,
    ca: net.certs.ca,
    identity: net.certs.noord,
    us: noord,
    port: second,
    partners,
    registry: net.reg,
    keysOf: nodes.noord.n.dir,
  });
  await net.consents.recordConsent({ bsn: p.bsn, decision: 'permit', actor: byHolder(midden.ura), ...recorded });
  const received = tempDir(t);
  await storescpDestination(t, { aeTitle: 'PACS_NOORD', port: pacsPort, dir: received, flags: ['+B', '+xa'] });
  const study = p.studies[0];
  assert.ok(study !== undefined);

  const moved = await moveIntoPacs({ pacsAe: 'PACS_NOORD', calledAe: EXTERNAL, port: nodes.noord.n.port }, [
    'QueryRetrieveLevel=STUDY',
    `PatientID=${p.bsn}`,
    `StudyInstanceUID=${study.studyInstanceUid}`,
  ]);
  assert.equal(moved.code, 0, moved.stderr);
  assert.match(moved.stdout + moved.stderr, /Received Final Move Response \(Success\)/);
  const original = datasetsByUid(study.files);
  const inPacs = datasetsByUid(filesIn(received));
  assert.equal(inPacs.size, study.instances);
  for (const [uid, bytes] of original) assert.ok(inPacs.get(uid)?.equals(bytes), `instance ${uid} byte for byte`);

  // One audit trail for the two nodes: the arrival was recorded, and no routing rule imported the study.
  const atNoord = (action: 'receive' | 'import') => nodes.noord.n.node.audit.list({ bsn: p.bsn, action });
  assert.ok((await atNoord('receive')).some((r) => r.objects.studyInstanceUid === study.studyInstanceUid));
  assert.equal((await atNoord('import')).length, 0, 'the node that took it in left it to the C-MOVE');
});
