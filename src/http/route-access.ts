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
 * - share-link: takes a share's link token (and its code) in the body; answers the link's state and opens a recipient
 *   session, never patient data
 * - share-recipient: a recipient session, opened with a share's link and code (cookie beeldbrug_share or bearer); the
 *   route answers only that share
 * - { roles }: a signed-in person with one of these roles (session cookie or bearer token); `twoFactor` demands a
 *   session opened with two factors. A route that acts for a person (send, timeline, inbox, outbox) also says whether
 *   one of our own systems may call it by its certificate (`systems`, see PersonAccess).
 */
/** One of our own hospital's systems, by its certificate: who the audit trail names for an own-organization call. */
export interface OwnSystem {
  ura: string;
  organization: string;
  commonName: string;
}

/**
 * A route for people. Without `systems`, only a signed-in person opens it. With it, one of our own hospital's systems
 * (a client certificate with our URA: the RIS, the EPD) may call it too:
 * - 'as-itself': the system acts in its own name and the audit trail names it (as a C-MOVE names the PACS); with a
 *   verified assertion of the hospital's identity provider it acts for the person the assertion names
 * - 'for-a-person': only with such an assertion (the timeline: the sources' audit trails must name a practitioner)
 */
export interface PersonAccess {
  roles: readonly Role[];
  twoFactor?: boolean;
  systems?: 'as-itself' | 'for-a-person';
}

export type RouteAccess =
  'public' | 'sign-in' | 'share-link' | 'share-recipient' | 'partner' | 'own-organization' | PersonAccess;

/** A share's recipient, by the session link and code opened: which share, and until when. */
export interface RecipientSession {
  shareId: string;
  expiresAt: string;
}

/** A person named by a signed assertion of the hospital's identity provider, after its signature, issuer, audience and age were checked. */
export interface AssertedPerson {
  id: string;
  name: string;
  roleCode?: string;
  /** The issuer that vouched for the person (the `iss` of the assertion). */
  issuer: string;
}

/** What the check of an on-behalf-of assertion found; `reason` goes to the log and the refusal, never the token. */
export type AssertionCheck = { ok: true; person: AssertedPerson } | { ok: false; reason: string };

/**
 * Who acts on a person route: a signed-in person, or one of our own systems (by certificate), alone or for the person a
 * verified assertion names. Routes take the person for the audit trail and the timeline claims from here only.
 */
export type Acting =
  | { kind: 'person'; session: Session; organization: Organization }
  | { kind: 'system'; system: OwnSystem; onBehalfOf?: AssertedPerson };

/** An audit trail's user, as the audit module spells it (kept structural here: http does not depend on audit). */
export interface ActingUser {
  id: string;
  name: string;
  roleCode?: string;
  organizationUra?: string;
}

/**
 * The audit trail's user and responsible user for who acts: the signed-in person; or the system, with the person it
 * acts for as the responsible user.
 */
export function actingUsers(a: Acting): { user: ActingUser; responsibleUser?: { id: string; name: string } } {
  if (a.kind === 'person') {
    const p = a.session.account;
    return {
      user: {
        id: p.id,
        name: p.name,
        ...(p.uziRoleCode !== undefined ? { roleCode: p.uziRoleCode } : {}),
        organizationUra: a.organization.ura,
      },
    };
  }
  const user = {
    id: `system:${a.system.commonName}`,
    name: `${a.system.commonName} (${a.system.organization})`,
    organizationUra: a.system.ura,
  };
  if (a.onBehalfOf === undefined) return { user };
  const o = a.onBehalfOf;
  return { user, responsibleUser: { id: o.id, name: o.name } };
}

/**
 * Who acts, as the patient-data access layer names an accessor: a signed-in person, or one of our own systems (with the
 * person an assertion names as the responsible user). Kept structural: http does not depend on studies.
 */
export function actingAccessor(a: Acting | undefined): {
  kind: 'person' | 'own-system';
  user: ActingUser;
  responsibleUser?: { id: string; name: string };
} {
  if (a === undefined) throw new Error('a person route ran without who acts');
  return { kind: a.kind === 'person' ? 'person' : 'own-system', ...actingUsers(a) };
}

