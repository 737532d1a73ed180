// Prefetch on an order: Noord's RIS sends an HL7 order (ORM^O01) with Debian's python3-hl7 `mllp_send`, a client
// nobody here wrote; Noord's node acknowledges it, asks the timeline for the patient's studies at the other hospitals,
// picks the relevant priors by its rule, and retrieves them into Noord's PACS (Orthanc) before the examination is read.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { midden } from '../support/exchange.ts';
import { freePort, waitFor } from '../support/net.ts';
import { logLines, restartTestNode } from '../support/node.ts';
import { openSqlitePrefetchDeliveries } from '../../src/node/index.ts';
import { startOrthanc } from '../support/orthanc-pacs.ts';
import { run } from '../support/processes.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import { byHolder, network, radiologistAt, recorded, zuid } from '../support/timeline-network.ts';
import { XCA_TRANSACTIONS } from '../../src/gateway/index.ts';
import { createTestIdp } from '../../src/gateway/xca/xua-test-support.ts';

/** An order as a RIS writes it (segments one per line, as mllp_send --loose reads them). */
function order(o: { bsn: string; orderNumber: string; procedure: string; type?: string; control: string }): string {
  return [
    `MSH|^~\\&|RIS|NOORD|BEELDBRUG|NOORD|20261206101500||${o.type ?? 'ORM^O01^ORM_O01'}|${o.control}|P|2.5`,
    `PID|1||NOORD-4711^^^NOORD^PI~${o.bsn}^^^NLMINBIZA^NNNLD||Post^Wouter||19690516|M`,
    `ORC|NW|${o.orderNumber}|||SC`,
    `OBR|1|${o.orderNumber}||XTHX^${o.procedure}^LOCAL|||20261207090000|||||||||||||||||CR`,
    '',
  ].join('\n');
}

/** The timeline network with Noord's PACS (Orthanc, knowing Noord's node), Noord's HL7 listener with these prefetch
 * rules, and the patient's permit for Midden to release. */
async function withPrefetch(t: TestContext, rules: Record<string, unknown>[]) {
  const pacs = await startOrthanc({ dir: tempDir(t), aeTitle: 'PACS_NOORD', modalities: {} });
  t.after(() => pacs.stop());
  const net = await network(t, {
    noord: {
      dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', port: pacs.dicomPort, description: 'Noord PACS' }],
      hl7: {
        listen: { host: '127.0.0.1', port: await freePort() },
        senders: [{ host: '127.0.0.1', description: 'the RIS' }],
        prefetch: { destination: 'PACS_NOORD', rules },
      },
    },
  });
  await pacs.rest('PUT', '/modalities/beeldbrug', {
    AET: net.nodes.noord.n.aeTitle,
    Host: '127.0.0.1',
    Port: net.nodes.noord.n.port,
  });
  await net.consents.recordConsent({ bsn: net.p.bsn, decision: 'permit', actor: byHolder(midden.ura), ...recorded });
  return { pacs, net };
}

