// Data sent in big endian or deflated explicit VR, offered alone, as GDCM's gdcmscu offers only a file's own syntax
// (DCMTK's storescu with a profile of just that syntax stands in: Debian's gdcmscu 3.0.21 aborts after the association
// is accepted, against DCMTK's storescp too). The node accepts it, keeps each instance in the syntax it came in, and
// hands it out through C-GET in the syntax the requestor prefers (DCMTK's getscu: explicit VR little endian), pixel
// data unchanged.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readPart10, Tag, TransferSyntax } from '../../src/dicom/index.ts';
import { writeCtStudy } from '../../src/synth/index.ts';
import { run } from '../dimse/helpers.ts';
import { filesIn, payloadOf } from '../support/dicom-files.ts';
import { startTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import { wholeStudy } from '../support/dcmtk.ts';

test('big endian and deflated, each offered alone: stored as sent, retrieved with getscu as it takes them', async (t) => {
  if (['storescu', 'dcmconv', 'getscu'].map((p) => requireTool(t, p)).includes(undefined)) return;
  const work = tempDir(t);
  const ct = await writeCtStudy({ outDir: join(work, 'ct'), instances: 2, seed: 7 });
  const n = await startTestNode(t, {
    peers: [{ aeTitle: 'SENDER', host: '127.0.0.1', description: 'a sender of big endian and deflated data' }],
  });
  const peer = ['-aet', 'SENDER', '-aec', n.aeTitle, '127.0.0.1', String(n.port)];
  const cases = [
    { syntax: TransferSyntax.ExplicitVRBigEndian, flag: '+tb', profile: 'BigEndian', file: ct.files[0]! },
    { syntax: TransferSyntax.DeflatedExplicitVRLittleEndian, flag: '+td', profile: 'Deflated', file: ct.files[1]! },
  ];
  // storescu's own configuration format (storescu.cfg): one profile per syntax, each proposing only that syntax.
  const profiles = join(work, 'only.cfg');
  writeFileSync(
    profiles,
    [
      '[[TransferSyntaxes]]',
      '[Deflated]',
      'TransferSyntax1 = DeflatedLittleEndianExplicit',
      '[BigEndian]',
      'TransferSyntax1 = BigEndianExplicit',
      '[[PresentationContexts]]',
      '[Deflated]',
      'PresentationContext1 = CTImageStorage\\Deflated',
      '[BigEndian]',
      'PresentationContext1 = CTImageStorage\\BigEndian',
      '[[Profiles]]',
      '[Deflated]',
      'PresentationContexts = Deflated',
      '[BigEndian]',
      'PresentationContexts = BigEndian',
      '',
    ].join('\n'),
  );
  const originals = new Map<string, Buffer>();
  for (const c of cases) {
    const converted = join(work, `${c.flag}.dcm`);
    const conv = await run('dcmconv', [c.flag, c.file, converted]);
    assert.equal(conv.code, 0, conv.stderr);
    const p = readPart10(readFileSync(converted));
    assert.equal(p.transferSyntaxUid, c.syntax, `dcmconv ${c.flag}`);
    const uid = p.dataset.string(Tag.SOPInstanceUID) ?? '';
    originals.set(uid, payloadOf(p.dataset));

    const stored = await run('storescu', ['-xf', profiles, c.profile, ...peer, converted]);
    assert.equal(stored.code, 0, stored.stdout + stored.stderr);
    assert.equal(
      (await n.node.store.index.getInstance(uid))?.instance.transferSyntaxUid,
      c.syntax,
      'kept as it was sent',
    );
  }

  // getscu proposes the uncompressed syntaxes, explicit VR little endian first, which the node takes: the big endian
  // instance is byte-swapped and the deflated one inflated into it; the pixels are the same.
  const got = tempDir(t);
  const get = await run('getscu', ['-S', ...peer, '-od', got, ...wholeStudy(ct.studyInstanceUid)]);
  assert.equal(get.code, 0, get.stderr);
  const files = filesIn(got);
  assert.equal(files.length, cases.length, 'every instance');
  const received = new Map(
    files.map((f) => {
      const p = readPart10(readFileSync(f));
      return [p.dataset.string(Tag.SOPInstanceUID) ?? '', p] as const;
    }),
  );
  for (const [uid, pixels] of originals) {
    const p = received.get(uid);
    assert.ok(p !== undefined, uid);
    assert.ok(payloadOf(p.dataset).equals(pixels), `${p.transferSyntaxUid}: pixel data unchanged`);
  }
  assert.deepEqual([...received.values()].map((p) => p.transferSyntaxUid).sort(), [
    TransferSyntax.ExplicitVRLittleEndian,
    TransferSyntax.ExplicitVRLittleEndian,
  ]);
});

test('compressed instances go decoded to a requestor that takes only uncompressed ones, pixel for pixel', async (t) => {
  const tools = ['storescu', 'getscu', 'dcmcjpls', 'dcmcjpeg', 'gdcmconv', 'dcmcrle'];
  if (tools.map((p) => requireTool(t, p)).includes(undefined)) return;
  const work = tempDir(t);
  const ct = await writeCtStudy({ outDir: join(work, 'ct'), instances: 5, seed: 9 });
  const n = await startTestNode(t, { peers: [{ aeTitle: 'SENDER', host: '127.0.0.1', description: 'modality' }] });
  const peer = ['-aet', 'SENDER', '-aec', n.aeTitle, '127.0.0.1', String(n.port)];
  // Each CT slice compressed losslessly by another encoder nobody here wrote (DCMTK, GDCM), sent in that syntax.
  const cases = [
    { tool: 'dcmcjpls', args: [], propose: '-xt', syntax: TransferSyntax.JPEGLSLossless },
    { tool: 'dcmcjpeg', args: ['+e1'], propose: '-xs', syntax: TransferSyntax.JPEGLosslessSV1 },
    { tool: 'gdcmconv', args: ['--j2k'], propose: '-xv', syntax: TransferSyntax.JPEG2000Lossless },
    { tool: 'dcmcrle', args: [], propose: '-xr', syntax: TransferSyntax.RLELossless },
    // Lossy 12-bit JPEG, which this node cannot decode (no decoder from npm it trusts; see dicom/pixel-codecs.ts).
    { tool: 'dcmcjpeg', args: ['+ee'], propose: '-xx', syntax: TransferSyntax.JPEGExtended12Bit },
  ];
  const originals = new Map<string, Buffer>();
  for (const [i, c] of cases.entries()) {
    const source = ct.files[i]!;
    const out = join(work, `${c.tool}.dcm`);
    const r = await run(c.tool, [...c.args, source, out]);
    assert.equal(r.code, 0, `${c.tool}: ${r.stderr}`);
    const p = readPart10(readFileSync(out));
    assert.equal(p.transferSyntaxUid, c.syntax, c.tool);
    if (c.syntax !== TransferSyntax.JPEGExtended12Bit)
      originals.set(p.dataset.string(Tag.SOPInstanceUID) ?? '', payloadOf(readPart10(readFileSync(source)).dataset));
    const stored = await run('storescu', [c.propose, ...peer, out]);
    assert.equal(stored.code, 0, `${c.tool}: ${stored.stderr}`);
  }

  // getscu takes only the uncompressed syntaxes: JPEG-LS, JPEG lossless, JPEG 2000 and RLE are decoded on the way
  // out; 12-bit JPEG has no codec here, so that one sub-operation fails, is counted, and the association releases
  // cleanly.
  const got = tempDir(t);
  const get = await run('getscu', ['-v', '-S', ...peer, '-od', got, ...wholeStudy(ct.studyInstanceUid)]);
  const said = get.stdout + get.stderr;
  assert.match(said, /Number of Completed Suboperations\s+: 4/, said);
  assert.match(said, /Number of Failed Suboperations\s+: 1/, said);
  // The final response's list of failed instances came in the same PDU as its command, so getscu, which does not
  // read that list, finds nothing in its way when it releases.
  assert.match(said, /Releasing Association/);
  assert.doesNotMatch(said, /P-Data PDU arrived|Release Failed|Aborting/, said);
  const received = filesIn(got).map((f) => readPart10(readFileSync(f)));
  assert.equal(received.length, 4);
  for (const p of received) {
    assert.equal(p.transferSyntaxUid, TransferSyntax.ExplicitVRLittleEndian);
    const original = originals.get(p.dataset.string(Tag.SOPInstanceUID) ?? '');
    assert.ok(original !== undefined);
    assert.ok(payloadOf(p.dataset).equals(original), 'the original pixels, exactly');
    assert.equal(p.dataset.string(Tag.PhotometricInterpretation), 'MONOCHROME2');
  }
});
