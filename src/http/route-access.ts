import type { Organization, Role, Session } from '../auth/index.ts';
import type { PartnerConfig } from '../config/index.ts';

/**
 * Who may call a route. Every route declares one; there is no default, so a route cannot be open by omission.
 * - public: no credentials (liveness only; never patient data)
 * - partner: a partner node, by mutual TLS: a client certificate that chains to our trusted CA and names an
 *   organization (URA) on the trust list
 * - own-organization: a system of our own hospital (the CLI with the node's certificate, a RIS or EPD integration), by
 *   mutual TLS: a client certificate that chains to our trusted CA and names our own URA
 * - sign-in: takes credentials and gives a session; answers nothing else, and the same refusal to every failure
 * - { roles }: a signed-in person with one of these roles (session cookie or bearer token); `twoFactor` demands a
 *   session opened with two factors
 */
/** One of our own hospital's systems, by its certificate: who the audit trail names for an own-organization call. */
export interface OwnSystem {
  ura: string;
  organization: string;
  commonName: string;
}

export type RouteAccess = 'public' | 'sign-in' | 'partner' | 'own-organization' | { roles: readonly Role[]; twoFactor?: boolean };

export interface PeerCredentials {
  /** The TLS layer verified the client certificate against our CA. */
  authorized: boolean;
  presentedCertificate: boolean;
  authorizationError?: string;
  organization?: Organization;
  /** The certificate's common name: which of an organization's systems is calling (the CLI, the RIS). */
  commonName?: string;
}

export type AccessDecision =
  | { allow: true; partner?: PartnerConfig; session?: Session; system?: OwnSystem }
  | {
      allow: false;
      status: 401 | 403;
      reason: 'no-client-certificate' | 'untrusted-certificate' | 'no-organization-in-certificate' | 'organization-not-trusted' | 'no-session' | 'role-not-allowed' | 'second-factor-required';
      detail: string;
    };

/** `session` is the signed-in person the request's token stands for, if any (only user routes look at it). */
export function decideAccess(access: RouteAccess, peer: PeerCredentials, partners: readonly PartnerConfig[], ownUra: string, session?: Session): AccessDecision {
  if (access === 'public' || access === 'sign-in') return { allow: true };
  if (typeof access === 'object') {
    if (session === undefined) return { allow: false, status: 401, reason: 'no-session', detail: 'this route needs a signed-in user' };
    if (!access.roles.includes(session.account.role)) {
      return { allow: false, status: 403, reason: 'role-not-allowed', detail: `role ${session.account.role} may not call this route (${access.roles.join(', ')} may)` };
    }
    if (access.twoFactor === true && !session.twoFactor) return { allow: false, status: 403, reason: 'second-factor-required', detail: 'this route needs a session signed in with two factors' };
    return { allow: true, session };
  }
  if (!peer.presentedCertificate) return { allow: false, status: 401, reason: 'no-client-certificate', detail: 'node-to-node routes need a client certificate' };
  if (!peer.authorized) {
    return { allow: false, status: 401, reason: 'untrusted-certificate', detail: `the client certificate is not trusted (${peer.authorizationError ?? 'unknown reason'})` };
  }
  if (peer.organization === undefined) {
    return { allow: false, status: 403, reason: 'no-organization-in-certificate', detail: 'the client certificate names no organization URA' };
  }
  const ura = peer.organization.ura;
  if (access === 'own-organization') {
    if (ura === ownUra) return { allow: true, system: { ura, organization: peer.organization.name, commonName: peer.commonName ?? '(no common name)' } };
    return { allow: false, status: 403, reason: 'organization-not-trusted', detail: `organization URA ${ura} is not this hospital; this route is for its own systems` };
  }
  const partner = partners.find((p) => p.ura === ura);
  if (partner === undefined) return { allow: false, status: 403, reason: 'organization-not-trusted', detail: `organization URA ${ura} is not on the trust list` };
  return { allow: true, partner };
}
