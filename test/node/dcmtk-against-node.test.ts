// A PACS administrator's view: DCMTK's storescu, findscu, movescu and getscu against a running Beeldbrug node.
// Round trips are byte-exact: what comes back is the data set exactly as the node received it (storescp and getscu run
// with +B, bit-preserving; storescu itself re-encodes headers when it sends, so against the original files we compare
// the image content).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDataset, readPart10, Tag } from '../../src/dicom/index.ts';
import { readFileSync } from 'node:fs';
import { synthesize } from '../../src/synth/index.ts';
import { run, startPeer } from '../dimse/helpers.ts';
import { collect, datasetsByUid, filesIn, payloadOf } from '../support/dicom-files.ts';
import { freePort, waitFor } from '../support/net.ts';
import { logLines, startTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import { heldInstance } from '../support/patient-data.ts';
import { findscuAnswers } from '../support/dcmtk.ts';

const PACS = 'PACS_AE';

/** Data sets must match byte for byte; `what` names the hop in the message. */
function assertSameDatasets(actual: Map<string, Buffer>, expected: Map<string, Buffer>, what: string): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), `${what}: the same instances`);
  for (const [uid, bytes] of expected) assert.ok(actual.get(uid)?.equals(bytes), `${what}: ${uid} is byte-identical`);
}

