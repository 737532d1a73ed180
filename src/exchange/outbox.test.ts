import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { onBothDatabases, startPostgres } from '../../test/support/postgres.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { openPostgresPool } from '../database/index.ts';
import { openPostgresOutbox, openSqliteOutbox, type Outbox, type OutgoingRequest } from './outbox.ts';

const request: OutgoingRequest = {
  studyInstanceUid: '1.2.3',
  partnerUra: '10000002',
  purpose: 'transfer',
  urgency: 'routine',
  reason: '',
  user: { id: 'u1', name: 'Dr. A' },
};

onBothDatabases<Outbox>(
  'the outbox',
  {
    sqlite: (dir) => openSqliteOutbox(join(dir, 'exchange.sqlite')),
    postgres: (settings) => openPostgresOutbox(openPostgresPool(settings), { ownsPool: true }),
  },
  [
    [
      'a cancel during an attempt wins over the attempt’s progress, retry and failure, but not over its receipt',
      async (t, open) => {
        const outbox = await open(t);
        const a = await outbox.enqueue(request);
        assert.ok(outbox.claim(a.transferId));
        assert.equal((await outbox.cancel(a.transferId, 'cancelled by Dr. A')).cancelled, true);
        await outbox.progress(a.transferId, { instances: 10, needed: 10, sent: 4, bytesSent: 400 });
        await outbox.retryAt(a.transferId, 'ECONNRESET', new Date());
        await outbox.failed(a.transferId, 'PARTNER_REFUSED');
        const after = await outbox.get(a.transferId);
        assert.deepEqual([after?.state, after?.lastError, after?.sent], ['cancelled', 'cancelled by Dr. A', 0]);

        // The receipt came before the cancel could stop the last batch: the study is there, and the outbox says so.
        await outbox.delivered(a.transferId, { instances: 10, sent: 10, bytesSent: 1000, receipt: 'r.e.c' });
        assert.equal((await outbox.get(a.transferId))?.state, 'delivered');
        assert.equal((await outbox.cancel(a.transferId, 'too late')).cancelled, false);
        assert.equal((await outbox.retry(a.transferId)).retried, false);
      },
    ],
    [
      'a retry queues a failed send at once, counts attempts afresh and restarts its give-up time',
      async (t, open) => {
        const outbox = await open(t);
        const queuedAt = new Date('2026-12-01T10:00:00Z');
        const b = await outbox.enqueue(request, queuedAt);
        assert.equal((await outbox.retry(b.transferId)).retried, false, 'a queued send is not retried');
        assert.ok(outbox.claim(b.transferId, queuedAt));
        await outbox.failed(b.transferId, 'PARTNER_REFUSED: 403', queuedAt);
        const now = new Date('2026-12-03T08:00:00Z');
        const { retried, transfer } = await outbox.retry(b.transferId, now);
        assert.equal(retried, true);
        assert.deepEqual(
          [transfer?.state, transfer?.attempts, transfer?.nextAttemptAt, transfer?.triesSince, transfer?.createdAt],
          ['queued', 0, now.toISOString(), now.toISOString(), queuedAt.toISOString()],
        );
        assert.deepEqual(
          (await outbox.due(now)).map((x) => x.transferId),
          [b.transferId],
        );
      },
    ],
    [
      'a delivered study’s receiver is asked again ever less often until it says what became of it, or has purged it',
      async (t, open) => {
        const outbox = await open(t);
        const at = (s: number): Date => new Date(Date.UTC(2026, 11, 1, 10) + s * 1000);
        const due = async (s: number): Promise<string[]> => (await outbox.dueChecks(at(s))).map((x) => x.transferId);
        const held = await outbox.enqueue(request, at(0));
        assert.ok(outbox.claim(held.transferId, at(0)));
        await outbox.delivered(held.transferId, { instances: 1, sent: 1, bytesSent: 1, receipt: 'r' }, at(0));
        assert.deepEqual((await outbox.get(held.transferId))?.atReceiver?.state, 'delivered');
        assert.deepEqual(await due(4), [], 'not before the first delay');
        assert.deepEqual(await due(5), [held.transferId]);
        // Unreachable, then still held: each next question waits twice as long, and "still held" changes nothing shown.
        const updated = (await outbox.get(held.transferId))?.updatedAt;
        await outbox.receiverAnswered(held.transferId, undefined, at(5));
        assert.deepEqual([await due(14), await due(15)], [[], [held.transferId]]);
        await outbox.receiverAnswered(held.transferId, { state: 'delivered', reason: null }, at(15));
        assert.deepEqual([await due(34), await due(35)], [[], [held.transferId]]);
        assert.equal((await outbox.get(held.transferId))?.updatedAt, updated);
        // Imported there: a change others wait on, and the end of the asking.
        await outbox.receiverAnswered(held.transferId, { state: 'imported', reason: null }, at(35));
        assert.deepEqual((await outbox.get(held.transferId))?.atReceiver, {
          state: 'imported',
          reason: null,
          checkedAt: at(35).toISOString(),
        });
        assert.equal((await outbox.get(held.transferId))?.updatedAt, at(35).toISOString());
        assert.deepEqual(await due(10 * 24 * 3600), []);

        // A receiver that never answers is asked at most every two hours, and not after its copy is purged (7 days).
        const silent = await outbox.enqueue(request, at(0));
        assert.ok(outbox.claim(silent.transferId, at(0)));
        await outbox.delivered(silent.transferId, { instances: 1, sent: 1, bytesSent: 1, receipt: 'r' }, at(0));
        let asked = 0;
        for (let s = 0; s < 10 * 24 * 3600 && asked < 1000; s += 60)
          if ((await due(s)).includes(silent.transferId)) {
            await outbox.receiverAnswered(silent.transferId, undefined, at(s));
            asked++;
          }
        assert.ok(asked > 100 && asked < 130, `asked ${asked} times in 9 days`);
        assert.deepEqual(await due(30 * 24 * 3600), [], 'no longer asked');
        assert.equal((await outbox.get(silent.transferId))?.atReceiver?.state, 'delivered');
      },
    ],
  ],
);

