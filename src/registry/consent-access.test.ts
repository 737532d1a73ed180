import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ConsentAction, type ConsentClient, decideConsentAccess } from './consent-access.ts';
import type { ConsentRecord, ConsentTermsChange } from './types.ts';

const noord: ConsentClient = { ura: '10000001', role: 'care-provider' };
const portal: ConsentClient = { ura: '10000050', role: 'patient-portal' };
const p = Buffer.alloc(32, 1);

const terms = (
  decision: 'permit' | 'deny',
  role: 'holder' | 'recipient',
  organization: { ura: string } | { type: 'hospital' },
): ConsentTermsChange => ({
  decision,
  category: 'imaging',
  actor: { role, organization },
  period: { start: 0 },
});
const recordedBy = (ura: string): ConsentRecord['recordedBy'] => ({ ura, id: 'balie-1', name: 'Balie' });
const record = (t: ConsentTermsChange, claimedChannel?: ConsentRecord['channel']): ConsentAction => ({
  kind: 'record',
  terms: t,
  claimedChannel,
});
const existing = (ura: string, status: ConsentRecord['status'] = 'active') => ({
  recordedBy: recordedBy(ura),
  status,
  pseudonym: p,
});
const change = (
  ura: string,
  t: ConsentTermsChange,
  o: { status?: ConsentRecord['status']; pseudonym?: Buffer; claimedChannel?: ConsentRecord['channel'] } = {},
): ConsentAction => ({
  kind: 'change',
  consent: existing(ura, o.status),
  terms: { ...t, pseudonym: o.pseudonym ?? p },
  claimedChannel: o.claimedChannel,
});

const cases: [
  string,
  ConsentClient,
  ConsentAction,
  true | 'not-found' | 'not-own-choice' | 'channel-not-yours' | 'revoked' | 'other-patient',
][] = [
  // Recording by a care provider: the patient's choices about itself only.
  [
    'a hospital records a permit for releasing its own data',
    noord,
    record(terms('permit', 'holder', { ura: noord.ura })),
    true,
  ],
  [
    'a hospital records a deny for releasing its own data',
    noord,
    record(terms('deny', 'holder', { ura: noord.ura }), 'care-provider'),
    true,
  ],
  [
    "a hospital records a deny for receiving others' data",
    noord,
    record(terms('deny', 'recipient', { ura: noord.ura })),
    true,
  ],
  [
    "a hospital grants itself others' data (permit as recipient)",
    noord,
    record(terms('permit', 'recipient', { ura: noord.ura })),
    'not-own-choice',
  ],
  [
    "a hospital grants another hospital's release",
    noord,
    record(terms('permit', 'holder', { ura: '10000002' })),
    'not-own-choice',
  ],
  [
    "a hospital grants every hospital's release",
    noord,
    record(terms('permit', 'holder', { type: 'hospital' })),
    'not-own-choice',
  ],
  [
    'a hospital records a deny about another hospital',
    noord,
    record(terms('deny', 'holder', { ura: '10000002' })),
    'not-own-choice',
  ],
  [
    'a hospital records a deny for a type of organization',
    noord,
    record(terms('deny', 'recipient', { type: 'hospital' })),
    'not-own-choice',
  ],
  [
    "a hospital claims the patient's channel",
    noord,
    record(terms('permit', 'holder', { ura: noord.ura }), 'patient-portal'),
    'channel-not-yours',
  ],
  // Recording through the patient's channel: anything.
  [
    "the patient portal grants every hospital's release",
    portal,
    record(terms('permit', 'holder', { type: 'hospital' }), 'patient-portal'),
    true,
  ],
  [
    'the patient portal grants another organization access',
    portal,
    record(terms('permit', 'recipient', { ura: '10000002' })),
    true,
  ],
  [
    'the patient portal claims to be a care provider',
    portal,
    record(terms('deny', 'holder', { ura: '10000002' }), 'care-provider'),
    'channel-not-yours',
  ],
  // Reading and revoking: the recorder or the patient's channel; to the others the consent does not exist.
  ['the recorder reads its consent', noord, { kind: 'read', consent: existing(noord.ura) }, true],
  [
    'another hospital reads it',
    { ura: '10000002', role: 'care-provider' },
    { kind: 'read', consent: existing(noord.ura) },
    'not-found',
  ],
  ["the patient portal reads a hospital's consent", portal, { kind: 'read', consent: existing(noord.ura) }, true],
  ['the recorder revokes its consent', noord, { kind: 'revoke', consent: existing(noord.ura) }, true],
  [
    'another hospital revokes it',
    { ura: '10000002', role: 'care-provider' },
    { kind: 'revoke', consent: existing(noord.ura) },
    'not-found',
  ],
  ["the patient portal revokes a hospital's consent", portal, { kind: 'revoke', consent: existing(noord.ura) }, true],
  [
    'a hospital revokes a consent the patient recorded in the portal',
    noord,
    { kind: 'revoke', consent: existing(portal.ura) },
    'not-found',
  ],
  // Changing: as revoking, and the new terms must be the client's to record.
  [
    'the recorder changes its permit into a deny',
    noord,
    change(noord.ura, terms('deny', 'holder', { ura: noord.ura })),
    true,
  ],
  [
    'another hospital changes it',
    { ura: '10000002', role: 'care-provider' },
    change(noord.ura, terms('deny', 'holder', { ura: '10000002' })),
    'not-found',
  ],
  [
    'the recorder widens its permit to every hospital',
    noord,
    change(noord.ura, terms('permit', 'holder', { type: 'hospital' })),
    'not-own-choice',
  ],
  [
    "the patient portal changes a hospital's consent",
    portal,
    change(noord.ura, terms('permit', 'holder', { type: 'hospital' })),
    true,
  ],
  [
    'a revoked consent is changed',
    noord,
    change(noord.ura, terms('deny', 'holder', { ura: noord.ura }), { status: 'inactive' }),
    'revoked',
  ],
  [
    'a change moves the consent to another patient',
    portal,
    change(noord.ura, terms('deny', 'holder', { ura: noord.ura }), { pseudonym: Buffer.alloc(32, 2) }),
    'other-patient',
  ],
  [
    "a change claims the patient's channel",
    noord,
    change(noord.ura, terms('deny', 'holder', { ura: noord.ura }), { claimedChannel: 'patient-portal' }),
    'channel-not-yours',
  ],
];

for (const [name, client, action, expected] of cases) {
  test(`consent access: ${name}`, () => {
    const d = decideConsentAccess(client, action);
    assert.equal(d.allow ? true : d.reason, expected, d.allow ? '' : d.detail);
  });
}

test('consent access: a refusal to another organization says no more than "no such consent"', () => {
  const d = decideConsentAccess(
    { ura: '10000002', role: 'care-provider' },
    { kind: 'revoke', consent: existing(noord.ura) },
  );
  assert.deepEqual(d, { allow: false, reason: 'not-found', detail: 'no such consent' });
});
