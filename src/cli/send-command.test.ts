import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OutboxTransfer } from './node-api-client.ts';
import { parseDuration } from './command-line.ts';
import { retryLine } from './send-command.ts';

test('send: --give-up-after takes seconds, minutes or hours', () => {
  assert.deepEqual(['90', '90s', '10m', '2h', ' 5m ', 'soon', '1.5h', '-3s', ''].map(parseDuration), [
    90,
    90,
    600,
    7200,
    300,
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
});

const transfer = (o: Partial<OutboxTransfer>): OutboxTransfer => ({
  transferId: 't1',
  studyInstanceUid: '1.2',
  to: '10000002',
  toName: 'Ziekenhuis Midden',
  purpose: 'transfer',
  urgency: 'routine',
  state: 'queued',
  attempts: 0,
  nextAttemptAt: null,
  lastError: null,
  instances: null,
  needed: null,
  sent: 0,
  bytesSent: 0,
  receipt: null,
  atReceiver: null,
  createdAt: '2026-12-05T00:00:00.000Z',
  updatedAt: '2026-12-05T00:00:00.000Z',
  ...o,
});

test('send: a transfer waiting after a failed attempt says why and when the node tries again', () => {
  const now = Date.parse('2026-12-05T00:00:00.000Z');
  assert.equal(retryLine(transfer({}), now), undefined, 'not tried yet');
  assert.equal(retryLine(transfer({ state: 'sending', attempts: 1, lastError: 'x' }), now), undefined, 'being sent');
  assert.equal(
    retryLine(
      transfer({
        attempts: 2,
        lastError: 'PARTNER_UNREACHABLE: connect ECONNREFUSED 127.0.0.1:1',
        nextAttemptAt: '2026-12-05T00:00:30.000Z',
      }),
      now,
    ),
    'attempt 2 failed: PARTNER_UNREACHABLE: connect ECONNREFUSED 127.0.0.1:1; the node tries again at 2026-12-05T00:00:30.000Z (in 30 s)',
  );
});
