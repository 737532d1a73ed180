import type { Organization } from '../auth/index.ts';
import type { PartnerConfig } from '../config/index.ts';

/**
 * Who may call a route. Every route declares one; there is no default, so a route cannot be open by omission.
 * - public: no credentials (liveness only; never patient data)
 * - partner: a partner node, by mutual TLS: a client certificate that chains to our trusted CA and names an
 *   organization (URA) on the trust list
 * - own-organization: a system of our own hospital (the CLI with the node's certificate, a RIS or EPD integration), by
 *   mutual TLS: a client certificate that chains to our trusted CA and names our own URA
 */
export type RouteAccess = 'public' | 'partner' | 'own-organization';

export interface PeerCredentials {
  /** The TLS layer verified the client certificate against our CA. */
  authorized: boolean;
  presentedCertificate: boolean;
  authorizationError?: string;
  organization?: Organization;
}

export type AccessDecision =
  | { allow: true; partner?: PartnerConfig }
  | { allow: false; status: 401 | 403; reason: 'no-client-certificate' | 'untrusted-certificate' | 'no-organization-in-certificate' | 'organization-not-trusted'; detail: string };

export function decideAccess(access: RouteAccess, peer: PeerCredentials, partners: readonly PartnerConfig[], ownUra: string): AccessDecision {
  if (access === 'public') return { allow: true };
  if (!peer.presentedCertificate) return { allow: false, status: 401, reason: 'no-client-certificate', detail: 'node-to-node routes need a client certificate' };
  if (!peer.authorized) {
    return { allow: false, status: 401, reason: 'untrusted-certificate', detail: `the client certificate is not trusted (${peer.authorizationError ?? 'unknown reason'})` };
  }
  if (peer.organization === undefined) {
    return { allow: false, status: 403, reason: 'no-organization-in-certificate', detail: 'the client certificate names no organization URA' };
  }
  const ura = peer.organization.ura;
  if (access === 'own-organization') {
    if (ura === ownUra) return { allow: true };
    return { allow: false, status: 403, reason: 'organization-not-trusted', detail: `organization URA ${ura} is not this hospital; this route is for its own systems` };
  }
  const partner = partners.find((p) => p.ura === ura);
  if (partner === undefined) return { allow: false, status: 403, reason: 'organization-not-trusted', detail: `organization URA ${ura} is not on the trust list` };
  return { allow: true, partner };
}
