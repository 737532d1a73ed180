// Uploading a transfer's instances (docs/exchange-protocol.md, step 2): each Part 10 file streams into the store with its
// SHA-256 checked against the manifest; a corrupted instance, one not in the manifest, a body cut off halfway, or an
// upload over the limit stores nothing of what is wrong, and what is right is stored byte for byte.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { packInstance, readPart10, Tag } from '../../src/dicom/index.ts';
import { writeCtStudy } from '../../src/synth/index.ts';
import { collect } from '../support/dicom-files.ts';
import { PACKED_INSTANCE_TYPE, verifyReceipt } from '../../src/exchange/index.ts';
import { call, midden, multipartOf, noord, send, startExchangeNode } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { filesBesidesSpare, logLines } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';

/** The catalog code of a problem-details answer. */
const codeOf = (a: { body: string }): string => (JSON.parse(a.body) as { code: string }).code;
const uidOf = (b: Buffer): string => readPart10(b).dataset.string(Tag.SOPInstanceUID) ?? '';

/** A transfer's manifest announcing these Part 10 files. */
function manifestOf(studyInstanceUid: string, files: readonly Buffer[]) {
  return {
    transferId: randomUUID(),
    purpose: 'transfer',
    urgency: 'routine',
    sender: { user: { id: 'r1', name: 'Dr. B. Jansen' } },
    patient: { patientId: 'P1' },
    study: { studyInstanceUid },
    instances: files.map((b) => {
      const p = readPart10(b);
      return {
        sopInstanceUid: uidOf(b),
        sopClassUid: p.dataset.string(Tag.SOPClassUID) ?? '',
        seriesInstanceUid: p.dataset.string(Tag.SeriesInstanceUID) ?? '',
        transferSyntaxUid: p.transferSyntaxUid,
        size: b.length,
        sha256: createHash('sha256').update(b).digest('hex'),
      };
    }),
  };
}

