// Compressed images are accepted as offered and kept as they are: a modality that sends JPEG lossless, JPEG-LS or RLE
// gets them back from the node with the same encapsulated fragments, never decoded or re-encoded (PS3.5 A.4).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readPart10, Tag } from '../../src/dicom/index.ts';
import { writeCtStudy } from '../../src/synth/index.ts';
import { run } from '../dimse/helpers.ts';
import { filesIn, payloadOf } from '../support/dicom-files.ts';
import { freePort } from '../support/net.ts';
import { startTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import { storescpDestination, wholeStudy } from '../support/dcmtk.ts';

const codecs = [
  {
    name: 'JPEG lossless (SV1)',
    tool: 'dcmcjpeg',
    args: ['+e1'],
    propose: '-xs',
    transferSyntax: '1.2.840.10008.1.2.4.70',
  },
  {
    name: 'JPEG-LS lossless',
    tool: 'dcmcjpls',
    args: ['+el'],
    propose: '-xt',
    transferSyntax: '1.2.840.10008.1.2.4.80',
  },
  { name: 'RLE lossless', tool: 'dcmcrle', args: [], propose: '-xr', transferSyntax: '1.2.840.10008.1.2.5' },
] as const;

test('JPEG lossless, JPEG-LS and RLE are stored as offered and moved back with identical fragments', async (t) => {
  if (
    ['storescu', 'movescu', 'storescp', ...codecs.map((c) => c.tool)].map((p) => requireTool(t, p)).includes(undefined)
  )
    return;
  const work = tempDir(t);
  const ct = await writeCtStudy({ outDir: join(work, 'ct'), instances: 2, seed: 4 });
  const compressed: string[] = [];
  const byCodec: string[][] = [];
  for (const [i, codec] of codecs.entries()) {
    byCodec.push([]);
    for (const [j, file] of ct.files.entries()) {
      const out = join(work, `${i}-${j}.dcm`);
      const r = await run(codec.tool, [...codec.args, file, out]);
      assert.equal(r.code, 0, `${codec.name}: ${r.stderr}`);
      // Each codec gets its own instance UID so that the three encodings are three instances.
      const m = await run('dcmodify', ['-nb', '-m', `(0008,0018)=${ct.studyInstanceUid}.${i + 1}.${j + 1}`, out]);
      assert.equal(m.code, 0, m.stderr);
      compressed.push(out);
      byCodec[i]?.push(out);
    }
  }
  const destPort = await freePort();
  const n = await startTestNode(t, {
    peers: [{ aeTitle: 'MODALITY', host: '127.0.0.1', port: destPort, description: 'test modality and PACS' }],
  });
  const peer = ['-aet', 'MODALITY', '-aec', n.aeTitle, '127.0.0.1', String(n.port)];
  // storescu proposes a compressed syntax only when told which; one association per codec, as a modality would.
  for (const [i, codec] of codecs.entries()) {
    const stored = await run('storescu', [codec.propose, ...peer, ...(byCodec[i] ?? [])]);
    assert.equal(stored.code, 0, `${codec.name}: ${stored.stderr}`);
  }

  const sent = new Map(
    compressed.map((f) => {
      const p = readPart10(readFileSync(f));
      return [p.dataset.string(Tag.SOPInstanceUID) ?? '', p] as const;
    }),
  );
  for (const [uid, p] of sent) {
    assert.equal(
      (await n.node.store.index.getInstance(uid))?.instance.transferSyntaxUid,
      p.transferSyntaxUid,
      'kept in the transfer syntax it came in',
    );
    assert.ok(codecs.some((c) => c.transferSyntax === p.transferSyntaxUid));
  }

  const moved = tempDir(t);
  await storescpDestination(t, { aeTitle: 'MODALITY', port: destPort, dir: moved, flags: ['+B', '+xa'] });
  const move = await run('movescu', [
    '-S',
    '-aet',
    'MODALITY',
    '-aem',
    'MODALITY',
    ...peer.slice(2),
    ...wholeStudy(ct.studyInstanceUid),
  ]);
  assert.equal(move.code, 0, move.stderr);
  const back = filesIn(moved).map((f) => readPart10(readFileSync(f)));
  assert.equal(back.length, sent.size);
  for (const p of back) {
    const original = sent.get(p.dataset.string(Tag.SOPInstanceUID) ?? '');
    assert.ok(original !== undefined);
    assert.equal(p.transferSyntaxUid, original.transferSyntaxUid);
    assert.ok((p.dataset.get(Tag.PixelData)?.fragments?.length ?? 0) > 1, 'encapsulated: offset table and fragments');
    assert.ok(payloadOf(p.dataset).equals(payloadOf(original.dataset)), 'the same compressed fragments');
  }
});
