// The interoperability matrix: for every transfer syntax the node takes that an encoder here can make (the four native
// ones; JPEG-LS, JPEG lossless and RLE by DCMTK; JPEG 2000 by GDCM), peers nobody here wrote store, find and retrieve:
// PixelMed's storage SCU stores each into a node of its own; Orthanc pushes each instance in (C-STORE SCU) and finds it
// (C-FIND SCU); DCMTK's storescu sends it again in that syntax alone, findscu finds it, movescu moves it to storescp as
// stored and to an uncompressed-only storescp decoded, and getscu, which takes only uncompressed syntaxes, gets it
// rewritten or decoded; PixelMed's move SCU moves it to PixelMed's storage SCP. Each is
// compared with what was sent, byte for byte where it goes as stored, pixel for pixel where it was decoded. (GDCM's gdcmscu 3.0.21, Debian's, aborts after the association is accepted, against DCMTK too,
// so GDCM takes part as an encoder only.)
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readPart10, Tag, TransferSyntax } from '../../src/dicom/index.ts';
import { writeCtStudy } from '../../src/synth/index.ts';
import { run } from '../dimse/helpers.ts';
import { startPeer } from '../support/processes.ts';
import { filesIn, payloadOf } from '../support/dicom-files.ts';
import { freePort, waitFor } from '../support/net.ts';
import { startTestNode } from '../support/node.ts';
import { startOrthanc } from '../support/orthanc-pacs.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import { findscuAnswers, storescpDestination, wholeStudy } from '../support/dcmtk.ts';

/** PixelMed's classes, as Debian's pixelmed-apps installs them. */
const PIXELMED_JAR = '/usr/share/java/pixelmed.jar';

/** Each syntax, the tool and arguments that make it from an explicit VR little endian file, and DCMTK's name for it. */
const SYNTAXES = [
  { uid: TransferSyntax.ExplicitVRLittleEndian, make: ['dcmconv', '+te'], dcmtk: 'LittleEndianExplicit' },
  { uid: TransferSyntax.ImplicitVRLittleEndian, make: ['dcmconv', '+ti'], dcmtk: 'LittleEndianImplicit' },
  { uid: TransferSyntax.ExplicitVRBigEndian, make: ['dcmconv', '+tb'], dcmtk: 'BigEndianExplicit' },
  {
    uid: TransferSyntax.DeflatedExplicitVRLittleEndian,
    make: ['dcmconv', '+td'],
    dcmtk: 'DeflatedLittleEndianExplicit',
  },
  { uid: TransferSyntax.JPEGLSLossless, make: ['dcmcjpls'], dcmtk: 'JPEGLSLossless' },
  {
    uid: TransferSyntax.JPEGLosslessSV1,
    make: ['dcmcjpeg', '+e1'],
    dcmtk: 'JPEGLossless:Non-hierarchical-1stOrderPrediction',
  },
  { uid: TransferSyntax.JPEG2000Lossless, make: ['gdcmconv', '--j2k'], dcmtk: 'JPEG2000LosslessOnly' },
  { uid: TransferSyntax.RLELossless, make: ['dcmcrle'], dcmtk: 'RLELossless' },
] as const;

/** Decoded for an uncompressed-only requestor: every compressed syntax of the matrix. */
const DECODED = new Set<string>([
  TransferSyntax.JPEGLSLossless,
  TransferSyntax.JPEGLosslessSV1,
  TransferSyntax.JPEG2000Lossless,
  TransferSyntax.RLELossless,
]);