test('upload: verified instances are stored byte for byte; wrong ones are refused and nothing partial remains', async (t) => {
  const { n, port, ca, partner } = await startExchangeNode(t, { maxUploadBytes: 3 * 1024 * 1024 });
  const work = tempDir(t);
  const ct = await writeCtStudy({ outDir: join(work, 'ct'), instances: 4, seed: 12 });
  const other = await writeCtStudy({ outDir: join(work, 'other'), instances: 1, seed: 13 });
  const files = ct.files.map((f) => readFileSync(f));
  const uids = files.map(uidOf);
  const manifest = manifestOf(ct.studyInstanceUid, files);
  const open = async (): Promise<string[]> =>
    (
      JSON.parse((await call(port, 'POST', '/exchange/v1/transfers', ca.certPem, partner, manifest)).body) as {
        needed: string[];
      }
    ).needed;
  const upload = (body: Buffer, contentType: string) =>
    send(port, 'POST', `/exchange/v1/transfers/${manifest.transferId}/instances`, ca.certPem, partner, body, {
      'content-type': contentType,
    });
  const tmpFiles = (): string[] => filesBesidesSpare(join(n.dir, 'data'), 'tmp');

  assert.deepEqual(await open(), uids);

  const corrupted = Buffer.from(files[2] ?? Buffer.alloc(0));
  corrupted[corrupted.length - 100] = (corrupted[corrupted.length - 100] ?? 0) ^ 0xff;
  const first = multipartOf([
    files[0] ?? Buffer.alloc(0),
    files[1] ?? Buffer.alloc(0),
    corrupted,
    readFileSync(other.files[0] ?? ''),
  ]);
  const r1 = await upload(first.body, first.contentType);
  assert.equal(r1.status, 200, r1.body);
  const a1 = JSON.parse(r1.body) as { stored: string[]; failed: { sopInstanceUid: string; reason: string }[] };
  assert.deepEqual(a1.stored, uids.slice(0, 2));
  assert.deepEqual(
    a1.failed.map((f) => [f.sopInstanceUid, f.reason]),
    [
      [uids[2], 'digest-mismatch'],
      [uidOf(readFileSync(other.files[0] ?? '')), 'instance-not-expected'],
    ],
  );
  for (const i of [0, 1]) {
    const stored = await n.node.store.index.getInstance(uids[i] ?? '');
    assert.ok(stored !== undefined);
    assert.ok(
      (await collect(n.node.store.blobs.open(stored.blob.blobId))).equals(files[i] ?? Buffer.alloc(0)),
      'stored exactly as sent, file meta included',
    );
  }
  assert.equal(await n.node.store.index.getInstance(uids[2] ?? ''), undefined, 'the corrupted instance is not stored');
  const refusals = await n.node.audit.list({ action: 'verify-failure' });
  assert.equal(refusals.length, 2, 'each refused instance is in the audit trail');
  assert.deepEqual(refusals[0]?.objects.sopInstanceUids, [uids[2]]);
  assert.equal(refusals[0]?.outcome, 'failure');
  assert.equal(refusals[0]?.objects.transferId, manifest.transferId);
  assert.deepEqual(tmpFiles(), []);
  assert.deepEqual(await open(), uids.slice(2), 're-opening resumes with what is missing');
  const early = await call(port, 'POST', `/exchange/v1/transfers/${manifest.transferId}/commit`, ca.certPem, partner);
  assert.equal(early.status, 409, 'no commit before everything is there');
  assert.equal(codeOf(early), 'TRANSFER_INCOMPLETE');
  assert.deepEqual((JSON.parse(early.body) as { missing: string[] }).missing, uids.slice(2));

  const whole = multipartOf([files[2] ?? Buffer.alloc(0), files[3] ?? Buffer.alloc(0)]);
  const cut = whole.body.subarray(0, whole.body.length - 300_000);
  const r2 = await upload(cut, whole.contentType);
  assert.equal(r2.status, 400, 'a body that ends inside a part');
  assert.match(r2.body, /TRUNCATED/);
  assert.equal(await n.node.store.index.getInstance(uids[3] ?? ''), undefined, 'the part cut off is not stored');
  assert.deepEqual(tmpFiles(), []);

  const r3 = await upload(whole.body, whole.contentType);
  assert.equal(r3.status, 200, r3.body);
  assert.deepEqual(await open(), [], 'everything arrived');

  const commit = await call(port, 'POST', `/exchange/v1/transfers/${manifest.transferId}/commit`, ca.certPem, partner);
  assert.equal(commit.status, 200, commit.body);
  const { receipt } = JSON.parse(commit.body) as { receipt: string };
  const verified = await verifyReceipt(receipt, ca.certPem);
  assert.ok(verified.ok, 'the receipt is signed by the receiving node under the network CA');
  assert.equal(verified.claims.transferId, manifest.transferId);
  assert.deepEqual(
    verified.claims.instances,
    manifest.instances.map((i) => ({ sopInstanceUid: i.sopInstanceUid, sha256: i.sha256 })),
  );
  assert.deepEqual(verified.claims.receiver, { ura: noord.ura, name: noord.name });
  assert.equal(verified.claims.sender.ura, midden.ura);
  const again = await call(port, 'POST', `/exchange/v1/transfers/${manifest.transferId}/commit`, ca.certPem, partner);
  assert.equal(
    (JSON.parse(again.body) as { receipt: string }).receipt,
    receipt,
    'a retried commit gets the same receipt',
  );
  const status = await call(port, 'GET', `/exchange/v1/transfers/${manifest.transferId}`, ca.certPem, partner);
  assert.deepEqual(JSON.parse(status.body), { transferId: manifest.transferId, state: 'delivered', needed: [] });
  await waitFor('the arrival notice', async () => logLines(n).some((l) => l['msg'] === 'study arrived'));
  assert.equal(
    logLines(n).filter((l) => l['msg'] === 'study arrived').length,
    1,
    'told once, when the whole study is there',
  );

  const second = { ...manifest, transferId: randomUUID() };
  assert.equal((await call(port, 'POST', '/exchange/v1/transfers', ca.certPem, partner, second)).status, 201);
  const tooLarge = multipartOf([Buffer.alloc(4 * 1024 * 1024, 1)]);
  const late = multipartOf([files[0] ?? Buffer.alloc(0)]);
  const lateAnswer = await upload(late.body, late.contentType);
  assert.equal(lateAnswer.status, 409, 'a delivered transfer takes no more uploads');
  assert.equal(codeOf(lateAnswer), 'TRANSFER_NOT_OPEN');
  assert.equal((JSON.parse(lateAnswer.body) as { state: string }).state, 'delivered');
  const r4 = await send(
    port,
    'POST',
    `/exchange/v1/transfers/${second.transferId}/instances`,
    ca.certPem,
    partner,
    tooLarge.body,
    { 'content-type': tooLarge.contentType },
  );
  // The node answers 413 while the client may still be sending, so the client can see the connection end instead.
  assert.ok(r4.status === 413 || r4.status === 'tls-error', `an upload over the limit is refused (${r4.status})`);
  await waitFor('the refusal in the log', async () =>
    logLines(n).some((l) => l['msg'] === 'upload refused: too large'),
  );
  assert.deepEqual(tmpFiles(), []);
  assert.equal((await n.node.store.index.stats()).instances, 4);

  const notDicom = multipartOf([Buffer.from('this is not a DICOM file')]);
  const r5 = await send(
    port,
    'POST',
    `/exchange/v1/transfers/${second.transferId}/instances`,
    ca.certPem,
    partner,
    notDicom.body,
    { 'content-type': notDicom.contentType },
  );
  assert.equal(r5.status, 200);
  assert.deepEqual(
    (JSON.parse(r5.body) as { failed: { reason: string }[] }).failed.map((f) => f.reason),
    ['dataset-invalid'],
    'a part that is not Part 10 is refused on its own',
  );
  assert.equal(
    (
      await send(
        port,
        'POST',
        `/exchange/v1/transfers/${second.transferId}/instances`,
        ca.certPem,
        partner,
        Buffer.from('{}'),
        { 'content-type': 'application/json' },
      )
    ).status,
    415,
  );
  const gzip = await send(
    port,
    'POST',
    `/exchange/v1/transfers/${second.transferId}/instances`,
    ca.certPem,
    partner,
    notDicom.body,
    { 'content-type': notDicom.contentType, 'content-encoding': 'gzip' },
  );
  assert.equal(gzip.status, 415, 'an encoding the node does not speak');
  assert.deepEqual((JSON.parse(gzip.body) as { supported: string[] }).supported, ['identity', 'zstd', 'deflate']);
  const badZstd = await send(
    port,
    'POST',
    `/exchange/v1/transfers/${second.transferId}/instances`,
    ca.certPem,
    partner,
    Buffer.from('not zstd at all'),
    { 'content-type': notDicom.contentType, 'content-encoding': 'zstd' },
  );
  assert.equal(badZstd.status, 400, 'a corrupt compressed body');
  assert.equal(codeOf(badZstd), 'CONTENT_ENCODING_INVALID');
  assert.equal((await n.node.store.index.stats()).instances, 4);
  assert.equal(
    (
      await send(port, 'POST', `/exchange/v1/transfers/${randomUUID()}/instances`, ca.certPem, partner, first.body, {
        'content-type': first.contentType,
      })
    ).status,
    404,
  );
});

