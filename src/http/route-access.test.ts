import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  actingPerson,
  actingUsers,
  type AssertionCheck,
  decideAccess,
  PERSON_ROUTES,
  type PeerCredentials,
  type PersonCredentials,
  personNamedInBody,
  type RouteAccess,
} from './route-access.ts';

const partners = [{ ura: '10000002', name: 'Ziekenhuis Midden' }];
const midden = { name: 'Ziekenhuis Midden', ura: '10000002' };
const noord = { name: 'Ziekenhuis Noord', ura: '10000001' };
const OWN_URA = noord.ura;

const cases: [string, RouteAccess, PeerCredentials, string][] = [
  ['public needs nothing', 'public', { authorized: false, presentedCertificate: false }, 'allow'],
  [
    'partner without a certificate',
    'partner',
    { authorized: false, presentedCertificate: false },
    'no-client-certificate',
  ],
  [
    'partner with an untrusted certificate',
    'partner',
    { authorized: false, presentedCertificate: true, authorizationError: 'SELF_SIGNED', organization: midden },
    'untrusted-certificate',
  ],
  [
    'trusted certificate without a URA',
    'partner',
    { authorized: true, presentedCertificate: true },
    'no-organization-in-certificate',
  ],
  [
    'trusted certificate, organization not a partner',
    'partner',
    { authorized: true, presentedCertificate: true, organization: { name: 'X', ura: '12345678' } },
    'organization-not-trusted',
  ],
  ['trusted partner', 'partner', { authorized: true, presentedCertificate: true, organization: midden }, 'allow'],
  [
    'our own system on a partner route',
    'partner',
    { authorized: true, presentedCertificate: true, organization: noord },
    'organization-not-trusted',
  ],
  [
    'own-organization without a certificate',
    'own-organization',
    { authorized: false, presentedCertificate: false },
    'no-client-certificate',
  ],
  [
    'own-organization, self-signed with our URA',
    'own-organization',
    { authorized: false, presentedCertificate: true, authorizationError: 'SELF_SIGNED', organization: noord },
    'untrusted-certificate',
  ],
  [
    'own-organization called by a partner',
    'own-organization',
    { authorized: true, presentedCertificate: true, organization: midden },
    'organization-not-trusted',
  ],
  [
    'own-organization called by our own system',
    'own-organization',
    { authorized: true, presentedCertificate: true, organization: noord },
    'allow',
  ],
];

for (const [name, access, peer, expected] of cases) {
  test(`route access: ${name}`, () => {
    const d = decideAccess(access, peer, partners, OWN_URA);
    assert.equal(d.allow ? 'allow' : d.reason, expected);
    if (!d.allow) assert.ok(d.status === 401 || d.status === 403);
  });
}

const session = (role: 'radiologist' | 'auditor', twoFactor: boolean) => ({
  account: { id: 'a1', username: 'u', name: 'U', role, source: 'local' as const },
  twoFactor,
  createdAt: '2026-11-23T09:00:00.000Z',
  expiresAt: '2026-11-23T21:00:00.000Z',
});
const nobody: PeerCredentials = { authorized: false, presentedCertificate: false };
const auditorRoute: RouteAccess = { roles: ['auditor'], twoFactor: true };

const userCases: [string, RouteAccess, PeerCredentials, ReturnType<typeof session> | undefined, string][] = [
  ['user route without a session', auditorRoute, nobody, undefined, 'no-session'],
  [
    'user route with a trusted partner certificate but no session',
    auditorRoute,
    { authorized: true, presentedCertificate: true, organization: midden },
    undefined,
    'no-session',
  ],
  ['auditor route, radiologist session', auditorRoute, nobody, session('radiologist', true), 'role-not-allowed'],
  ['auditor route, auditor with one factor', auditorRoute, nobody, session('auditor', false), 'second-factor-required'],
  ['auditor route, auditor with two factors', auditorRoute, nobody, session('auditor', true), 'allow'],
  ['sign-in takes no credentials', 'sign-in', nobody, undefined, 'allow'],
  ['a session does not open a partner route', 'partner', nobody, session('auditor', true), 'no-client-certificate'],
];

for (const [name, access, peer, s, expected] of userCases) {
  test(`route access: ${name}`, () => {
    const d = decideAccess(access, peer, partners, OWN_URA, s);
    assert.equal(d.allow ? 'allow' : d.reason, expected);
    if (d.allow && typeof access === 'object') assert.equal(d.session, s);
  });
}

// Person routes: who may act, and who the trail then names. The table is PERSON_ROUTES; each row is checked here.
const asRole = (role: 'radiologist' | 'staff' | 'admin' | 'auditor') => ({
  account: {
    id: `id-${role}`,
    username: role,
    name: `N ${role}`,
    role,
    uziRoleCode: '01.015',
    source: 'local' as const,
  },
  twoFactor: true,
  createdAt: '2026-11-23T09:00:00.000Z',
  expiresAt: '2026-11-23T21:00:00.000Z',
});
const ownSystem: PeerCredentials = {
  authorized: true,
  presentedCertificate: true,
  organization: noord,
  commonName: 'ris.noord',
};
const partnerSystem: PeerCredentials = {
  authorized: true,
  presentedCertificate: true,
  organization: midden,
  commonName: 'midden',
};
const asserted: AssertionCheck = {
  ok: true,
  person: { id: 'uzi-900012345', name: 'Dr. A. de Vries', roleCode: '01.015', issuer: 'https://idp.noord' },
};
const badAssertion: AssertionCheck = { ok: false, reason: 'signature does not verify' };