test('prefetch: an ORM from the RIS brings the newest relevant priors from the other hospitals into the PACS; they are not fetched twice; other messages are refused', async (t) => {
  if (requireTool(t, 'Orthanc') === undefined || requireTool(t, 'mllp_send') === undefined) return;
  const { pacs, net } = await withPrefetch(t, [
    { name: 'thorax', procedure: 'thorax', priorModalities: ['CR', 'DX'], maxPriors: 2, maxAgeYears: 50 },
  ]);
  const { p, nodes } = net;
  await net.consents.recordConsent({ bsn: p.bsn, decision: 'permit', actor: byHolder(zuid.ura), ...recorded });
  const hl7Port = nodes.noord.n.node.hl7Port;
  assert.ok(hl7Port !== undefined);
  const send = async (text: string) => {
    const file = join(tempDir(t), 'message.hl7');
    writeFileSync(file, text);
    return run('mllp_send', ['--loose', '--file', file, '--port', String(hl7Port), '127.0.0.1']);
  };

  const sent = await send(order({ bsn: p.bsn, orderNumber: 'ORD-1', procedure: 'X-thorax', control: 'C1' }));
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stdout, /MSA\|AA\|C1\|/, 'acknowledged at once');
  // The two newest of the patient's three X-ray studies (two at Midden, one at Zuid).
  const expected = [...p.studies].sort((a, b) => b.studyDate.localeCompare(a.studyDate)).slice(0, 2);
  const wanted = expected.reduce((n, s) => n + s.instances, 0);
  const inPacs = async () => (await pacs.rest<{ CountInstances: number }>('GET', '/statistics')).CountInstances;
  await waitFor('the priors in the PACS', async () => (await inPacs()) === wanted);
  const studies = await pacs.rest<{ MainDicomTags: { StudyInstanceUID: string } }[]>('GET', '/studies?expand');
  assert.deepEqual(
    studies.map((s) => s.MainDicomTags.StudyInstanceUID).sort(),
    expected.map((s) => s.studyInstanceUid).sort(),
  );
  await waitFor('the prefetch logged', async () => logLines(nodes.noord.n).some((l) => l['msg'] === 'prefetch done'));
  const done = logLines(nodes.noord.n).find((l) => l['msg'] === 'prefetch done');
  assert.equal(done?.['fetched'], 2);
  assert.equal(done?.['failed'], 0);
  // Audited with the order as grounds: the question, each retrieval and each import into the PACS.
  const records = await nodes.noord.n.node.audit.list({ bsn: p.bsn });
  const query = records.find((r) => r.action === 'query');
  assert.equal(query?.user.id, 'hl7:RIS');
  assert.match(query?.grounds.authorization ?? '', /^HL7 ORM\^O01 order ORD-1 from RIS@127\.0\.0\.1, rule thorax$/);
  assert.equal(records.filter((r) => r.action === 'retrieve' && r.outcome === 'success').length, 2);
  await waitFor(
    'the imports recorded',
    async () => (await nodes.noord.n.node.audit.list({ bsn: p.bsn, action: 'import' })).length === 2,
  );

  // A second order for the same patient: the priors are in the PACS already, nothing travels again.
  const again = await send(order({ bsn: p.bsn, orderNumber: 'ORD-2', procedure: 'Thorax PA', control: 'C2' }));
  assert.match(again.stdout, /MSA\|AA\|C2\|/);
  await waitFor(
    'the second prefetch logged',
    async () => logLines(nodes.noord.n).filter((l) => l['msg'] === 'prefetch done').length === 2,
  );
  const second = logLines(nodes.noord.n).filter((l) => l['msg'] === 'prefetch done')[1];
  assert.deepEqual([second?.['fetched'], second?.['alreadyInPacs']], [0, 2]);
  assert.equal(await inPacs(), wanted);

  // An order no rule covers is acknowledged and prefetches nothing; an ADT is not an order.
  const knee = await send(order({ bsn: p.bsn, orderNumber: 'ORD-3', procedure: 'MRI knie', control: 'C3' }));
  assert.match(knee.stdout, /MSA\|AA\|C3\|/);
  // (The reason is escaped as HL7 escapes a component separator in text: \S\.)
  const adt = await send(order({ bsn: p.bsn, orderNumber: 'X', procedure: 'X', type: 'ADT^A08', control: 'C4' }));
  assert.match(adt.stdout, /MSA\|AR\|C4\|ADT\\S\\A08 is not an order/);
  await waitFor('the third prefetch logged', async () =>
    logLines(nodes.noord.n).some(
      (l) => l['msg'] === 'prefetch done' && l['skipped'] === 'no prefetch rule applies to the ordered procedure',
    ),
  );
});

test('prefetch: a prior asked for before the node stopped goes on into the PACS at the next start', async (t) => {
  if (requireTool(t, 'Orthanc') === undefined) return;
  const { pacs, net } = await withPrefetch(t, [{ name: 'any', maxPriors: 1, maxAgeYears: 50 }]);
  const { p, nodes } = net;
  const prior = p.studies[0];
  assert.ok(prior !== undefined);
  // The prior arrives while the prefetch that asked for it is cut off (the node stops): it waits in the inbox, as the
  // routing rules (none: hold) leave it.
  const asked = await radiologistAt(nodes.noord).call('POST', '/api/v1/timeline/retrievals', {
    bsn: p.bsn,
    source: midden.ura,
    studyInstanceUid: prior.studyInstanceUid,
  });
  assert.equal(asked.status, 202, asked.body);
  const { transferId } = JSON.parse(asked.body) as { transferId: string };
  await waitFor('the prior at Noord', async () =>
    (await nodes.noord.n.node.audit.list({ action: 'receive' })).some((r) =>
      r.description.startsWith('study received complete'),
    ),
  );
  await nodes.noord.n.node.close();
  const deliveries = openSqlitePrefetchDeliveries(join(nodes.noord.n.dir, 'data', 'prefetch.sqlite'));
  await deliveries.add({ transferId, destination: 'PACS_NOORD' });
  await deliveries.close();
  assert.equal((await pacs.rest<{ CountInstances: number }>('GET', '/statistics')).CountInstances, 0);

  const restarted = await restartTestNode(t, nodes.noord.n);
  await waitFor(
    'the prior in the PACS',
    async () => (await pacs.rest<{ CountInstances: number }>('GET', '/statistics')).CountInstances === prior.instances,
  );
  assert.ok(
    logLines(restarted).some(
      (l) => l['msg'] === 'prefetch: a prior asked for before the restart goes on into the PACS',
    ),
  );
  await waitFor('the import recorded', async () =>
    (await restarted.node.audit.list({ bsn: p.bsn, action: 'import' })).some((r) => r.outcome === 'success'),
  );
  const after = openSqlitePrefetchDeliveries(join(nodes.noord.n.dir, 'data', 'prefetch.sqlite'));
  t.after(() => after.close());
  await waitFor('the delivery finished', async () => (await after.pending()).length === 0);
});