/** Two nodes sharing one outbox: a transfer is leased to one; one that stops renewing leaves it to the other. */
async function twoHolders(a: Outbox, b: Outbox): Promise<void> {
  const t0 = Date.UTC(2026, 11, 1, 10);
  const at = (ms: number): Date => new Date(t0 + ms);
  const { transferId } = await a.enqueue(request, at(0));
  assert.ok(await a.claim(transferId, at(0)));
  assert.equal(await b.claim(transferId, at(0)), false, 'one node sends it');
  assert.equal(await b.requeueLapsed(at(500)), 0, 'a lease that holds is left alone');
  assert.equal(await a.renew([transferId], at(800)), 1);
  assert.equal(await b.requeueLapsed(at(1500)), 0, 'renewed: it still holds');
  assert.equal(await b.requeueLapsed(at(1900)), 1, 'not renewed in time: the other node takes it up');
  assert.equal((await b.get(transferId))?.state, 'queued');
  // The node that lost it (a long pause) cannot report over the one that sends it now.
  assert.ok(await b.claim(transferId, at(1900)));
  await a.progress(transferId, { instances: 9, needed: 9, sent: 5, bytesSent: 5 }, at(1950));
  await a.failed(transferId, 'late failure', at(1960));
  assert.equal(await a.renew([transferId], at(1970)), 0);
  const now = await b.get(transferId);
  assert.equal(now?.state, 'sending');
  assert.equal(now?.sent, 0);
  // A restart takes up its own cut-off attempts at once, never another node's that still holds.
  assert.equal(await a.requeueInterrupted(at(2000)), 0);
  assert.equal(await b.requeueInterrupted(at(2000)), 1);
}

test('two nodes share an embedded outbox file by leases', async (t) => {
  const path = join(tempDir(t), 'exchange.sqlite');
  const a = openSqliteOutbox(path, { holder: 'node-a', leaseMs: 1000 });
  const b = openSqliteOutbox(path, { holder: 'node-b', leaseMs: 1000 });
  t.after(() => Promise.all([a.close(), b.close()]));
  await twoHolders(a, b);
});

test('two nodes share an outbox on PostgreSQL by leases', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const settings = await server.database('leases');
  const a = await openPostgresOutbox(openPostgresPool(settings), {
    ownsPool: true,
    lease: { holder: 'a', leaseMs: 1000 },
  });
  const b = await openPostgresOutbox(openPostgresPool(settings), {
    ownsPool: true,
    lease: { holder: 'b', leaseMs: 1000 },
  });
  t.after(() => Promise.all([a.close(), b.close()]));
  await twoHolders(a, b);
});
