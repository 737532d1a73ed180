import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideRelease, type ReleaseQuestion } from './consent-decision.ts';
import type { ConsentRecord } from './types.ts';

const p = Buffer.alloc(32, 1);
let next = 1;
function consent(
  decision: 'permit' | 'deny',
  actor: ConsentRecord['actor'],
  extra: Partial<ConsentRecord> = {},
): ConsentRecord {
  return {
    id: String(next),
    row: next++,
    pseudonym: p,
    status: 'active',
    decision,
    category: 'imaging',
    actor,
    period: { start: 0 },
    recordedAt: 0,
    recordedBy: { ura: '10000001', id: 'u', name: 'U' },
    channel: 'patient-portal',
    ...extra,
  };
}
const q: ReleaseQuestion = {
  holder: { ura: '10000001', type: 'hospital' },
  requester: { ura: '10000002', type: 'hospital' },
  category: 'imaging',
  at: 1000,
};

test('no consent is no', () => {
  assert.deepEqual(decideRelease([], q), { decision: 'deny', reason: 'no-consent' });
});

test('a permit for the holder, or for its organization type, permits and names the consent', () => {
  const byUra = consent('permit', { role: 'holder', organization: { ura: '10000001' } });
  assert.deepEqual(decideRelease([byUra], q), { decision: 'permit', consentRow: byUra.row });
  const byType = consent('permit', { role: 'holder', organization: { type: 'hospital' } });
  assert.deepEqual(decideRelease([byType], q), { decision: 'permit', consentRow: byType.row });
  assert.equal(
    decideRelease([consent('permit', { role: 'holder', organization: { type: 'pharmacy' } })], q).decision,
    'deny',
  );
  assert.equal(
    decideRelease([consent('permit', { role: 'holder', organization: { ura: '10000003' } })], q).decision,
    'deny',
  );
});

test('deny wins over permit, whichever came first', () => {
  const permit = consent('permit', { role: 'holder', organization: { type: 'hospital' } });
  const deny = consent('deny', { role: 'holder', organization: { ura: '10000001' } });
  assert.deepEqual(decideRelease([permit, deny], q), { decision: 'deny', consentRow: deny.row, reason: 'denied' });
  assert.deepEqual(decideRelease([deny, permit], q), { decision: 'deny', consentRow: deny.row, reason: 'denied' });
  // A deny for a requester other than this one does not touch this question.
  const denyOther = consent('deny', { role: 'recipient', organization: { ura: '10000009' } });
  assert.equal(decideRelease([permit, denyOther], q).decision, 'permit');
  const denyThis = consent('deny', { role: 'recipient', organization: { ura: '10000002' } });
  assert.equal(decideRelease([permit, denyThis], q).decision, 'deny');
});

test('revoked, inactive, out-of-period and other-category consents do not apply', () => {
  const holder = { role: 'holder' as const, organization: { ura: '10000001' } };
  assert.equal(decideRelease([consent('permit', holder, { status: 'inactive', revokedAt: 500 })], q).decision, 'deny');
  assert.equal(decideRelease([consent('permit', holder, { period: { start: 2000 } })], q).decision, 'deny');
  assert.equal(
    decideRelease([consent('permit', holder, { period: { start: 0, end: 1000 } })], q).decision,
    'deny',
    'the end is exclusive',
  );
  assert.equal(decideRelease([consent('permit', holder, { period: { start: 0, end: 1001 } })], q).decision, 'permit');
  // A revoked deny no longer blocks.
  assert.equal(
    decideRelease([consent('permit', holder), consent('deny', holder, { status: 'inactive', revokedAt: 900 })], q)
      .decision,
    'permit',
  );
});
