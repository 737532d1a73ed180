// The push flow as a hospital sees it: Noord sends a study, Midden's node receives it and, by its routing rule,
// forwards every instance into Midden's PACS (a real Orthanc) as it arrives. The PACS then finds the study by C-FIND and
// holds every instance with its pixel data byte for byte.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { createTestCa } from '../../src/auth/index.ts';
import { Dataset, parseDataset, readPart10, rewriteHeader, Tag } from '../../src/dicom/index.ts';
import { BSN_ISSUER_OID } from '../../src/patient/index.ts';
import { sendStudy } from '../../src/exchange/index.ts';
import { silentLogger } from '../../src/log/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { run } from '../dimse/helpers.ts';
import { filesIn, payloadOf } from '../support/dicom-files.ts';
import { call, type ExchangeNodeOptions, midden, noord, startExchangeNode, studyHeldBy } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { signedIn } from '../support/sign-in.ts';
import { startOrthanc } from '../support/orthanc-pacs.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import { testAccess } from '../support/patient-data.ts';
import { heldInstance } from '../support/patient-data.ts';

/** Midden's node with Midden's PACS (a real Orthanc) behind it, and Noord's node that sends to it. */
async function noordToMidden(
  t: TestContext,
  routing: NonNullable<ExchangeNodeOptions['routing']>,
  patientIdentity?: ExchangeNodeOptions['patientIdentity'],
) {
  const pacs = await startOrthanc({
    dir: tempDir(t),
    aeTitle: 'PACS_MIDDEN',
    modalities: {
      beeldbrug: { aeTitle: 'BB_0002', host: '127.0.0.1', port: 1 },
      viewer: { aeTitle: 'VIEWER', host: '127.0.0.1', port: 1 },
    },
  });
  t.after(() => pacs.stop());
  const ca = createTestCa({ commonName: 'regio test CA' });
  const receiver = await startExchangeNode(t, {
    ca,
    us: midden,
    partners: [noord],
    dimsePeers: [{ aeTitle: 'PACS_MIDDEN', host: '127.0.0.1', port: pacs.dicomPort, description: 'Midden PACS' }],
    routing,
    ...(patientIdentity !== undefined ? { patientIdentity } : {}),
  });
  const sender = await startExchangeNode(t, {
    ca,
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiver.port}` }],
  });
  return { pacs, ca, receiver, sender };
}

test('push into the receiving PACS: Orthanc gets every instance, pixel data byte-identical, and finds the study', async (t) => {
  if (requireTool(t, 'Orthanc') === undefined || requireTool(t, 'findscu') === undefined) return;
  const { pacs, receiver, sender } = await noordToMidden(t, [
    { from: noord.ura, action: 'forward', destination: 'PACS_MIDDEN' },
  ]);

  const work = tempDir(t);
  const synth = await synthesize({ outDir: join(work, 'synth'), patients: 1, seed: 41 });
  const originals = new Map<string, Buffer>();
  for (const f of filesIn(join(work, 'synth'))) {
    await testAccess(sender.n.node, 'import').importFile(f);
    const p = readPart10(readFileSync(f));
    originals.set(p.dataset.string(Tag.SOPInstanceUID) ?? '', payloadOf(p.dataset));
  }
  const study = synth.patients[0]?.studies[0];
  assert.ok(study !== undefined);

  await sendStudy(
    {
      studyInstanceUid: study.studyInstanceUid,
      to: { ...midden, baseUrl: `https://127.0.0.1:${receiver.port}` },
      purpose: 'transfer',
      urgency: 'urgent',
      reason: 'overplaatsing',
      user: { id: 'r1', name: 'Dr. D. Visser' },
    },
    { access: testAccess(sender.n.node, 'exchange'), tls: sender.tls, logger: silentLogger() },
  );
  await waitFor(
    'the study in the PACS',
    async () => (await pacs.rest<string[]>('GET', '/instances')).length === study.instances,
  );
  const forwarder = receiver.n.node.forwarding().get('PACS_MIDDEN');
  assert.ok(forwarder !== undefined);
  await forwarder.settled();
  assert.deepEqual(forwarder.failed, []);

  // The receiving node's audit trail: the arrival (a partner node, on behalf of the sending radiologist) and the import.
  const audit = receiver.n.node.audit;
  await waitFor('the import record', async () => (await audit.list({ action: 'import' })).length === 1);
  // Announced, each upload batch, and complete: the record that counts for the auditor is the last.
  const received = (await audit.list({ action: 'receive' })).find((r) =>
    r.description.startsWith('study received complete'),
  );
  assert.equal(received?.patient?.bsn, synth.patients[0]?.bsn);
  assert.equal(received?.objects.studyInstanceUid, study.studyInstanceUid);
  assert.equal(received?.user.organizationUra, noord.ura);
  assert.equal(received?.responsibleUser?.name, 'Dr. D. Visser');
  assert.equal(received?.grounds.purpose, 'transfer');
  assert.equal(received?.accessPoint.ip, '127.0.0.1');
  const [imported] = await audit.list({ action: 'import' });
  assert.equal(imported?.outcome, 'success');
  assert.equal(imported?.accessPoint.aeTitle, 'PACS_MIDDEN');
  assert.equal(imported?.objects.transferId, received?.objects.transferId);
  assert.deepEqual(await audit.verify(), { ok: true, records: (await audit.list()).length });

  for (const id of await pacs.rest<string[]>('GET', '/instances')) {
    const file = await pacs.instanceFile(id);
    const p = readPart10(file);
    const uid = p.dataset.string(Tag.SOPInstanceUID) ?? '';
    assert.ok(
      payloadOf(parseDataset(file.subarray(p.datasetOffset), p.transferSyntaxUid)).equals(
        originals.get(uid) ?? Buffer.alloc(0),
      ),
      `${uid}: byte-identical in the PACS`,
    );
  }
  const answers = tempDir(t);
  const find = await run('findscu', [
    '-S',
    '-X',
    '-od',
    answers,
    '-aet',
    'VIEWER',
    '-aec',
    'PACS_MIDDEN',
    '-k',
    'QueryRetrieveLevel=STUDY',
    '-k',
    `StudyInstanceUID=${study.studyInstanceUid}`,
    '-k',
    'NumberOfStudyRelatedInstances',
    '127.0.0.1',
    String(pacs.dicomPort),
  ]);
  assert.equal(find.code, 0, find.stderr);
  const found = filesIn(answers).map((f) => readPart10(readFileSync(f)).dataset);
  assert.equal(found.length, 1, 'the PACS finds the study');
  assert.equal(
    Number(found[0]?.string(Tag.NumberOfStudyRelatedInstances)),
    study.instances,
    'the PACS counts every instance of the study',
  );
});

