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
