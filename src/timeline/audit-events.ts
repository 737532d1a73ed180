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
