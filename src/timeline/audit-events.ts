import type { AuditEvent } from '../audit/index.ts';
import type { TimelineClaims } from './claims.ts';

/** The person who asked, as the source's audit trail names them: from the signed claims, vouched for by their node. */
export function requesterUser(c: TimelineClaims): AuditEvent['user'] {
  return { id: c.requester.practitionerId, name: c.requester.name, roleCode: c.requester.roleCode, organizationUra: c.organization.ura };
}

/** The source side of a timeline question or retrieval: who asked about whom, what was answered, on what grounds. */
export function sourceEvent(o: {
  node: string;
  ip: string;
  claims: TimelineClaims;
  action: 'query' | 'retrieve';
  outcome: 'success' | 'failure';
  description: string;
  consentReference?: string | undefined;
  studyInstanceUid?: string;
  transferId?: string;
}): AuditEvent {
  return {
    action: o.action,
    outcome: o.outcome,
    description: o.description,
    user: requesterUser(o.claims),
    accessPoint: { node: o.node, ip: o.ip },
    patient: { bsn: o.claims.bsn },
    objects: { ...(o.studyInstanceUid !== undefined ? { studyInstanceUid: o.studyInstanceUid } : {}), ...(o.transferId !== undefined ? { transferId: o.transferId } : {}) },
    grounds: { purpose: o.claims.purpose, authorization: 'registry-consent', ...(o.consentReference !== undefined ? { consentReference: o.consentReference } : {}) },
  };
}

/** The requesting side: a user asked for a patient's timeline, or for one study from it. */
export function requesterEvent(o: {
  node: string;
  ip?: string | undefined;
  user: AuditEvent['user'];
  bsn: string;
  action: 'query' | 'retrieve';
  outcome: 'success' | 'failure';
  description: string;
  studyInstanceUid?: string;
  transferId?: string;
}): AuditEvent {
  return {
    action: o.action,
    outcome: o.outcome,
    description: o.description,
    user: o.user,
    accessPoint: { node: o.node, ...(o.ip !== undefined ? { ip: o.ip } : {}) },
    patient: { bsn: o.bsn },
    objects: { ...(o.studyInstanceUid !== undefined ? { studyInstanceUid: o.studyInstanceUid } : {}), ...(o.transferId !== undefined ? { transferId: o.transferId } : {}) },
    grounds: { purpose: 'treatment', authorization: 'user' },
  };
}