/** The person who acts, if any: the signed-in person, or the one an assertion names (a system alone is no person). */
export function actingPerson(a: Acting): { id: string; name: string; roleCode?: string } | undefined {
  if (a.kind === 'person') {
    const p = a.session.account;
    return { id: p.id, name: p.name, ...(p.uziRoleCode !== undefined ? { roleCode: p.uziRoleCode } : {}) };
  }
  return a.onBehalfOf;
}

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
  | {
      allow: true;
      partner?: PartnerConfig;
      session?: Session;
      system?: OwnSystem;
      acting?: Acting;
      recipient?: RecipientSession;
    }
  | {
      allow: false;
      status: 401 | 403;
      reason:
        | 'no-client-certificate'
        | 'untrusted-certificate'
        | 'no-organization-in-certificate'
        | 'organization-not-trusted'
        | 'no-session'
        | 'no-recipient-session'
        | 'role-not-allowed'
        | 'second-factor-required'
        | 'assertion-required'
        | 'assertion-invalid';
      detail: string;
    };

/** What else a person route looks at besides the certificate and the session. */
export interface PersonCredentials {
  /** The request carried a session token (cookie or bearer): an unknown or ended one never falls back to a certificate. */
  tokenPresented?: boolean;
  /** The check of an on-behalf-of assertion, when the request carried one. */
  assertion?: AssertionCheck;
  /** Our own organization's name, for the acting person's organization. */
  ownName?: string;
  /** The share recipient session the request's token stands for, if any (only share-recipient routes look). */
  recipient?: RecipientSession;
}

/** `session` is the signed-in person the request's token stands for, if any (only user routes look at it). */
export function decideAccess(
  access: RouteAccess,
  peer: PeerCredentials,
  partners: readonly PartnerConfig[],
  ownUra: string,
  session?: Session,
  extra: PersonCredentials = {},
): AccessDecision {
  if (access === 'public' || access === 'sign-in' || access === 'share-link') return { allow: true };
  if (access === 'share-recipient')
    return extra.recipient !== undefined
      ? { allow: true, recipient: extra.recipient }
      : {
          allow: false,
          status: 401,
          reason: 'no-recipient-session',
          detail: 'open the link from the e-mail and enter the code from the SMS first (or the session ended)',
        };
  if (typeof access === 'object') return decidePersonAccess(access, peer, ownUra, session, extra);
  if (!peer.presentedCertificate)
    return {
      allow: false,
      status: 401,
      reason: 'no-client-certificate',
      detail: 'node-to-node routes need a client certificate',
    };
  if (!peer.authorized) {
    return {
      allow: false,
      status: 401,
      reason: 'untrusted-certificate',
      detail: `the client certificate is not trusted (${peer.authorizationError ?? 'unknown reason'})`,
    };
  }
  if (peer.organization === undefined) {
    return {
      allow: false,
      status: 403,
      reason: 'no-organization-in-certificate',
      detail: 'the client certificate names no organization URA',
    };
  }
  const ura = peer.organization.ura;
  if (access === 'own-organization') {
    if (ura === ownUra)
      return {
        allow: true,
        system: { ura, organization: peer.organization.name, commonName: peer.commonName ?? '(no common name)' },
      };
    return {
      allow: false,
      status: 403,
      reason: 'organization-not-trusted',
      detail: `organization URA ${ura} is not this hospital; this route is for its own systems`,
    };
  }
  const partner = partners.find((p) => p.ura === ura);
  if (partner === undefined)
    return {
      allow: false,
      status: 403,
      reason: 'organization-not-trusted',
      detail: `organization URA ${ura} is not on the trust list`,
    };
  return { allow: true, partner };
}

