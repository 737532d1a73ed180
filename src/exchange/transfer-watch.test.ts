import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { queryAsOwner, startPostgres } from '../../test/support/postgres.ts';
import { openPostgresPool, type PostgresSettings } from '../database/index.ts';
import { openPostgresInbox, openSqliteInbox, type Inbox } from './inbox.ts';
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

/** The inboxes of two nodes of one hospital on one PostgreSQL database (undefined where PostgreSQL may be missing). */
async function twoNodesOneInbox(
  t: TestContext,
  database: string,
): Promise<{ settings: PostgresSettings; here: Inbox; there: Inbox } | undefined> {
  const server = await startPostgres(t);
  if (server === undefined) return undefined;
  const settings = await server.database(database);
  const here = await openPostgresInbox(openPostgresPool(settings), { ownsPool: true });
  const there = await openPostgresInbox(openPostgresPool(settings), { ownsPool: true });
  t.after(() => Promise.all([here.close(), there.close()]));
  return { settings, here, there };
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
  const w = await watch.watch(m.transferId, { idleMs: 600_000, signal: new AbortController().signal });
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
  assert.ok(watch.claimed({ ...opened.transfer, claimed: false }), 'the routing rules leave it to the watcher');
  assert.equal((await inbox.find(m.transferId))?.claimed, true, 'and so do those of the other nodes sharing the inbox');
});

test('a transfer the source opened before it was watched is picked up with what already arrived', async (t) => {
  const inbox = inboxFor(t);
  const watch = new TransferWatch(inbox, async () => new Set<string>());
  const m = manifestOf(['2.1', '2.2']);
  assert.equal((await inbox.open(m, MIDDEN)).outcome, 'created');
  await inbox.markReceived(m.transferId, ['2.1']);
  const w = await watch.watch(m.transferId, { idleMs: 600_000, signal: new AbortController().signal });
  assert.equal((await w.manifest).transferId, m.transferId);
  await w.arrived('2.1');
  w.close();
  await assert.rejects(w.arrived('2.2'), /no longer watched/);
});

test('a cancelled retrieve, or a source that goes quiet, gives up the wait', async (t) => {
  const inbox = inboxFor(t);
  const watch = new TransferWatch(inbox, async () => new Set<string>());
  const cancel = new AbortController();
  const cancelled = await watch.watch(randomUUID(), { idleMs: 600_000, signal: cancel.signal });
  cancel.abort();
  await assert.rejects(cancelled.manifest, /the retrieve was cancelled/);
  // The idle bound is the event awaited here: it fires once, whatever the machine's load.
  const quiet = await watch.watch(randomUUID(), { idleMs: 1, signal: new AbortController().signal });
  await assert.rejects(quiet.manifest, /nothing arrived from the source/);
});

test('on PostgreSQL, a transfer that another node of the hospital takes in reaches the watch here: claimed for both, its instances a batch at a time, its end', async (t) => {
  // Two nodes behind one address, one inbox: the C-MOVE waits on this one, the source's upload lands on the other.
  const nodes = await twoNodesOneInbox(t, 'watch');
  if (nodes === undefined) return;
  const { settings, here, there } = nodes;
  const watch = new TransferWatch(here, async () => new Set(['3.1']));
  t.after(() => watch.close());
  const m = manifestOf(['3.1', '3.2', '3.3', '3.4', '3.5']);
  const w = await watch.watch(m.transferId, { idleMs: 600_000, signal: new AbortController().signal });

  const opened = await there.open(m, MIDDEN);
  assert.ok(opened.outcome === 'created');
  assert.equal(opened.transfer.claimed, true, 'the other node holds it for the watcher instead of routing it');
  assert.deepEqual(
    (await w.manifest).instances.map((i) => i.sopInstanceUid),
    ['3.1', '3.2', '3.3', '3.4', '3.5'],
  );
  await w.arrived('3.1'); // held here already
  const batch = Promise.all([w.arrived('3.2'), w.arrived('3.3')]);
  await there.markReceived(m.transferId, ['3.2', '3.3']);
  await batch;
  // The connection this node listens on is lost (a database failover): what was noted meanwhile is looked up after.
  const listening = await queryAsOwner<{ ended: boolean }>(
    settings,
    "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE query LIKE 'LISTEN %'",
  );
  assert.deepEqual(listening, [{ ended: true }]);
  const afterLoss = w.arrived('3.4');
  await there.markReceived(m.transferId, ['3.4']);
  await afterLoss;
  const never = w.arrived('3.5');
  await there.markDelivered(m.transferId, 'receipt');
  await assert.rejects(never, /the transfer ended \(delivered\) without this instance/);
  assert.equal((await there.get(m.transferId, MIDDEN))?.claimed, true);
});

test('on PostgreSQL, a node hears the changes of the other nodes sharing its inbox, not its own (it tells its watches in-process)', async (t) => {
  const nodes = await twoNodesOneInbox(t, 'watch_origin');
  if (nodes === undefined) return;
  const { here, there } = nodes;
  const heard: (string | undefined)[] = [];
  const waiting = new Map<string | undefined, () => void>();
  const hearing = (id: string | undefined): Promise<void> => new Promise((resolve) => waiting.set(id, resolve));
  const listening = hearing(undefined);
  here.onChange((id) => {
    heard.push(id);
    waiting.get(id)?.();
  });
  // Once it listens (it looks everything up then: what came before was not heard), this node's change, then the other's.
  await listening;
  const mine = manifestOf(['6.1']);
  await here.open(mine, MIDDEN);
  const theirs = manifestOf(['7.1']);
  const heardTheirs = hearing(theirs.transferId);
  await there.open(theirs, MIDDEN);
  await heardTheirs;
  assert.deepEqual(heard, [undefined, theirs.transferId], "this node's own change is not heard back");
});