test('upload of packed instances: restored byte for byte before they are checked; a broken one is refused alone', async (t) => {
  const { n, port, ca, partner } = await startExchangeNode(t);
  const work = tempDir(t);
  const ct = await writeCtStudy({ outDir: join(work, 'ct'), instances: 3, seed: 14 });
  const files = ct.files.map((f) => readFileSync(f));
  const uids = files.map(uidOf);
  const manifest = manifestOf(ct.studyInstanceUid, files);
  const opened = await call(port, 'POST', '/exchange/v1/transfers', ca.certPem, partner, manifest);
  const answer = JSON.parse(opened.body) as { needed: string[]; partTypes: string[] };
  assert.deepEqual(answer.partTypes, [PACKED_INSTANCE_TYPE], 'the node says it restores packed instances');

  const packed = await Promise.all(files.map(async (f) => (await packInstance(f)) ?? Buffer.alloc(0)));
  assert.ok(packed.every((p) => p.length > 0 && p.length * 3 < files[0]!.length));
  const notPacked = Buffer.from(packed[1] ?? Buffer.alloc(0)).fill(0, 0, 4);
  // Another instance's pixels under this one's header: restored, it is not the announced file.
  const swapped = Buffer.from(packed[2] ?? Buffer.alloc(0));
  const head = swapped.readUInt32BE(8);
  const otherPixels = (packed[0] ?? Buffer.alloc(0)).subarray(12 + head);
  const mixed = Buffer.concat([swapped.subarray(0, 12 + head), otherPixels]);
  const upload = (parts: Parameters<typeof multipartOf>[0]) => {
    const { body, contentType } = multipartOf(parts);
    const path = `/exchange/v1/transfers/${manifest.transferId}/instances`;
    return send(port, 'POST', path, ca.certPem, partner, body, { 'content-type': contentType });
  };
  const r = await upload([
    { bytes: packed[0] ?? Buffer.alloc(0), type: PACKED_INSTANCE_TYPE },
    { bytes: notPacked, type: PACKED_INSTANCE_TYPE },
    { bytes: mixed, type: PACKED_INSTANCE_TYPE },
  ]);
  assert.equal(r.status, 200, r.body);
  const a = JSON.parse(r.body) as { stored: string[]; failed: { sopInstanceUid: string | null; reason: string }[] };
  assert.deepEqual(a.stored, [uids[0]]);
  assert.deepEqual(
    a.failed.map((f) => [f.sopInstanceUid, f.reason]),
    [
      [null, 'packed-instance-invalid'],
      [uids[2], 'digest-mismatch'],
    ],
  );
  const stored = await n.node.store.index.getInstance(uids[0] ?? '');
  assert.ok(stored !== undefined);
  assert.ok((await collect(n.node.store.blobs.open(stored.blob.blobId))).equals(files[0] ?? Buffer.alloc(0)));
  assert.deepEqual(filesBesidesSpare(join(n.dir, 'data'), 'tmp'), []);

  // The rest as they are: a sender may mix packed and plain parts in one body.
  const r2 = await upload([
    files[1] ?? Buffer.alloc(0),
    { bytes: packed[2] ?? Buffer.alloc(0), type: PACKED_INSTANCE_TYPE },
  ]);
  assert.deepEqual((JSON.parse(r2.body) as { stored: string[] }).stored, uids.slice(1));
});