test('hold, then accept: a held study waits in the inbox and goes into the PACS (Orthanc) when a user accepts it', async (t) => {
  if (requireTool(t, 'Orthanc') === undefined) return;
  const { pacs, ca, receiver, sender } = await noordToMidden(t, [{ purpose: 'consultation', action: 'hold' }]);
  const { study } = await studyHeldBy(t, sender.n, 45);
  const sent = await sendStudy(
    {
      studyInstanceUid: study.studyInstanceUid,
      to: { ...midden, baseUrl: `https://127.0.0.1:${receiver.port}` },
      purpose: 'consultation',
      consentReference: 'toestemming-77',
      urgency: 'routine',
      reason: 'second opinion',
      user: { id: 'r1', name: 'Dr. D. Visser' },
    },
    { access: testAccess(sender.n.node, 'exchange'), tls: sender.tls, logger: silentLogger() },
  );

  const own = receiver.own;
  const listed = JSON.parse(
    (await call(receiver.port, 'GET', '/api/v1/inbox?state=delivered', ca.certPem, own)).body,
  ) as { transfers: { transferId: string; purpose: string; reason: string; instances: number }[] };
  assert.deepEqual(
    listed.transfers.map((x) => [x.transferId, x.purpose, x.reason, x.instances]),
    [[sent.transferId, 'consultation', 'second opinion', study.instances]],
  );
  assert.equal((await pacs.rest<string[]>('GET', '/instances')).length, 0, 'held: nothing in the PACS yet');
  assert.equal(
    (await call(receiver.port, 'GET', '/api/v1/inbox', ca.certPem, receiver.partner)).status,
    403,
    'the inbox is not for partners',
  );

  // The radiologist who accepts signs in; naming someone in the body is refused.
  const deWit = await signedIn(t, receiver, {
    username: 'e.dewit',
    name: 'Dr. E. de Wit',
    role: 'radiologist',
    uziRoleCode: '01.015',
  });
  const accept = (body: unknown) => deWit.call('POST', `/api/v1/inbox/${sent.transferId}/accept`, body);
  assert.equal((await accept({ user: {} })).status, 400);
  assert.equal(
    (await accept({ destination: 'PACS_MIDDEN', user: { id: 'radioloog-9', name: 'Dr. Collega' } })).status,
    400,
  );
  const accepted = await accept({ destination: 'PACS_MIDDEN' });
  assert.equal(accepted.status, 202, accepted.body);
  await waitFor(
    'the study in the PACS',
    async () => (await pacs.rest<string[]>('GET', '/instances')).length === study.instances,
  );
  // One record when the user accepts (written before the 202), one when the PACS has all of it.
  await waitFor('imported', async () => (await receiver.n.node.audit.list({ action: 'import' })).length === 2);
  const [acceptance, imported] = await receiver.n.node.audit.list({ action: 'import' });
  assert.match(acceptance?.description ?? '', /accepted by Dr\. E\. de Wit for import into the PACS PACS_MIDDEN/);
  assert.equal(imported?.outcome, 'success');
  for (const r of [acceptance, imported]) {
    assert.equal(r?.user.id, deWit.id, 'the accepting user, signed in, is named');
    assert.equal(r?.grounds.consentReference, 'toestemming-77');
  }
  assert.equal(
    (
      JSON.parse((await call(receiver.port, 'GET', '/api/v1/inbox', ca.certPem, own)).body) as {
        transfers: { state: string }[];
      }
    ).transfers[0]?.state,
    'imported',
  );
  assert.equal((await accept({})).status, 409, 'an imported study is not accepted twice');
});

