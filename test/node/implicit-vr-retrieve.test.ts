// A modality that sends implicit VR little endian (many do): the node keeps the instance as sent, rewrites it losslessly
// for a C-GET requestor that negotiated explicit VR, and moves it as stored to a destination that takes implicit VR.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readPart10, Tag, TransferSyntax } from '../../src/dicom/index.ts';
import { writeCtStudy } from '../../src/synth/index.ts';
import { run } from '../dimse/helpers.ts';
import { filesIn, payloadOf } from '../support/dicom-files.ts';
import { freePort } from '../support/net.ts';
import { startTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import { storescpDestination, wholeStudy } from '../support/dcmtk.ts';

test('implicit VR in: rewritten to explicit VR for C-GET, moved as stored, pixel data unchanged', async (t) => {
  if (['storescu', 'getscu', 'movescu', 'storescp'].map((p) => requireTool(t, p)).includes(undefined)) return;
  const work = tempDir(t);
  const ct = await writeCtStudy({ outDir: join(work, 'ct'), instances: 3, seed: 3 });
  const destPort = await freePort();
  const n = await startTestNode(t, {
    peers: [{ aeTitle: 'PACS', host: '127.0.0.1', port: destPort, description: 'test PACS' }],
  });
  const peer = ['-aet', 'PACS', '-aec', n.aeTitle, '127.0.0.1', String(n.port)];

  const stored = await run('storescu', ['-xi', ...peer, ...ct.files]);
  assert.equal(stored.code, 0, stored.stderr);
  const originals = new Map(
    ct.files.map((f) => {
      const p = readPart10(readFileSync(f));
      return [p.dataset.string(Tag.SOPInstanceUID) ?? '', payloadOf(p.dataset)] as const;
    }),
  );
  for (const uid of originals.keys()) {
    assert.equal(
      (await n.node.store.index.getInstance(uid))?.instance.transferSyntaxUid,
      TransferSyntax.ImplicitVRLittleEndian,
      'kept as the modality sent it',
    );
  }

  const check = (dir: string, what: string, transferSyntax: string): void => {
    const files = filesIn(dir);
    assert.equal(files.length, originals.size, `${what}: every instance`);
    for (const f of files) {
      const p = readPart10(readFileSync(f));
      assert.equal(p.transferSyntaxUid, transferSyntax, `${what}: the syntax negotiated`);
      assert.ok(
        payloadOf(p.dataset).equals(originals.get(p.dataset.string(Tag.SOPInstanceUID) ?? '') ?? Buffer.alloc(0)),
        `${what}: pixel data unchanged`,
      );
    }
  };

  const got = tempDir(t);
  const get = await run('getscu', ['-S', ...peer, '-od', got, ...wholeStudy(ct.studyInstanceUid)]);
  assert.equal(get.code, 0, get.stderr);
  // getscu proposes explicit VR first, and the node, accepting, takes it: rewritten.
  check(got, 'C-GET', TransferSyntax.ExplicitVRLittleEndian);

  const moved = tempDir(t);
  await storescpDestination(t, { aeTitle: 'PACS', port: destPort, dir: moved, flags: ['+xe'] });
  const move = await run('movescu', [
    '-S',
    '-aet',
    'PACS',
    '-aem',
    'PACS',
    ...peer.slice(2),
    ...wholeStudy(ct.studyInstanceUid),
  ]);
  assert.equal(move.code, 0, move.stderr);
  // The node offers the stored syntax alone, and storescp takes implicit VR too: as stored.
  check(moved, 'C-MOVE', TransferSyntax.ImplicitVRLittleEndian);
});
