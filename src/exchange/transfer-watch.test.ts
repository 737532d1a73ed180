import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { openSqliteInbox, type Inbox } from './inbox.ts';
import { type Manifest, parseManifest } from './manifest.ts';
import { TransferWatch } from './transfer-watch.ts';

const MIDDEN = '10000002';

function manifestOf(uids: readonly string[]): Manifest {
  const parsed = parseManifest({
    transferId: randomUUID(),
    purpose: 'retrieval',
    urgency: 'routine',
    sender: { user: { id: 'dicom:PACS_NOORD', name: 'PACS PACS_NOORD (DICOM)' } },
    consentReference: 'Consent/1',
    patient: { bsn: '999999990', patientId: '999999990' },
    study: { studyInstanceUid: '1.2.3' },
    instances: uids.map((u) => ({
      sopInstanceUid: u,
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      seriesInstanceUid: '1.2.3.1',
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      size: 100,
      sha256: '0'.repeat(64),
    })),
  });
  assert.ok(parsed.ok);
  return parsed.manifest;
}

function inboxFor(t: TestContext): Inbox {
  const dir = mkdtempSync(join(tmpdir(), 'beeldbrug-watch-'));
  const inbox = openSqliteInbox(join(dir, 'exchange.sqlite'));
  t.after(async () => {
    await inbox.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return inbox;
}

test('a watched transfer gives its manifest when opened and each instance as it is stored; delivery ends the wait for the rest', async (t) => {
  const inbox = inboxFor(t);
  const watch = new TransferWatch(inbox, async () => new Set(['1.1']));
  const m = manifestOf(['1.1', '1.2', '1.3']);
  const w = watch.watch(m.transferId, { idleMs: 600_000, signal: new AbortController().signal });
  const opened = await inbox.open(m, MIDDEN);
  assert.ok(opened.outcome === 'created');
  await watch.opened(opened.transfer);
  assert.deepEqual(
    (await w.manifest).instances.map((i) => i.sopInstanceUid),
    ['1.1', '1.2', '1.3'],
  );
  await w.arrived('1.1'); // held already with the same bytes: the sender will not send it
  const second = w.arrived('1.2');
  watch.stored(opened.transfer, '1.2');
  await second;
  const never = w.arrived('1.3');
  watch.ended({ ...opened.transfer, state: 'delivered' });
  await assert.rejects(never, /the transfer ended \(delivered\) without this instance/);
  await w.arrived('1.2'); // what arrived stays arrived
  assert.ok(watch.claimed(m.transferId), 'the routing rules leave it to the watcher');
});

test('a transfer the source opened before it was watched is picked up with what already arrived', async (t) => {
  const inbox = inboxFor(t);
  const watch = new TransferWatch(inbox, async () => new Set<string>());
  const m = manifestOf(['2.1', '2.2']);
  assert.equal((await inbox.open(m, MIDDEN)).outcome, 'created');
  await inbox.markReceived(m.transferId, ['2.1']);
  const w = watch.watch(m.transferId, { idleMs: 600_000, signal: new AbortController().signal });
  assert.equal((await w.manifest).transferId, m.transferId);
  await w.arrived('2.1');
  w.close();
  await assert.rejects(w.arrived('2.2'), /no longer watched/);
});

test('a cancelled retrieve, or a source that goes quiet, gives up the wait', async (t) => {
  const inbox = inboxFor(t);
  const watch = new TransferWatch(inbox, async () => new Set<string>());
  const cancel = new AbortController();
  const cancelled = watch.watch(randomUUID(), { idleMs: 600_000, signal: cancel.signal });
  cancel.abort();
  await assert.rejects(cancelled.manifest, /the retrieve was cancelled/);
  // The idle bound is the event awaited here: it fires once, whatever the machine's load.
  const quiet = watch.watch(randomUUID(), { idleMs: 1, signal: new AbortController().signal });
  await assert.rejects(quiet.manifest, /nothing arrived from the source/);
});