/** Rewrites a study's files as a hospital that files patients under its own number would send them. */
async function asLocalNumbers(
  files: readonly string[],
  outDir: string,
  o: { mrn: string; keepBsn: boolean },
): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const out: string[] = [];
  for (const [n, f] of files.entries()) {
    const p = readPart10(readFileSync(f));
    const bsn = p.dataset.string(Tag.PatientID) ?? '';
    const parts: Buffer[] = [];
    const original = readFileSync(f).subarray(p.datasetOffset);
    for await (const c of rewriteHeader(
      (async function* () {
        yield original;
      })(),
      p.transferSyntaxUid,
      (h) => {
        h.set(Tag.PatientID, 'LO', o.mrn)
          .set(Tag.IssuerOfPatientID, 'LO', 'ZH-NOORD')
          .delete(Tag.IssuerOfPatientIDQualifiersSequence);
        h.set(
          Tag.OtherPatientIDsSequence,
          'SQ',
          o.keepBsn
            ? [new Dataset().set(Tag.PatientID, 'LO', bsn).set(Tag.IssuerOfPatientID, 'LO', BSN_ISSUER_OID)]
            : [],
        );
      },
    ))
      parts.push(c);
    const file = join(outDir, `${n}.dcm`);
    writeFileSync(file, Buffer.concat([readFileSync(f).subarray(0, p.datasetOffset), ...parts]));
    out.push(file);
  }
  return out;
}

