// A PACS's "send to" a partner hospital: it C-STOREs the study to the AE title that stands for the partner. A PACS may
// spread one send over several associations (Orthanc did, for a 12-instance study: one per kind of instance); the
// study must still travel once, as one transfer with every instance.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readPart10, Tag } from '../../src/dicom/index.ts';
import { Association } from '../../src/dimse/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { midden, noord, startExchangeNode } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { tempDir } from '../support/tmp.ts';

async function twoNodes(t: Parameters<typeof startExchangeNode>[0]) {
  const receiver = await startExchangeNode(t, { us: midden, partners: [noord] });
  const sender = await startExchangeNode(t, {
    ca: receiver.ca,
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiver.port}`, aeTitle: 'MIDDEN' }],
    dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', description: 'Noord PACS' }],
    // Far longer than the gap between two associations of one send, even on a loaded machine.
    studyStableSeconds: 10,
  });
  const synth = await synthesize({ outDir: join(tempDir(t), 'synth'), patients: 1, seed: 91, modalities: ['CR'] });
  const study = synth.patients[0]?.studies[0];
  assert.ok(study !== undefined && study.files.length >= 2);
  return { receiver, sender, study };
}

/** An association of Noord's PACS to the partner's AE title, as its "send to" opens one. */
async function sendTo(port: number, files: readonly string[]): Promise<Association> {
  const parts = files.map((f) => ({ bytes: readFileSync(f), file: readPart10(readFileSync(f)) }));
  const a = await Association.connect({
    host: '127.0.0.1',
    port,
    callingAeTitle: 'PACS_NOORD',
    calledAeTitle: 'MIDDEN',
    presentationContexts: [
      ...new Map(
        parts.map((p) => [
          `${p.file.dataset.string(Tag.SOPClassUID)}|${p.file.transferSyntaxUid}`,
          {
            abstractSyntax: p.file.dataset.string(Tag.SOPClassUID) ?? '',
            transferSyntaxes: [p.file.transferSyntaxUid],
          },
        ]),
      ).values(),
    ],
  });
  for (const p of parts) {
    const status = await a.store({
      sopClassUid: p.file.dataset.string(Tag.SOPClassUID) ?? '',
      sopInstanceUid: p.file.dataset.string(Tag.SOPInstanceUID) ?? '',
      transferSyntaxUid: p.file.transferSyntaxUid,
      data: p.bytes.subarray(p.file.datasetOffset),
    });
    assert.equal(status, 0);
  }
  return a;
}

test('a "send to" spread over associations one after the other, or at once, is one transfer with every instance', async (t) => {
  const { receiver, sender, study } = await twoNodes(t);
  const half = Math.ceil(study.files.length / 2);
  // One after the other, as Orthanc sends one kind of instance per association.
  await (await sendTo(sender.n.port, study.files.slice(0, half))).release();
  await (await sendTo(sender.n.port, study.files.slice(half))).release();
  await waitFor('the study queued', async () => ((await sender.n.node.outbox?.list({}))?.length ?? 0) > 0);
  const queued = (await sender.n.node.outbox?.list({})) ?? [];
  assert.equal(queued.length, 1, 'one transfer');
  await waitFor(
    'delivery',
    async () => (await sender.n.node.outbox?.get(queued[0]?.transferId ?? ''))?.state === 'delivered',
  );
  assert.equal((await receiver.n.node.store.index.stats()).instances, study.instances, 'with every instance');

  // The same study again, over two associations open at once: one more transfer (a new send), not two.
  const a = await sendTo(sender.n.port, study.files.slice(0, half));
  const b = await sendTo(sender.n.port, study.files.slice(half));
  await a.release();
  await b.release();
  await waitFor('the second send queued and delivered', async () => {
    const all = (await sender.n.node.outbox?.list({})) ?? [];
    return all.length > 1 && all.every((x) => x.state === 'delivered');
  });
  assert.equal((await sender.n.node.outbox?.list({}))?.length, 2, 'one transfer for the second send');
});
