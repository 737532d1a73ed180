// A full disk: the node's data folder on a small tmpfs, nearly filled. A modality storing by C-STORE gets Out of
// Resources (A700) for what does not fit, a partner node uploading gets HTTP 507; nothing half-written is kept or
// indexed, the node keeps answering, and once there is room again the same instances store normally. After a restart
// the store finds nothing to repair.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Dataset, encodePart10, newUid, readPart10, SopClass, Tag, TransferSyntax } from '../../src/dicom/index.ts';
import { run } from '../dimse/helpers.ts';
import { call, multipartOf, send, startExchangeNode } from '../support/exchange.ts';
import { filesBesidesSpare, logLines, restartTestNode } from '../support/node.ts';
import { waitFor } from '../support/net.ts';
import { tempDir } from '../support/tmp.ts';
import { mountTmpfs } from '../support/tmpfs.ts';
import { requireTool } from '../support/tools.ts';

function instance(studyUid: string, seed: number): Buffer {
  const ds = new Dataset()
    .set(Tag.SOPClassUID, 'UI', SopClass.SecondaryCaptureImageStorage)
    .set(Tag.SOPInstanceUID, 'UI', newUid())
    .set(Tag.PatientID, 'LO', 'FULL-1')
    .set(Tag.StudyInstanceUID, 'UI', studyUid)
    .set(Tag.SeriesInstanceUID, 'UI', `${studyUid}.1`)
    .set(Tag.PixelData, 'OB', Buffer.alloc(700_000, seed));
  return Buffer.concat(encodePart10(ds, TransferSyntax.ExplicitVRLittleEndian));
}

test('a full disk: A700 for C-STORE, 507 for an upload, nothing corrupt, and storing resumes once there is room', async (t) => {
  const tools = ['storescu', 'echoscu'].map((p) => requireTool(t, p));
  if (tools.includes(undefined)) return;
  const mnt = mountTmpfs(t, '32m');
  if (mnt === undefined) return;
  const dataDir = join(mnt, 'data');
  mkdirSync(dataDir);
  let { n, port, ca, partner } = await startExchangeNode(t, {
    dataDir,
    dimsePeers: [{ aeTitle: 'MODALITY', host: '127.0.0.1', description: 'test modality' }],
  });

  const work = tempDir(t);
  const studyUid = newUid();
  const files = Array.from({ length: 5 }, (_, i) => {
    const f = join(work, `i${i}.dcm`);
    writeFileSync(f, instance(studyUid, i));
    return f;
  });
  // Leave about 1.5 instances' worth of room.
  const free = (): number => {
    const s = statfsSync(mnt);
    return s.bavail * s.bsize;
  };
  const filler = join(mnt, 'filler');
  writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 1_100_000)));

  const stored = await run('storescu', [
    '-v',
    '-aet',
    'MODALITY',
    '-aec',
    n.aeTitle,
    '127.0.0.1',
    String(n.port),
    ...files,
  ]);
  const output = stored.stdout + stored.stderr;
  const refused = (output.match(/Refused: OutOfResources/g) ?? []).length;
  assert.ok(refused >= 1, `storescu was told Out of Resources:\n${output.slice(-1500)}`);
  const indexed = (await n.node.store.index.stats()).instances;
  assert.ok(indexed >= 1 && indexed < files.length, `some fit, some did not (${indexed} of ${files.length})`);
  assert.deepEqual(filesBesidesSpare(dataDir, 'tmp'), [], 'no half-written temp file is left');
  assert.equal(
    (await run('echoscu', ['-aet', 'MODALITY', '-aec', n.aeTitle, '127.0.0.1', String(n.port)])).code,
    0,
    'the node keeps answering',
  );

  // A partner uploads a transfer into the full disk: 507, and what did not fit is not in the store.
  const upload = [instance(studyUid, 9), instance(studyUid, 10)];
  const manifest = {
    transferId: randomUUID(),
    purpose: 'transfer',
    urgency: 'routine',
    sender: { user: { id: 'r1', name: 'Dr. B. Jansen' } },
    patient: { patientId: 'FULL-1' },
    study: { studyInstanceUid: studyUid },
    instances: upload.map((b) => {
      return {
        sopInstanceUid: sopUidOf(b),
        sopClassUid: SopClass.SecondaryCaptureImageStorage,
        seriesInstanceUid: `${studyUid}.1`,
        transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
        size: b.length,
        sha256: createHash('sha256').update(b).digest('hex'),
      };
    }),
  };
  const opened = await call(port, 'POST', `/exchange/v1/transfers`, ca.certPem, partner, manifest);
  assert.ok(opened.status === 200 || opened.status === 201, opened.body);
  writeFileSync(filler, Buffer.alloc(readFileSync(filler).length + Math.max(0, free() - 400_000)));
  const body = multipartOf(upload);
  const answer = await send(
    port,
    'POST',
    `/exchange/v1/transfers/${manifest.transferId}/instances`,
    ca.certPem,
    partner,
    body.body,
    { 'content-type': body.contentType },
  );
  assert.equal(answer.status, 507, answer.body);
  const problem = JSON.parse(answer.body) as { code: string; status: number; stored: string[] };
  assert.equal(problem.code, 'OUT_OF_RESOURCES');
  assert.equal(problem.status, 507);
  assert.ok(Array.isArray(problem.stored), 'the answer names what was stored before the disk filled');
  for (const b of upload)
    assert.equal(
      await n.node.store.index.getInstance(sopUidOf(b)),
      undefined,
      'an instance that did not fit is not indexed',
    );
  assert.deepEqual(filesBesidesSpare(dataDir, 'tmp'), []);
  await waitFor('the refusal in the log', async () =>
    logLines(n).some((l) => l['msg'] === 'upload refused: the disk is full'),
  );

  // Room again: the same instances store, and a restart finds nothing to repair.
  rmSync(filler);
  const again = await run('storescu', ['-aet', 'MODALITY', '-aec', n.aeTitle, '127.0.0.1', String(n.port), ...files]);
  assert.equal(again.code, 0, again.stderr);
  const retried = await send(
    port,
    'POST',
    `/exchange/v1/transfers/${manifest.transferId}/instances`,
    ca.certPem,
    partner,
    body.body,
    { 'content-type': body.contentType },
  );
  assert.equal(retried.status, 200, retried.body);
  assert.equal((await n.node.store.index.stats()).instances, files.length + upload.length);
  n = await restartTestNode(t, n);
  const recovered = logLines(n)
    .filter((l) => l['msg'] === 'store recovered')
    .at(-1)!;
  assert.equal(recovered['unindexedBlobs'], 0);
  assert.equal(recovered['missingBlobs'], 0);
  assert.equal((await n.node.store.index.stats()).instances, files.length + upload.length);
  for (const f of files) {
    const bytes = readFileSync(f);
    const uid = sopUidOf(bytes);
    assert.ok((await n.node.store.index.getInstance(uid)) !== undefined, `${uid} is indexed`);
  }
});

function sopUidOf(part10: Buffer): string {
  return readPart10(part10).dataset.string(Tag.SOPInstanceUID) ?? '';
}