test("patient reconciliation (rule bsn): the PACS files the study under the BSN, the sender's number kept; a study without BSN is not forwarded", async (t) => {
  if (requireTool(t, 'Orthanc') === undefined) return;
  const { pacs, receiver, sender } = await noordToMidden(t, [{ action: 'forward', destination: 'PACS_MIDDEN' }], 'bsn');
  const work = tempDir(t);
  const synth = await synthesize({ outDir: join(work, 'synth'), patients: 2, seed: 46 });
  const [withBsn, withoutBsn] = synth.patients.map((p) => p.studies[0]);
  assert.ok(withBsn !== undefined && withoutBsn !== undefined);
  for (const f of await asLocalNumbers(withBsn.files, join(work, 'a'), { mrn: 'MRN-1001', keepBsn: true }))
    await testAccess(sender.n.node, 'import').importFile(f);
  for (const f of await asLocalNumbers(withoutBsn.files, join(work, 'b'), { mrn: 'MRN-1002', keepBsn: false }))
    await testAccess(sender.n.node, 'import').importFile(f);
  const to = { ...midden, baseUrl: `https://127.0.0.1:${receiver.port}` };
  const user = { id: 'r1', name: 'Dr. D. Visser' };
  for (const s of [withBsn, withoutBsn]) {
    await sendStudy(
      {
        studyInstanceUid: s.studyInstanceUid,
        to,
        purpose: 'transfer',
        urgency: 'routine',
        reason: 'overplaatsing',
        user,
      },
      { access: testAccess(sender.n.node, 'exchange'), tls: sender.tls, logger: silentLogger() },
    );
  }
  await waitFor(
    'the study with BSN in the PACS',
    async () => (await pacs.rest<string[]>('GET', '/instances')).length === withBsn.instances,
  );
  const forwarder = receiver.n.node.forwarding().get('PACS_MIDDEN');
  await forwarder?.settled();
  assert.equal(forwarder?.failed.length, withoutBsn.instances, 'no instance of the study without BSN was forwarded');
  assert.equal((await pacs.rest<string[]>('GET', '/instances')).length, withBsn.instances);

  const bsn = synth.patients[0]?.bsn;
  for (const id of await pacs.rest<string[]>('GET', '/instances')) {
    const file = await pacs.instanceFile(id);
    const p = readPart10(file);
    assert.equal(p.dataset.string(Tag.PatientID), bsn, 'filed under the BSN');
    assert.equal(p.dataset.string(Tag.IssuerOfPatientID), BSN_ISSUER_OID);
    const others = p.dataset
      .items(Tag.OtherPatientIDsSequence)
      .map((i) => `${i.string(Tag.PatientID)}/${i.string(Tag.IssuerOfPatientID)}`);
    assert.ok(others.includes('MRN-1001/ZH-NOORD'), `the sender's number is kept: ${others.join(', ')}`);
    const stored = await heldInstance(receiver.n.node, p.dataset.string(Tag.SOPInstanceUID) ?? '');
    assert.ok(stored !== undefined);
    const original = readPart10(await collectStream(stored.openFile()));
    assert.ok(
      payloadOf(parseDataset(file.subarray(p.datasetOffset), p.transferSyntaxUid)).equals(payloadOf(original.dataset)),
      'pixel data byte-identical',
    );
  }

  // The inbox shows the sender's number and how the study is filed, or why it is not.
  const listed = JSON.parse(
    (await call(receiver.port, 'GET', '/api/v1/inbox', receiver.ca.certPem, receiver.own)).body,
  ) as {
    transfers: {
      study: { studyInstanceUid: string };
      patient: { patientId: string; issuerOfPatientId: string; filedAs: Record<string, string> };
    }[];
  };
  const byStudy = new Map(listed.transfers.map((x) => [x.study.studyInstanceUid, x.patient]));
  assert.deepEqual(byStudy.get(withBsn.studyInstanceUid)?.filedAs, {
    patientId: bsn,
    issuerOfPatientId: BSN_ISSUER_OID,
  });
  assert.equal(byStudy.get(withBsn.studyInstanceUid)?.patientId, 'MRN-1001');
  assert.match(byStudy.get(withoutBsn.studyInstanceUid)?.filedAs['refused'] ?? '', /no BSN/);
});

async function collectStream(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}
