// The whole push as two hospitals run it: Noord's PACS (Orthanc A) sends a study to Noord's node from its "send to"
// menu (C-STORE); a user queues it for Midden through the outbox API; Midden's node verifies it and forwards it into
// Midden's PACS (Orthanc B). Certificates come from `beeldbrug pki`, as an administrator makes them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type IssuedCertificate } from '../../src/auth/index.ts';
import { parseDataset, readPart10, Tag } from '../../src/dicom/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { filesIn, payloadOf } from '../support/dicom-files.ts';
import { call, midden, noord, startExchangeNode } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { startOrthanc } from '../support/orthanc-pacs.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

const main = new URL('../../src/main.ts', import.meta.url).pathname;

function pki(args: string[]): void {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', main, 'pki', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

test('Orthanc A -> node Noord -> node Midden -> Orthanc B: every instance arrives, pixel data byte-identical, audited on both sides', async (t) => {
  if (requireTool(t, 'Orthanc') === undefined) return;
  const certs = tempDir(t);
  pki(['ca', '--out', certs, '--name', 'Regio test CA']);
  const read = (name: string): string => readFileSync(join(certs, name), 'utf8');
  const ca: IssuedCertificate = { certPem: read('ca.crt'), keyPem: read('ca.key') };

  const pacsB = await startOrthanc({ dir: tempDir(t), aeTitle: 'PACS_MIDDEN', modalities: { beeldbrug: { aeTitle: 'BB_0002', host: '127.0.0.1', port: 1 } } });
  t.after(() => pacsB.stop());
  const midNode = await startExchangeNode(t, {
    ca,
    us: midden,
    partners: [noord],
    dimsePeers: [{ aeTitle: 'PACS_MIDDEN', host: '127.0.0.1', port: pacsB.dicomPort, description: 'Midden PACS' }],
    routing: [{ action: 'forward', destination: 'PACS_MIDDEN' }],
  });
  const noordNode = await startExchangeNode(t, {
    ca,
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${midNode.port}` }],
    dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', description: 'Noord PACS (calls us)' }],
  });
  const pacsA = await startOrthanc({ dir: tempDir(t), aeTitle: 'PACS_NOORD', modalities: { beeldbrug: { aeTitle: noordNode.n.aeTitle, host: '127.0.0.1', port: noordNode.n.port } } });
  t.after(() => pacsA.stop());

  const work = tempDir(t);
  const synth = await synthesize({ outDir: join(work, 'synth'), patients: 1, seed: 71 });
  const study = synth.patients[0]?.studies[0];
  assert.ok(study !== undefined);
  const originals = new Map<string, Buffer>();
  for (const f of study.files) {
    await pacsA.upload(f);
    const p = readPart10(readFileSync(f));
    originals.set(p.dataset.string(Tag.SOPInstanceUID) ?? '', payloadOf(p.dataset));
  }
  // "Send to Beeldbrug" in PACS A: Orthanc's own C-STORE to the node.
  const studyId = (await pacsA.rest<string[]>('POST', '/tools/find', { Level: 'Study', Query: { StudyInstanceUID: study.studyInstanceUid } }))[0];
  assert.ok(studyId !== undefined);
  await pacsA.rest('POST', '/modalities/beeldbrug/store', { Resources: [studyId], Synchronous: true });
  assert.equal(noordNode.n.node.store.index.stats().instances, study.instances);

  const queued = await call(noordNode.port, 'POST', '/api/v1/outbox', ca.certPem, noordNode.own, {
    studyInstanceUid: study.studyInstanceUid, to: midden.ura, purpose: 'transfer', urgency: 'urgent', reason: 'overplaatsing', user: { id: 'r1', name: 'Dr. D. Visser', roleCode: '01.015' },
  });
  assert.equal(queued.status, 202, queued.body);
  await waitFor('Orthanc B holds the study', async () => (await pacsB.rest<string[]>('GET', '/instances')).length === study.instances, 60_000);
  for (const id of await pacsB.rest<string[]>('GET', '/instances')) {
    const file = await pacsB.instanceFile(id);
    const p = readPart10(file);
    const uid = p.dataset.string(Tag.SOPInstanceUID) ?? '';
    assert.ok(payloadOf(parseDataset(file.subarray(p.datasetOffset), p.transferSyntaxUid)).equals(originals.get(uid) ?? Buffer.alloc(0)), `${uid}: byte-identical in Orthanc B`);
  }
  await waitFor('both audit trails complete', async () => midNode.n.node.audit.list({ action: 'import' }).length === 1 && noordNode.n.node.audit.list({ action: 'send' }).length === 2, 10_000);
  assert.equal(midNode.n.node.audit.list({ action: 'receive' })[0]?.patient?.bsn, synth.patients[0]?.bsn);
  assert.equal(noordNode.n.node.audit.list({ action: 'send' })[1]?.outcome, 'success');
  assert.ok(midNode.n.node.audit.verify().ok && noordNode.n.node.audit.verify().ok);
});