test('prefetch: a prior held by an XCA community comes from it (RAD-75) into the PACS beside the priors of Beeldbrug nodes', async (t) => {
  if (['Orthanc', 'mllp_send', 'openssl'].map((tool) => requireTool(t, tool)).includes(undefined)) return;
  const pacs = await startOrthanc({ dir: tempDir(t), aeTitle: 'PACS_NOORD', modalities: {} });
  t.after(() => pacs.stop());
  // Zuid answers as an XCA community (its node is not reachable for Noord here): Noord's node signs the assertions.
  const signer = createTestIdp('urn:beeldbrug:ziekenhuis-noord');
  const dir = tempDir(t);
  writeFileSync(join(dir, 'xua.key'), signer.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'xua.crt'), signer.certPem);
  const zuidPort = await freePort();
  const hl7Port = await freePort();
  const zuidXca = (tr: keyof typeof XCA_TRANSACTIONS) => `https://127.0.0.1:${zuidPort}${XCA_TRANSACTIONS[tr].path}`;
  const zuidCommunity = 'urn:oid:2.16.528.1.1007.3.3.10000003.1';
  const net = await network(t, {
    zuidPort,
    zuid: {
      xca: {
        homeCommunityId: zuidCommunity,
        repositoryUniqueId: '2.16.528.1.1007.3.3.10000003.2',
        identityProviders: [{ issuer: signer.issuer, certificateFile: join(dir, 'xua.crt') }],
      },
    },
    noord: (partners) => ({
      partners: partners.map((p) => (p.ura === zuid.ura ? { ...p, baseUrl: 'https://127.0.0.1:1' } : p)),
      dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', port: pacs.dicomPort, description: 'Noord PACS' }],
      hl7: {
        listen: { host: '127.0.0.1', port: hl7Port },
        senders: [{ host: '127.0.0.1', description: 'the RIS' }],
        prefetch: {
          destination: 'PACS_NOORD',
          rules: [
            { name: 'thorax', procedure: 'thorax', priorModalities: ['CR', 'DX'], maxPriors: 3, maxAgeYears: 50 },
          ],
        },
      },
      xca: {
        homeCommunityId: 'urn:oid:2.16.528.1.1007.3.3.10000001.1',
        repositoryUniqueId: '2.16.528.1.1007.3.3.10000001.2',
        communities: [
          {
            name: 'Regio Zuid',
            homeCommunityId: zuidCommunity,
            queryUrl: zuidXca('ITI-38'),
            retrieveUrl: zuidXca('ITI-39'),
            imagingRetrieveUrl: zuidXca('RAD-75'),
          },
        ],
        assertionSigner: {
          issuer: signer.issuer,
          keyFile: join(dir, 'xua.key'),
          certificateFile: join(dir, 'xua.crt'),
        },
      },
    }),
  });
  const { p, nodes } = net;
  await pacs.rest('PUT', '/modalities/beeldbrug', {
    AET: nodes.noord.n.aeTitle,
    Host: '127.0.0.1',
    Port: nodes.noord.n.port,
  });
  for (const holder of [midden.ura, zuid.ura])
    await net.consents.recordConsent({ bsn: p.bsn, decision: 'permit', actor: byHolder(holder), ...recorded });
  const file = join(tempDir(t), 'message.hl7');
  writeFileSync(file, order({ bsn: p.bsn, orderNumber: 'ORD-9', procedure: 'X-thorax', control: 'C9' }));
  const sent = await run('mllp_send', [
    '--loose',
    '--file',
    file,
    '--port',
    String(nodes.noord.n.node.hl7Port),
    '127.0.0.1',
  ]);
  assert.match(sent.stdout, /MSA\|AA\|C9\|/);
  // All three X-ray studies: two from Midden's node over the exchange, the one at Zuid from its XCA gateway.
  const wanted = p.studies.reduce((n, s) => n + s.instances, 0);
  const inPacs = async () => (await pacs.rest<{ CountInstances: number }>('GET', '/statistics')).CountInstances;
  await waitFor('the priors in the PACS', async () => (await inPacs()) === wanted);
  const zuidStudy = p.studies[2]!;
  assert.ok(
    (await nodes.zuid.n.node.audit.list({ bsn: p.bsn })).some(
      (r) => r.transaction === 'RAD-75' && r.objects.studyInstanceUid === zuidStudy.studyInstanceUid,
    ),
    "the Zuid prior came through Zuid's XCA gateway",
  );
  await waitFor('the prefetch logged', async () => logLines(nodes.noord.n).some((l) => l['msg'] === 'prefetch done'));
  const done = logLines(nodes.noord.n).find((l) => l['msg'] === 'prefetch done');
  assert.deepEqual([done?.['fetched'], done?.['failed']], [3, 0]);
});