test('interoperability matrix: PixelMed, Orthanc and DCMTK store, find and retrieve every transfer syntax, compared with what was sent', async (t) => {
  const tools = [
    'VerificationSOPClassSCU',
    'java',
    'Orthanc',
    'storescu',
    'findscu',
    'movescu',
    'getscu',
    'storescp',
    'echoscu',
    'dcmconv',
    'dcmcjpls',
    'dcmcjpeg',
    'gdcmconv',
    'dcmcrle',
  ];
  if (tools.map((p) => requireTool(t, p)).includes(undefined)) return;
  const work = tempDir(t);
  const ct = await writeCtStudy({ outDir: join(work, 'ct'), instances: SYNTAXES.length, seed: 31 });
  const sent = new Map<string, { uid: string; file: string; pixels: Buffer; dicom: Buffer }>();
  for (const [i, s] of SYNTAXES.entries()) {
    const [tool, ...args] = s.make;
    const file = join(work, `${i}.dcm`);
    const made = await run(tool, [...args, ct.files[i]!, file]);
    assert.equal(made.code, 0, `${tool}: ${made.stderr}`);
    const p = readPart10(readFileSync(file));
    assert.equal(p.transferSyntaxUid, s.uid, tool);
    const original = payloadOf(readPart10(readFileSync(ct.files[i]!)).dataset);
    sent.set(p.dataset.string(Tag.SOPInstanceUID) ?? '', {
      uid: s.uid,
      file,
      pixels: original,
      dicom: payloadOf(p.dataset),
    });
  }

  const storescpPort = await freePort();
  const plainPort = await freePort();
  const pixelmedPort = await freePort();
  const orthanc = await startOrthanc({ dir: join(work, 'orthanc'), aeTitle: 'ORTHANC' });
  t.after(() => orthanc.stop());
  const n = await startTestNode(t, {
    peers: [
      { aeTitle: 'ORTHANC', host: '127.0.0.1', port: orthanc.dicomPort, description: 'Orthanc' },
      { aeTitle: 'DCMTK', host: '127.0.0.1', port: storescpPort, description: 'DCMTK tools' },
      { aeTitle: 'PLAIN', host: '127.0.0.1', port: plainPort, description: 'a destination for uncompressed data only' },
      { aeTitle: 'PIXELMED', host: '127.0.0.1', port: pixelmedPort, description: 'PixelMed: retrieve SCU and SCP' },
    ],
  });
  await orthanc.rest('PUT', '/modalities/beeldbrug', { AET: n.aeTitle, Host: '127.0.0.1', Port: n.port });
  const peer = ['-aet', 'DCMTK', '-aec', n.aeTitle, '127.0.0.1', String(n.port)];

  // PixelMed's StorageSOPClassSCU (Debian's pixelmed-apps), into a node of its own: each stored as PixelMed sent it.
  const pixelmedNode = await startTestNode(t, {
    peers: [{ aeTitle: 'PIXELMED', host: '127.0.0.1', description: 'PixelMed storage SCU' }],
  });
  for (const [uid, s] of sent) {
    const pm = await run('java', [
      '-cp',
      PIXELMED_JAR,
      'com.pixelmed.network.StorageSOPClassSCU',
      '127.0.0.1',
      String(pixelmedNode.port),
      pixelmedNode.aeTitle,
      'PIXELMED',
      s.file,
    ]);
    assert.equal(pm.code, 0, pm.stdout + pm.stderr);
    // PixelMed sends an uncompressed file as explicit VR little endian where that is accepted (its own choice among
    // the contexts it offered); everything else goes in its own syntax, and is kept so.
    const stored = (await pixelmedNode.node.store.index.getInstance(uid))?.instance.transferSyntaxUid;
    const native = s.uid === TransferSyntax.ImplicitVRLittleEndian || s.uid === TransferSyntax.ExplicitVRBigEndian;
    assert.equal(stored, native ? TransferSyntax.ExplicitVRLittleEndian : s.uid, `PixelMed's ${s.uid}: as it was sent`);
  }

  // Orthanc as storage SCU: each file pushed in the syntax Orthanc holds it in; the node keeps it as sent.
  for (const [uid, s] of sent) {
    const id = await orthanc.upload(s.file);
    await orthanc.rest('POST', '/modalities/beeldbrug/store', { Resources: [id], Synchronous: true });
    assert.equal(
      (await n.node.store.index.getInstance(uid))?.instance.transferSyntaxUid,
      s.uid,
      `Orthanc's ${s.uid}: kept as sent`,
    );
  }
  // Orthanc as C-FIND SCU: the study, with every instance.
  const found = await orthanc.rest<{ ID: string }>('POST', '/modalities/beeldbrug/query', {
    Level: 'Study',
    Query: { StudyInstanceUID: ct.studyInstanceUid, NumberOfStudyRelatedInstances: '' },
  });
  const answers = await orthanc.rest<Record<string, { Value: string }>[]>('GET', `/queries/${found.ID}/answers?expand`);
  assert.equal(answers.length, 1);
  assert.equal(Number(answers[0]?.['0020,1208']?.Value), SYNTAXES.length);

  // DCMTK's storescu, each syntax offered alone (a storescu profile per syntax): the same instance again is a success.
  const profiles = join(work, 'profiles.cfg');
  writeFileSync(
    profiles,
    [
      '[[TransferSyntaxes]]',
      ...SYNTAXES.flatMap((s, i) => [`[TS${i}]`, `TransferSyntax1 = ${s.dcmtk}`]),
      '[[PresentationContexts]]',
      ...SYNTAXES.flatMap((_, i) => [`[PC${i}]`, `PresentationContext1 = CTImageStorage\\TS${i}`]),
      '[[Profiles]]',
      ...SYNTAXES.flatMap((_, i) => [`[P${i}]`, `PresentationContexts = PC${i}`]),
      '',
    ].join('\n'),
  );
  for (const [i, s] of [...sent.values()].entries()) {
    const again = await run('storescu', [
      '-xf',
      profiles,
      `P${SYNTAXES.findIndex((x) => x.uid === s.uid)}`,
      ...peer,
      s.file,
    ]);
    assert.equal(again.code, 0, `storescu ${s.uid} (${i}): ${again.stderr}`);
    assert.doesNotMatch(again.stderr, /Status|W:|E:/, `storescu ${s.uid}: a clean success`);
  }

  // findscu: each instance at the image level.
  const images = await findscuAnswers(t, peer, [
    'QueryRetrieveLevel=IMAGE',
    `StudyInstanceUID=${ct.studyInstanceUid}`,
    'SOPInstanceUID',
  ]);
  assert.deepEqual(images.map((a) => a.string(Tag.SOPInstanceUID)).sort(), [...sent.keys()].sort());

  // movescu to storescp, which takes every syntax: each instance as stored, its encoded pixels byte for byte.
  const moved = join(work, 'moved');
  mkdirSync(moved);
  await storescpDestination(t, { aeTitle: 'DCMTK', port: storescpPort, dir: moved, flags: ['+B', '+xa'] });
  const move = await run('movescu', ['-S', '-aem', 'DCMTK', ...peer, ...wholeStudy(ct.studyInstanceUid)]);
  const movedFiles = filesIn(moved).map((f) => readPart10(readFileSync(f)));
  assert.equal(move.code, 0, move.stderr);
  assert.equal(movedFiles.length, sent.size);
  for (const p of movedFiles) {
    const s = sent.get(p.dataset.string(Tag.SOPInstanceUID) ?? '')!;
    assert.equal(p.transferSyntaxUid, s.uid, 'C-MOVE: as stored');
    assert.ok(payloadOf(p.dataset).equals(s.dicom), `C-MOVE ${s.uid}: the pixel data as sent`);
  }

  // movescu to a storescp that takes only uncompressed syntaxes (its default): what it refuses goes rewritten or
  // decoded on the node's uncompressed context.
  const plain = join(work, 'moved-plain');
  mkdirSync(plain);
  await storescpDestination(t, { aeTitle: 'PLAIN', port: plainPort, dir: plain, flags: ['+B'] });
  const plainMove = await run('movescu', ['-S', '-aem', 'PLAIN', ...peer, ...wholeStudy(ct.studyInstanceUid)]);
  assert.doesNotMatch(plainMove.stderr, /Failures/, plainMove.stderr);
  const plainFiles = filesIn(plain).map((f) => readPart10(readFileSync(f)));
  assert.equal(plainFiles.length, sent.size, 'every instance');
  for (const p of plainFiles) {
    const s = sent.get(p.dataset.string(Tag.SOPInstanceUID) ?? '')!;
    assert.ok(!DECODED.has(p.transferSyntaxUid), 'C-MOVE to an uncompressed-only destination: uncompressed');
    assert.ok(payloadOf(p.dataset).equals(s.pixels), `C-MOVE ${s.uid} decoded: the original pixels`);
  }

  // getscu, which takes only uncompressed syntaxes: the native ones rewritten, the compressed ones decoded.
  const got = join(work, 'got');
  mkdirSync(got);
  const get = await run('getscu', ['-v', '-S', ...peer, '-od', got, ...wholeStudy(ct.studyInstanceUid)]);
  const said = get.stdout + get.stderr;
  assert.match(said, /Number of Failed Suboperations\s+: 0/, said);
  assert.doesNotMatch(said, /P-Data PDU arrived|Release Failed/);
  const gotFiles = filesIn(got).map((f) => readPart10(readFileSync(f)));
  assert.equal(gotFiles.length, sent.size);
  for (const p of gotFiles) {
    const s = sent.get(p.dataset.string(Tag.SOPInstanceUID) ?? '')!;
    assert.ok(!DECODED.has(p.transferSyntaxUid), 'C-GET: uncompressed');
    assert.ok(payloadOf(p.dataset).equals(s.pixels), `C-GET ${s.uid}: the original pixels`);
  }

  // PixelMed retrieving: its MoveSOPClassSCU moves the study to its own storage SCP (StorageSOPClassSCPDispatcher). Each
  // instance arrives in a syntax PixelMed took: as stored, its encoded pixels byte for byte; in another, the original
  // pixels. (Its GetSOPClassSCU cannot take part: run from the command line it proposes a context for every storage SOP
  // class it knows, more than the 128 an association has, and stops before it connects.)
  const pixelmedDir = join(work, 'pixelmed-scp');
  mkdirSync(pixelmedDir);
  const scp = ['-cp', PIXELMED_JAR, 'com.pixelmed.network.StorageSOPClassSCPDispatcher'];
  startPeer(t, 'java', [...scp, String(pixelmedPort), 'PIXELMED', pixelmedDir]);
  await waitFor(
    "PixelMed's storage SCP",
    async () => (await run('echoscu', ['-aec', 'PIXELMED', '127.0.0.1', String(pixelmedPort)])).code === 0,
  );
  const pixelmed = (cls: string, args: string[]) =>
    run('java', ['-cp', PIXELMED_JAR, `com.pixelmed.network.${cls}`, '127.0.0.1', String(n.port), n.aeTitle, ...args]);
  const pmMove = await pixelmed('MoveSOPClassSCU', ['PIXELMED', 'PIXELMED', 'STUDY', ct.studyInstanceUid]);
  assert.match(pmMove.stdout + pmMove.stderr, /final status = 0x0\b/, pmMove.stdout + pmMove.stderr);
  const pmFiles = filesIn(pixelmedDir).map((f) => readPart10(readFileSync(f)));
  assert.equal(pmFiles.length, sent.size, 'C-MOVE to PixelMed: every instance');
  for (const p of pmFiles) {
    const s = sent.get(p.dataset.string(Tag.SOPInstanceUID) ?? '')!;
    const expected = p.transferSyntaxUid === s.uid ? s.dicom : s.pixels;
    assert.ok(
      payloadOf(p.dataset).equals(expected),
      `C-MOVE to PixelMed ${s.uid} (in ${p.transferSyntaxUid}): the pixels`,
    );
  }
});
