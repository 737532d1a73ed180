import type { AuditEvent } from '../audit/index.ts';
import type { TimelineClaims } from './claims.ts';

/** The person who asked, as the source's audit trail names them: from the signed claims, vouched for by their node. */
export function requesterUser(c: TimelineClaims): AuditEvent['user'] {
  return {
    id: c.requester.practitionerId,
    name: c.requester.name,
    roleCode: c.requester.roleCode,
    organizationUra: c.organization.ura,
  };
}

interface TimelineEventInput {
  node: string;
  ip?: string | undefined;
  user: AuditEvent['user'];
  /** The person a system asked for, when a system asked. */
  responsibleUser?: AuditEvent['responsibleUser'];
  bsn: string;
  action: 'query' | 'retrieve';
  outcome: 'success' | 'failure';
  description: string;
  grounds: AuditEvent['grounds'];
  studyInstanceUid?: string | undefined;
  transferId?: string | undefined;
}

/** A timeline question or retrieval, on either side: who asked about whom, what came of it, on what grounds. */
export function timelineEvent(o: TimelineEventInput): AuditEvent {
  return {
    action: o.action,
    outcome: o.outcome,
    description: o.description,
    user: o.user,
    ...(o.responsibleUser !== undefined ? { responsibleUser: o.responsibleUser } : {}),
    accessPoint: { node: o.node, ...(o.ip !== undefined ? { ip: o.ip } : {}) },
    patient: { bsn: o.bsn },
    objects: {
      ...(o.studyInstanceUid !== undefined ? { studyInstanceUid: o.studyInstanceUid } : {}),
      ...(o.transferId !== undefined ? { transferId: o.transferId } : {}),
    },
    grounds: o.grounds,
  };
}

/** The source side: the requester named in the signed claims, the registry's consent as the grounds. */
export function sourceEvent(
  o: Omit<TimelineEventInput, 'user' | 'bsn' | 'grounds'> & {
    claims: TimelineClaims;
    consentReference?: string | undefined;
  },
): AuditEvent {
  const { claims, consentReference, ...rest } = o;
  return timelineEvent({
    ...rest,
    user: requesterUser(claims),
    bsn: claims.bsn,
    grounds: {
      purpose: claims.purpose,
      authorization: 'registry-consent',
      ...(consentReference !== undefined ? { consentReference } : {}),
    },
  });
}