function decidePersonAccess(
  access: PersonAccess,
  peer: PeerCredentials,
  ownUra: string,
  session: Session | undefined,
  extra: PersonCredentials,
): AccessDecision {
  if (session !== undefined) {
    if (!access.roles.includes(session.account.role)) {
      return {
        allow: false,
        status: 403,
        reason: 'role-not-allowed',
        detail: `role ${session.account.role} may not call this route (${access.roles.join(', ')} may)`,
      };
    }
    if (access.twoFactor === true && !session.twoFactor)
      return {
        allow: false,
        status: 403,
        reason: 'second-factor-required',
        detail: 'this route needs a session signed in with two factors',
      };
    return {
      allow: true,
      session,
      acting: { kind: 'person', session, organization: { ura: ownUra, name: extra.ownName ?? ownUra } },
    };
  }
  const ours =
    access.systems !== undefined &&
    extra.tokenPresented !== true &&
    peer.presentedCertificate &&
    peer.authorized &&
    peer.organization?.ura === ownUra;
  if (
    !ours &&
    access.systems !== undefined &&
    extra.tokenPresented !== true &&
    peer.authorized &&
    peer.organization !== undefined
  ) {
    return {
      allow: false,
      status: 403,
      reason: 'organization-not-trusted',
      detail: `organization URA ${peer.organization.ura} is not this hospital; this route is for its own people and systems`,
    };
  }
  if (!ours || access.systems === undefined || peer.organization === undefined) {
    return {
      allow: false,
      status: 401,
      reason: 'no-session',
      detail:
        extra.tokenPresented === true
          ? 'the session has ended or is not known: sign in again'
          : 'this route needs a signed-in user',
    };
  }
  const system: OwnSystem = {
    ura: ownUra,
    organization: peer.organization.name,
    commonName: peer.commonName ?? '(no common name)',
  };
  const a = extra.assertion;
  if (a !== undefined && !a.ok)
    return {
      allow: false,
      status: 403,
      reason: 'assertion-invalid',
      detail: `the on-behalf-of assertion is refused: ${a.reason}`,
    };
  if (a === undefined && access.systems === 'for-a-person') {
    return {
      allow: false,
      status: 403,
      reason: 'assertion-required',
      detail:
        'a system acts on this route only for a person named by a signed assertion of the identity provider (X-Beeldbrug-On-Behalf-Of)',
    };
  }
  return {
    allow: true,
    system,
    acting: { kind: 'system', system, ...(a !== undefined ? { onBehalfOf: a.person } : {}) },
  };
}

/**
 * Who may act on the routes that act for a person, in one table. Radiologists and radiology staff (laboranten, the
 * secretariat), signed in with two factors, send, ask the timeline and handle the inbox; an admin configures the node and sees no patient data; an
 * auditor reads the trail only, with two factors. Our own systems may send and handle the inbox in their own name (the
 * trail names the system, as it names a PACS that sends with C-MOVE); the timeline goes out to other hospitals in a
 * practitioner's name, so a system asks it only for a person its identity provider vouches for.
 */
export const PERSON_ROUTES = {
  // Patient data takes a session with two factors (the Dutch Besluit elektronische gegevensverwerking door
  // zorgaanbieders asks for it; a local account always has them, an identity provider's `amr` must show them).
  timeline: { roles: ['radiologist', 'staff'], twoFactor: true, systems: 'for-a-person' },
  retrieve: { roles: ['radiologist', 'staff'], twoFactor: true, systems: 'for-a-person' },
  send: { roles: ['radiologist', 'staff'], twoFactor: true, systems: 'as-itself' },
  outbox: { roles: ['radiologist', 'staff'], twoFactor: true, systems: 'as-itself' },
  inbox: { roles: ['radiologist', 'staff'], twoFactor: true, systems: 'as-itself' },
  accept: { roles: ['radiologist', 'staff'], twoFactor: true, systems: 'as-itself' },
  // The hospital's PACS searched, and a study fetched from it into the node, from the workspace.
  pacs: { roles: ['radiologist', 'staff'], twoFactor: true, systems: 'as-itself' },
  // A viewer or the PACS's own DICOMweb client searching and retrieving the node's studies.
  dicomweb: { roles: ['radiologist', 'staff'], twoFactor: true, systems: 'as-itself' },
  // Sharing studies with a patient or a doctor elsewhere: a person decides, never a system.
  share: { roles: ['radiologist', 'staff'], twoFactor: true },
  audit: { roles: ['auditor'], twoFactor: true },
  // Accounts and the node's configuration: who may sign in at all and where studies go, so two factors here too.
  admin: { roles: ['admin'], twoFactor: true },
  // A partner organization's account: its own download and upload folders, nothing else.
  partner: { roles: ['partner'], twoFactor: true },
} as const satisfies Record<string, PersonAccess>;

/** Body fields through which a client used to name the acting person; they now come from sign-in only. */
const PERSON_FIELDS = ['user', 'requester', 'userId', 'userName', 'practitioner'] as const;

/**
 * Why a request body is refused for naming a person, or undefined when it does not: the person who acts comes from the
 * session (or a system's verified assertion), and a body that still names one is an old client or an attempt to put a
 * colleague's name in the audit trail; either way it gets a clear answer instead of silently being ignored.
 */
export function personNamedInBody(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const named = PERSON_FIELDS.filter((f) => f in body);
  if (named.length === 0) return undefined;
  return `${named.join(', ')}: the person who acts comes from sign-in (a session, or a system's signed assertion), not from the request; leave ${named.length === 1 ? 'it' : 'them'} out`;
}
