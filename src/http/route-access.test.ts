import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideAccess, type PeerCredentials, type RouteAccess } from './route-access.ts';

const partners = [{ ura: '10000002', name: 'Ziekenhuis Midden' }];
const midden = { name: 'Ziekenhuis Midden', ura: '10000002' };
const noord = { name: 'Ziekenhuis Noord', ura: '10000001' };
const OWN_URA = noord.ura;

const cases: [string, RouteAccess, PeerCredentials, string][] = [
  ['public needs nothing', 'public', { authorized: false, presentedCertificate: false }, 'allow'],
  ['partner without a certificate', 'partner', { authorized: false, presentedCertificate: false }, 'no-client-certificate'],
  ['partner with an untrusted certificate', 'partner', { authorized: false, presentedCertificate: true, authorizationError: 'SELF_SIGNED', organization: midden }, 'untrusted-certificate'],
  ['trusted certificate without a URA', 'partner', { authorized: true, presentedCertificate: true }, 'no-organization-in-certificate'],
  ['trusted certificate, organization not a partner', 'partner', { authorized: true, presentedCertificate: true, organization: { name: 'X', ura: '12345678' } }, 'organization-not-trusted'],
  ['trusted partner', 'partner', { authorized: true, presentedCertificate: true, organization: midden }, 'allow'],
  ['our own system on a partner route', 'partner', { authorized: true, presentedCertificate: true, organization: noord }, 'organization-not-trusted'],
  ['own-organization without a certificate', 'own-organization', { authorized: false, presentedCertificate: false }, 'no-client-certificate'],
  ['own-organization, self-signed with our URA', 'own-organization', { authorized: false, presentedCertificate: true, authorizationError: 'SELF_SIGNED', organization: noord }, 'untrusted-certificate'],
  ['own-organization called by a partner', 'own-organization', { authorized: true, presentedCertificate: true, organization: midden }, 'organization-not-trusted'],
  ['own-organization called by our own system', 'own-organization', { authorized: true, presentedCertificate: true, organization: noord }, 'allow'],
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
  ['user route with a trusted partner certificate but no session', auditorRoute, { authorized: true, presentedCertificate: true, organization: midden }, undefined, 'no-session'],
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
