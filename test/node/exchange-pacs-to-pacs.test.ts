// The whole push as two hospitals run it, each with its own PACS (Orthanc A at Noord, Orthanc B at Midden) and every
// certificate made with `beeldbrug pki`, as an administrator makes them. Midden's node verifies what arrives and forwards
// it into Orthanc B. Noord's PACS reaches Midden two ways: its "send to" menu with Midden as a destination (a C-STORE to
// the AE title that stands for Midden), or a user queueing a study the node holds through the outbox API.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { type IssuedCertificate } from '../../src/auth/index.ts';
import { parseDataset, readPart10, Tag } from '../../src/dicom/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { Association } from '../../src/dimse/index.ts';
import { payloadOf } from '../support/dicom-files.ts';
import { logLines } from '../support/node.ts';
import { call, midden, noord, startExchangeNode } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { type OrthancPacs, startOrthanc } from '../support/orthanc-pacs.ts';
import { networkCertificates } from '../support/pki-cli.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

/** A network CA and one node certificate per hospital, all from the CLI. */
function certificates(t: TestContext): { ca: IssuedCertificate; noord: IssuedCertificate; midden: IssuedCertificate } {
  return networkCertificates(t, { noord, midden });
}

/** Two hospitals: Orthanc A knows Noord's node as "beeldbrug" and Midden as a destination at that node. */
async function twoHospitals(t: TestContext) {
  const certs = certificates(t);
  const pacsB = await startOrthanc({
    dir: tempDir(t),
    aeTitle: 'PACS_MIDDEN',
    modalities: { beeldbrug: { aeTitle: 'BB_0002', host: '127.0.0.1', port: 1 } },
  });
  t.after(() => pacsB.stop());
  const midNode = await startExchangeNode(t, {
    ca: certs.ca,
    identity: certs.midden,
    us: midden,
    partners: [noord],
    dimsePeers: [{ aeTitle: 'PACS_MIDDEN', host: '127.0.0.1', port: pacsB.dicomPort, description: 'Midden PACS' }],
    routing: [{ action: 'forward', destination: 'PACS_MIDDEN' }],
  });
  const noordNode = await startExchangeNode(t, {
    ca: certs.ca,
    identity: certs.noord,
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${midNode.port}`, aeTitle: 'MIDDEN' }],
    dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', description: 'Noord PACS (calls us)' }],
  });
  const pacsA = await startOrthanc({
    dir: tempDir(t),
    aeTitle: 'PACS_NOORD',
    modalities: {
      beeldbrug: { aeTitle: noordNode.n.aeTitle, host: '127.0.0.1', port: noordNode.n.port },
      midden: { aeTitle: 'MIDDEN', host: '127.0.0.1', port: noordNode.n.port },
    },
  });
  t.after(() => pacsA.stop());
  return { certs, pacsA, pacsB, midNode, noordNode };
}

/** A synthetic study uploaded into Orthanc A; returns its Orthanc id and every instance's pixel data. */
async function studyInPacsA(t: TestContext, pacsA: OrthancPacs, seed: number) {
  const synth = await synthesize({ outDir: join(tempDir(t), 'synth'), patients: 1, seed });
  const study = synth.patients[0]?.studies[0];
  assert.ok(study !== undefined);
  const originals = new Map<string, Buffer>();
  for (const f of study.files) {
    await pacsA.upload(f);
    const p = readPart10(readFileSync(f));
    originals.set(p.dataset.string(Tag.SOPInstanceUID) ?? '', payloadOf(p.dataset));
  }
  const orthancId = (
    await pacsA.rest<string[]>('POST', '/tools/find', {
      Level: 'Study',
      Query: { StudyInstanceUID: study.studyInstanceUid },
    })
  )[0];
  assert.ok(orthancId !== undefined);
  return { study, bsn: synth.patients[0]?.bsn, orthancId, originals };
}

async function assertAllInPacsB(
  pacsB: OrthancPacs,
  instances: number,
  originals: ReadonlyMap<string, Buffer>,
): Promise<void> {
  await waitFor(
    'Orthanc B holds the study',
    async () => (await pacsB.rest<string[]>('GET', '/instances')).length === instances,
  );
  for (const id of await pacsB.rest<string[]>('GET', '/instances')) {
    const file = await pacsB.instanceFile(id);
    const p = readPart10(file);
    const uid = p.dataset.string(Tag.SOPInstanceUID) ?? '';
    assert.ok(
      payloadOf(parseDataset(file.subarray(p.datasetOffset), p.transferSyntaxUid)).equals(
        originals.get(uid) ?? Buffer.alloc(0),
      ),
      `${uid}: byte-identical in Orthanc B`,
    );
  }
}

test('Orthanc A "send to Midden" -> node Noord -> node Midden -> Orthanc B: every instance arrives, pixel data byte-identical, audited on both sides', async (t) => {
  if (requireTool(t, 'Orthanc') === undefined) return;
  const { pacsA, pacsB, midNode, noordNode } = await twoHospitals(t);
  const { study, bsn, orthancId, originals } = await studyInPacsA(t, pacsA, 71);

  // The radiologist picks Midden in PACS A's "send to" menu: Orthanc C-STOREs the study to the AE title MIDDEN.
  await pacsA.rest('POST', '/modalities/midden/store', { Resources: [orthancId], Synchronous: true });
  await assertAllInPacsB(pacsB, study.instances, originals);

  const sent = (await noordNode.n.node.outbox?.list({})) ?? [];
  assert.equal(sent.length, 1, 'one transfer queued for the study');
  assert.equal(sent[0]?.request.partnerUra, midden.ura);
  assert.match(sent[0]?.request.user.id ?? '', /^dicom:PACS_NOORD@/, 'the PACS that sent it is named as the requester');
  await waitFor(
    'both audit trails complete',
    async () =>
      (await midNode.n.node.audit.list({ action: 'import' })).length === 1 &&
      (await noordNode.n.node.audit.list({ action: 'send' })).length === 2,
  );
  assert.equal((await midNode.n.node.audit.list({ action: 'receive' }))[0]?.patient?.bsn, bsn);
  assert.equal((await noordNode.n.node.audit.list({ action: 'send' }))[1]?.outcome, 'success');
  assert.ok((await midNode.n.node.audit.verify()).ok && (await noordNode.n.node.audit.verify()).ok);
});

test('a study the node holds, queued through the outbox API by a user, reaches Orthanc B; an aborted "send to" queues nothing', async (t) => {
  if (requireTool(t, 'Orthanc') === undefined) return;
  const { certs, pacsA, pacsB, noordNode } = await twoHospitals(t);
  const { study, orthancId, originals } = await studyInPacsA(t, pacsA, 72);

  // A "send to Midden" cut off after one instance (A-ABORT): the PACS tells its user; the node queues nothing.
  const first = readPart10(readFileSync(study.files[0] ?? ''));
  const sopClassUid = first.dataset.string(Tag.SOPClassUID) ?? '';
  const cutOff = await Association.connect({
    host: '127.0.0.1',
    port: noordNode.n.port,
    callingAeTitle: 'PACS_NOORD',
    calledAeTitle: 'MIDDEN',
    presentationContexts: [{ abstractSyntax: sopClassUid, transferSyntaxes: [first.transferSyntaxUid] }],
  });
  const status = await cutOff.store({
    sopClassUid,
    sopInstanceUid: first.dataset.string(Tag.SOPInstanceUID) ?? '',
    transferSyntaxUid: first.transferSyntaxUid,
    data: readFileSync(study.files[0] ?? '').subarray(first.datasetOffset),
  });
  assert.equal(status, 0);
  cutOff.abort();
  await waitFor('the node saw the abort', async () =>
    logLines(noordNode.n).some((l) => l['msg'] === 'association to a partner AE title aborted; nothing queued'),
  );
  assert.equal((await noordNode.n.node.outbox?.list({}))?.length, 0);

  // PACS A sends to the node under its own AE title: stored, but not queued for anyone.
  await pacsA.rest('POST', '/modalities/beeldbrug/store', { Resources: [orthancId], Synchronous: true });
  assert.equal((await noordNode.n.node.store.index.stats()).instances, study.instances);
  assert.equal((await noordNode.n.node.outbox?.list({}))?.length, 0);

  const queued = await call(noordNode.port, 'POST', '/api/v1/outbox', certs.ca.certPem, certs.noord, {
    studyInstanceUid: study.studyInstanceUid,
    to: midden.ura,
    purpose: 'transfer',
    urgency: 'urgent',
    reason: 'overplaatsing',
  });
  assert.equal(queued.status, 202, queued.body);
  await assertAllInPacsB(pacsB, study.instances, originals);
});