const tableCases: [keyof typeof PERSON_ROUTES, 'radiologist' | 'staff' | 'admin' | 'auditor', string][] = [
  ['send', 'radiologist', 'allow'],
  ['send', 'staff', 'allow'],
  ['send', 'admin', 'role-not-allowed'],
  ['send', 'auditor', 'role-not-allowed'],
  ['timeline', 'radiologist', 'allow'],
  ['timeline', 'staff', 'allow'],
  ['timeline', 'admin', 'role-not-allowed'],
  ['timeline', 'auditor', 'role-not-allowed'],
  ['retrieve', 'radiologist', 'allow'],
  ['retrieve', 'admin', 'role-not-allowed'],
  ['outbox', 'staff', 'allow'],
  ['outbox', 'admin', 'role-not-allowed'],
  ['inbox', 'radiologist', 'allow'],
  ['inbox', 'auditor', 'role-not-allowed'],
  ['accept', 'staff', 'allow'],
  ['accept', 'admin', 'role-not-allowed'],
  ['audit', 'auditor', 'allow'],
  ['audit', 'radiologist', 'role-not-allowed'],
  ['audit', 'admin', 'role-not-allowed'],
];
for (const [route, role, expected] of tableCases) {
  test(`person routes: ${route} by a signed-in ${role}: ${expected}`, () => {
    const s = asRole(role);
    const d = decideAccess(PERSON_ROUTES[route], nobody, partners, OWN_URA, s, {
      tokenPresented: true,
      ownName: noord.name,
    });
    assert.equal(d.allow ? 'allow' : d.reason, expected);
    if (d.allow) {
      assert.equal(d.acting?.kind, 'person');
      assert.deepEqual(
        actingUsers(d.acting!),
        { user: { id: `id-${role}`, name: `N ${role}`, roleCode: '01.015', organizationUra: OWN_URA } },
        'the trail names the signed-in person',
      );
    }
  });
}

const systemCases: [
  string,
  keyof typeof PERSON_ROUTES,
  PeerCredentials,
  PersonCredentials,
  string,
  ReturnType<typeof actingUsers> | undefined,
][] = [
  [
    'our RIS sends in its own name',
    'send',
    ownSystem,
    {},
    'allow',
    { user: { id: 'system:ris.noord', name: `ris.noord (${noord.name})`, organizationUra: OWN_URA } },
  ],
  [
    'our RIS sends for an asserted person',
    'send',
    ownSystem,
    { assertion: asserted },
    'allow',
    {
      user: { id: 'system:ris.noord', name: `ris.noord (${noord.name})`, organizationUra: OWN_URA },
      responsibleUser: { id: 'uzi-900012345', name: 'Dr. A. de Vries' },
    },
  ],
  [
    'our RIS with an assertion that does not verify',
    'send',
    ownSystem,
    { assertion: badAssertion },
    'assertion-invalid',
    undefined,
  ],
  ['our EPD asks the timeline without an assertion', 'timeline', ownSystem, {}, 'assertion-required', undefined],
  [
    'our EPD asks the timeline for an asserted person',
    'timeline',
    ownSystem,
    { assertion: asserted },
    'allow',
    {
      user: { id: 'system:ris.noord', name: `ris.noord (${noord.name})`, organizationUra: OWN_URA },
      responsibleUser: { id: 'uzi-900012345', name: 'Dr. A. de Vries' },
    },
  ],
  [
    'a partner certificate on a person route',
    'send',
    partnerSystem,
    { assertion: asserted },
    'organization-not-trusted',
    undefined,
  ],
  ['our certificate on the audit route', 'audit', ownSystem, { assertion: asserted }, 'no-session', undefined],
  [
    'an ended session with our certificate does not fall back to the system',
    'inbox',
    ownSystem,
    { tokenPresented: true },
    'no-session',
    undefined,
  ],
  ['no credentials at all', 'inbox', nobody, {}, 'no-session', undefined],
];
for (const [name, route, peer, extra, expected, users] of systemCases) {
  test(`person routes: ${name}: ${expected}`, () => {
    const d = decideAccess(PERSON_ROUTES[route], peer, partners, OWN_URA, undefined, extra);
    assert.equal(d.allow ? 'allow' : d.reason, expected);
    if (d.allow) assert.deepEqual(actingUsers(d.acting!), users);
    else assert.ok(d.status === 401 || d.status === 403);
  });
}

test('person routes: the acting person of a system alone is nobody; of an assertion, the asserted person', () => {
  const alone = decideAccess(PERSON_ROUTES.send, ownSystem, partners, OWN_URA);
  const forPerson = decideAccess(PERSON_ROUTES.send, ownSystem, partners, OWN_URA, undefined, { assertion: asserted });
  assert.ok(alone.allow && forPerson.allow);
  assert.equal(actingPerson(alone.acting!), undefined);
  assert.equal(actingPerson(forPerson.acting!)?.name, 'Dr. A. de Vries');
});

test('person routes: a body that names a person is refused with the reason', () => {
  assert.equal(personNamedInBody({ bsn: '1' }), undefined);
  assert.match(
    personNamedInBody({ bsn: '1', requester: {} }) ?? '',
    /requester: the person who acts comes from sign-in/,
  );
  assert.match(personNamedInBody({ user: { id: 'x' } }) ?? '', /^user: /);
  assert.equal(personNamedInBody(null), undefined);
});