test('storescu in; findscu, movescu and getscu out, byte-identical, each audited; restart keeps everything', async (t) => {
  const tools = ['storescu', 'findscu', 'movescu', 'getscu', 'storescp'].map((p) => requireTool(t, p));
  if (tools.includes(undefined)) return;
  const work = tempDir(t);
  const synth = await synthesize({ outDir: join(work, 'synth'), patients: 1, seed: 11 });
  const sent = filesIn(join(work, 'synth'));
  assert.equal(sent.length, synth.files);
  const study = synth.patients[0]?.studies[0];
  assert.ok(study !== undefined);

  const destPort = await freePort();
  const n = await startTestNode(t, {
    peers: [{ aeTitle: PACS, host: '127.0.0.1', port: destPort, description: 'test PACS' }],
  });
  const peer = ['-aet', PACS, '-aec', n.aeTitle, '127.0.0.1', String(n.port)];

  const store = await run('storescu', [...peer, ...sent]);
  assert.equal(store.code, 0, store.stderr);
  assert.equal((await n.node.store.index.stats()).instances, sent.length, 'every instance is indexed');

  // C-FIND at study level, with a wildcard on the name and the counts a PACS shows.
  const answers = await findscuAnswers(t, peer, [
    'QueryRetrieveLevel=STUDY',
    `PatientName=${(synth.patients[0]?.name ?? '').slice(0, 3)}*`,
    'StudyInstanceUID',
    'StudyDate',
    'ModalitiesInStudy',
    'NumberOfStudyRelatedInstances',
    'PatientID',
  ]);
  assert.equal(answers.length, synth.patients[0]?.studies.length, 'one answer per study of the patient');
  const answer = answers.find((a) => a.string(Tag.StudyInstanceUID) === study.studyInstanceUid);
  assert.ok(answer !== undefined);
  assert.equal(answer.string(Tag.PatientID), synth.patients[0]?.patientId);
  assert.equal(Number(answer.string(Tag.NumberOfStudyRelatedInstances)), study.instances);
  assert.ok(answer.strings(Tag.ModalitiesInStudy).includes(study.modality));

  // C-MOVE to a storescp acting as the PACS.
  const moved = tempDir(t);
  startPeer(t, 'storescp', ['+B', '--aetitle', PACS, '-od', moved, String(destPort)]);
  await waitFor(
    'storescp',
    async () => (await run('echoscu', ['-aec', PACS, '127.0.0.1', String(destPort)])).code === 0,
  );
  const move = await run('movescu', [
    '-S',
    ...peer.slice(0, 2),
    '-aem',
    PACS,
    ...peer.slice(2),
    '-k',
    'QueryRetrieveLevel=STUDY',
    '-k',
    `StudyInstanceUID=${study.studyInstanceUid}`,
  ]);
  assert.equal(move.code, 0, move.stderr);
  // What the node returns is exactly what it was sent; the image content is that of the original files.
  const studyExpected = new Map<string, Buffer>();
  for (const uid of datasetsByUid(study.files).keys()) {
    const stored = await n.node.store.index.getInstance(uid);
    assert.ok(stored !== undefined, `${uid} is stored`);
    const held = await heldInstance(n.node, uid);
    assert.ok(held !== undefined);
    studyExpected.set(uid, await collect(held.openDataset()));
  }
  const transferSyntaxOf = async (uid: string): Promise<string> =>
    (await n.node.store.index.getInstance(uid))?.instance.transferSyntaxUid ?? '';
  for (const file of study.files) {
    const original = readPart10(readFileSync(file));
    const uid = original.dataset.string(Tag.SOPInstanceUID) ?? '';
    const stored = parseDataset(studyExpected.get(uid) ?? Buffer.alloc(0), await transferSyntaxOf(uid));
    assert.ok(payloadOf(stored).equals(payloadOf(original.dataset)), `${uid}: image content unchanged`);
  }
  assertSameDatasets(datasetsByUid(filesIn(moved)), studyExpected, 'C-MOVE');

  // C-GET over the same association.
  const got = tempDir(t);
  const get = await run('getscu', [
    '-S',
    '+B',
    ...peer,
    '-od',
    got,
    '-k',
    'QueryRetrieveLevel=STUDY',
    '-k',
    `StudyInstanceUID=${study.studyInstanceUid}`,
  ]);
  assert.equal(get.code, 0, get.stderr);
  assertSameDatasets(datasetsByUid(filesIn(got)), studyExpected, 'C-GET');

  // Every DIMSE operation on patient data left a complete audit record: who (the peer's AE title), from where, which
  // patient and study, on what grounds. A C-STORE of a study is one record per association, not one per instance.
  const bsn = synth.patients[0]?.bsn;
  const records = await n.node.audit.list();
  const complete = (r: (typeof records)[number], what: string): void => {
    assert.equal(r.outcome, 'success', what);
    assert.deepEqual(r.user, { id: `dicom:${PACS}`, name: `DICOM peer ${PACS}`, organizationUra: '12345678' }, what);
    assert.deepEqual(r.accessPoint, { node: `test node ${n.aeTitle}`, ip: '127.0.0.1', aeTitle: n.aeTitle }, what);
    assert.equal(r.grounds.authorization, 'DICOM allow-list (AE title + host)', what);
    assert.ok(r.grounds.purpose !== undefined, what);
  };
  const received = records.filter((r) => r.action === 'receive');
  assert.deepEqual(
    received.map((r) => r.objects.studyInstanceUid).sort(),
    (synth.patients[0]?.studies ?? []).map((s) => s.studyInstanceUid).sort(),
    'one receive record per study',
  );
  for (const r of received) {
    complete(r, 'C-STORE');
    assert.equal(r.patient?.bsn, bsn);
  }
  const queries = records.filter((r) => r.action === 'query');
  assert.equal(queries.length, 1);
  complete(queries[0]!, 'C-FIND');
  assert.equal(queries[0]?.description, `C-FIND at STUDY level: ${answers.length} matches`);
  const retrievals = records.filter((r) => r.action === 'retrieve');
  assert.deepEqual(
    retrievals.map((r) => r.description),
    [`C-MOVE to ${PACS}: ${study.instances} instances`, `C-GET: ${study.instances} instances`],
  );
  for (const r of retrievals) {
    complete(r, r.description);
    assert.equal(r.patient?.bsn, bsn);
    assert.equal(r.objects.studyInstanceUid, study.studyInstanceUid);
    assert.equal(r.objects.sopInstanceUids?.length, study.instances);
  }
  assert.deepEqual(await n.node.audit.verify(), { ok: true, records: records.length });

  // The same instances again: idempotent, nothing new stored.
  const again = await run('storescu', [...peer, ...sent]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((await n.node.store.index.stats()).instances, sent.length, 'storing twice is idempotent');
});

test('an AE title that is not on the allow-list is rejected at association and logged', async (t) => {
  const echoscu = requireTool(t, 'echoscu');
  if (echoscu === undefined) return;
  const n = await startTestNode(t, { peers: [{ aeTitle: PACS, host: '127.0.0.1', description: 'test PACS' }] });
  const ok = await run('echoscu', ['-aet', PACS, '-aec', n.aeTitle, '127.0.0.1', String(n.port)]);
  assert.equal(ok.code, 0, ok.stderr);
  const refused = await run('echoscu', ['-aet', 'INTRUDER', '-aec', n.aeTitle, '127.0.0.1', String(n.port)]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr + refused.stdout, /Calling AE Title Not Recognized/i);
  const wrongCalled = await run('echoscu', ['-aet', PACS, '-aec', 'OTHER', '127.0.0.1', String(n.port)]);
  assert.match(wrongCalled.stderr + wrongCalled.stdout, /Called AE Title Not Recognized/i);
  await waitFor('the refusal in the log', async () => logLines(n).some((l) => JSON.stringify(l).includes('INTRUDER')));
});
