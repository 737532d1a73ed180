import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { Outbox, type OutgoingRequest } from './outbox.ts';

const request: OutgoingRequest = {
  studyInstanceUid: '1.2.3',
  partnerUra: '10000002',
  purpose: 'transfer',
  urgency: 'routine',
  reason: '',
  user: { id: 'u1', name: 'Dr. A' },
};

test('a cancel during an attempt wins over the attempt’s progress, retry and failure, but not over its receipt', (t) => {
  const outbox = new Outbox(join(tempDir(t), 'exchange.sqlite'));
  t.after(() => outbox.close());
  const a = outbox.enqueue(request);
  assert.ok(outbox.claim(a.transferId));
  assert.equal(outbox.cancel(a.transferId, 'cancelled by Dr. A').cancelled, true);
  outbox.progress(a.transferId, { instances: 10, needed: 10, sent: 4, bytesSent: 400 });
  outbox.retryAt(a.transferId, 'ECONNRESET', new Date());
  outbox.failed(a.transferId, 'PARTNER_REFUSED');
  const after = outbox.get(a.transferId);
  assert.deepEqual([after?.state, after?.lastError, after?.sent], ['cancelled', 'cancelled by Dr. A', 0]);

  // The receipt came before the cancel could stop the last batch: the study is there, and the outbox says so.
  outbox.delivered(a.transferId, { instances: 10, sent: 10, bytesSent: 1000, receipt: 'r.e.c' });
  assert.equal(outbox.get(a.transferId)?.state, 'delivered');
  assert.equal(outbox.cancel(a.transferId, 'too late').cancelled, false);
  assert.equal(outbox.retry(a.transferId).retried, false);
});

test('a retry queues a failed send at once, counts attempts afresh and restarts its give-up time', (t) => {
  const outbox = new Outbox(join(tempDir(t), 'exchange.sqlite'));
  t.after(() => outbox.close());
  const queuedAt = new Date('2026-12-01T10:00:00Z');
  const b = outbox.enqueue(request, queuedAt);
  assert.equal(outbox.retry(b.transferId).retried, false, 'a queued send is not retried');
  assert.ok(outbox.claim(b.transferId, queuedAt));
  outbox.failed(b.transferId, 'PARTNER_REFUSED: 403', queuedAt);
  const now = new Date('2026-12-03T08:00:00Z');
  const { retried, transfer } = outbox.retry(b.transferId, now);
  assert.equal(retried, true);
  assert.deepEqual(
    [transfer?.state, transfer?.attempts, transfer?.nextAttemptAt, transfer?.triesSince, transfer?.createdAt],
    ['queued', 0, now.toISOString(), now.toISOString(), queuedAt.toISOString()],
  );
  assert.deepEqual(
    outbox.due(now).map((x) => x.transferId),
    [b.transferId],
  );
});

test('a delivered study’s receiver is asked again ever less often until it says what became of it, or has purged it', (t) => {
  const outbox = new Outbox(join(tempDir(t), 'exchange.sqlite'));
  t.after(() => outbox.close());
  const at = (s: number): Date => new Date(Date.UTC(2026, 11, 1, 10) + s * 1000);
  const due = (s: number): string[] => outbox.dueChecks(at(s)).map((x) => x.transferId);
  const held = outbox.enqueue(request, at(0));
  assert.ok(outbox.claim(held.transferId, at(0)));
  outbox.delivered(held.transferId, { instances: 1, sent: 1, bytesSent: 1, receipt: 'r' }, at(0));
  assert.deepEqual(outbox.get(held.transferId)?.atReceiver?.state, 'delivered');
  assert.deepEqual(due(4), [], 'not before the first delay');
  assert.deepEqual(due(5), [held.transferId]);
  // Unreachable, then still held: each next question waits twice as long, and "still held" changes nothing shown.
  const updated = outbox.get(held.transferId)?.updatedAt;
  outbox.receiverAnswered(held.transferId, undefined, at(5));
  assert.deepEqual([due(14), due(15)], [[], [held.transferId]]);
  outbox.receiverAnswered(held.transferId, { state: 'delivered', reason: null }, at(15));
  assert.deepEqual([due(34), due(35)], [[], [held.transferId]]);
  assert.equal(outbox.get(held.transferId)?.updatedAt, updated);
  // Imported there: a change others wait on, and the end of the asking.
  outbox.receiverAnswered(held.transferId, { state: 'imported', reason: null }, at(35));
  assert.deepEqual(outbox.get(held.transferId)?.atReceiver, {
    state: 'imported',
    reason: null,
    checkedAt: at(35).toISOString(),
  });
  assert.equal(outbox.get(held.transferId)?.updatedAt, at(35).toISOString());
  assert.deepEqual(due(10 * 24 * 3600), []);

  // A receiver that never answers is asked at most every two hours, and not after its copy is purged (7 days).
  const silent = outbox.enqueue(request, at(0));
  assert.ok(outbox.claim(silent.transferId, at(0)));
  outbox.delivered(silent.transferId, { instances: 1, sent: 1, bytesSent: 1, receipt: 'r' }, at(0));
  let asked = 0;
  for (let s = 0; s < 10 * 24 * 3600 && asked < 1000; s += 60)
    if (due(s).includes(silent.transferId)) {
      outbox.receiverAnswered(silent.transferId, undefined, at(s));
      asked++;
    }
  assert.ok(asked > 100 && asked < 130, `asked ${asked} times in 9 days`);
  assert.deepEqual(due(30 * 24 * 3600), [], 'no longer asked');
  assert.equal(outbox.get(silent.transferId)?.atReceiver?.state, 'delivered');
});
