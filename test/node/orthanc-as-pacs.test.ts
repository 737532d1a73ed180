// Orthanc as the hospital PACS: our SCU echoes, stores, queries and C-GETs against it, and Orthanc C-MOVEs a study
// into our node. Pixel data (and report content) must come back byte for byte.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  Dataset,
  parseDataset,
  readPart10,
  SopClass,
  Tag,
  TransferSyntax,
  writeDataset,
} from '../../src/dicom/index.ts';
import { Association, Status } from '../../src/dimse/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { waitFor } from '../support/net.ts';
import { startTestNode } from '../support/node.ts';
import { startOrthanc } from '../support/orthanc-pacs.ts';
import { collect, filesIn, payloadOf } from '../support/dicom-files.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import { heldInstance } from '../support/patient-data.ts';

test('our SCU and SCP against Orthanc as the PACS: echo, store, find, move, get, byte-exact', async (t) => {
  if (requireTool(t, 'Orthanc') === undefined) return;
  const work = tempDir(t);
  const synth = await synthesize({ outDir: join(work, 'synth'), patients: 1, seed: 21 });
  const files = filesIn(join(work, 'synth'));
  const originals = new Map(
    files.map((f) => {
      const p = readPart10(readFileSync(f));
      return [p.dataset.string(Tag.SOPInstanceUID) ?? '', { file: f, part10: p }] as const;
    }),
  );
  const study = synth.patients[0]?.studies[0];
  assert.ok(study !== undefined);

  // Each side allow-lists the other: Orthanc associates with our node for C-MOVE, we with Orthanc for everything else.
  const orthancDir = tempDir(t);
  const n = await startTestNode(t, {
    aeTitle: 'BEELDBRUG',
    peers: [{ aeTitle: 'ORTHANC', host: '127.0.0.1', description: 'the test PACS' }],
  });
  const pacs = await startOrthanc({
    dir: orthancDir,
    modalities: { beeldbrug: { aeTitle: 'BEELDBRUG', host: '127.0.0.1', port: n.port } },
  });
  t.after(() => pacs.stop());

  const sopClasses = [
    ...new Set(
      [...originals.values()].map((o) => `${o.part10.dataset.string(Tag.SOPClassUID)}|${o.part10.transferSyntaxUid}`),
    ),
  ];
  const assoc = await Association.connect({
    host: '127.0.0.1',
    port: pacs.dicomPort,
    callingAeTitle: 'BEELDBRUG',
    calledAeTitle: 'ORTHANC',
    presentationContexts: [
      { abstractSyntax: SopClass.Verification, transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian] },
      {
        abstractSyntax: SopClass.StudyRootQueryRetrieveFind,
        transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian],
      },
      {
        abstractSyntax: SopClass.StudyRootQueryRetrieveMove,
        transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian],
      },
      ...sopClasses.map((s) => {
        const [abstractSyntax = '', ts = ''] = s.split('|');
        return { abstractSyntax, transferSyntaxes: [ts] };
      }),
    ],
  });
  t.after(() => assoc.release());

  assert.equal(await assoc.echo(), Status.Success, 'C-ECHO');
  for (const { file, part10 } of originals.values()) {
    const status = await assoc.store({
      sopClassUid: part10.dataset.string(Tag.SOPClassUID) ?? '',
      sopInstanceUid: part10.dataset.string(Tag.SOPInstanceUID) ?? '',
      transferSyntaxUid: part10.transferSyntaxUid,
      data: readFileSync(file).subarray(part10.datasetOffset),
    });
    assert.equal(status, Status.Success, `C-STORE of ${file}`);
  }
  assert.equal((await pacs.rest<string[]>('GET', '/instances')).length, originals.size, 'Orthanc holds every instance');

  const findTs =
    assoc.acceptedTransferSyntax(SopClass.StudyRootQueryRetrieveFind) ?? TransferSyntax.ImplicitVRLittleEndian;
  const query = new Dataset()
    .set(Tag.QueryRetrieveLevel, 'CS', 'STUDY')
    .set(Tag.PatientID, 'LO', synth.patients[0]?.patientId ?? '')
    .set(Tag.StudyInstanceUID, 'UI', '')
    .set(Tag.StudyDate, 'DA', '');
  const found: Dataset[] = [];
  for await (const m of assoc.find(SopClass.StudyRootQueryRetrieveFind, writeDataset(query, findTs)))
    found.push(parseDataset(m, findTs));
  assert.deepEqual(
    found.map((d) => d.string(Tag.StudyInstanceUID)).sort(),
    (synth.patients[0]?.studies ?? []).map((s) => s.studyInstanceUid).sort(),
    'C-FIND finds every study of the patient',
  );

  // C-MOVE: Orthanc pushes the study into our node.
  const moveTs =
    assoc.acceptedTransferSyntax(SopClass.StudyRootQueryRetrieveMove) ?? TransferSyntax.ImplicitVRLittleEndian;
  const moveId = writeDataset(
    new Dataset().set(Tag.QueryRetrieveLevel, 'CS', 'STUDY').set(Tag.StudyInstanceUID, 'UI', study.studyInstanceUid),
    moveTs,
  );
  const moved = await assoc.move(SopClass.StudyRootQueryRetrieveMove, 'BEELDBRUG', moveId);
  assert.equal(moved.status, Status.Success);
  assert.equal(moved.completed, study.instances);
  await waitFor(
    'the moved study in our store',
    async () => (await n.node.store.index.stats()).instances === study.instances,
  );
  for (const uid of [...originals.keys()].filter((u) => study.files.includes(originals.get(u)?.file ?? ''))) {
    const stored = await n.node.store.index.getInstance(uid);
    assert.ok(stored !== undefined, `${uid} arrived`);
    const held = await heldInstance(n.node, uid);
    assert.ok(held !== undefined);
    const bytes = await collect(held.openDataset());
    const original = originals.get(uid)?.part10;
    assert.ok(original !== undefined);
    assert.ok(
      payloadOf(parseDataset(bytes, stored.instance.transferSyntaxUid)).equals(payloadOf(original.dataset)),
      `${uid}: byte-exact after C-MOVE`,
    );
  }

  // C-GET: our SCU receives the study on its own association.
  const getContexts = sopClasses.map((s) => {
    const [abstractSyntax = '', ts = ''] = s.split('|');
    return { abstractSyntax, transferSyntaxes: [ts], scpRole: true };
  });
  const getAssoc = await Association.connect({
    host: '127.0.0.1',
    port: pacs.dicomPort,
    callingAeTitle: 'BEELDBRUG',
    calledAeTitle: 'ORTHANC',
    presentationContexts: [
      { abstractSyntax: SopClass.StudyRootQueryRetrieveGet, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] },
      ...getContexts,
    ],
  });
  t.after(() => getAssoc.release());
  const received = new Map<string, Buffer>();
  const got = await getAssoc.get(
    SopClass.StudyRootQueryRetrieveGet,
    writeDataset(
      new Dataset().set(Tag.QueryRetrieveLevel, 'CS', 'STUDY').set(Tag.StudyInstanceUID, 'UI', study.studyInstanceUid),
      TransferSyntax.ExplicitVRLittleEndian,
    ),
    async (req) => {
      received.set(req.sopInstanceUid, payloadOf(parseDataset(await collect(req.data), req.transferSyntaxUid)));
    },
  );
  assert.equal(got.status, Status.Success);
  assert.equal(received.size, study.instances);
  for (const [uid, payload] of received)
    assert.ok(
      payload.equals(
        payloadOf(
          originals.get(uid)?.part10.dataset ?? parseDataset(Buffer.alloc(0), TransferSyntax.ExplicitVRLittleEndian),
        ),
      ),
      `${uid}: byte-exact after C-GET`,
    );
});
