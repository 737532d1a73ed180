import type { AuditEvent } from '../audit/index.ts';
import type { TimelineClaims } from './claims.ts';

/**
 * Who asked, as the source's audit trail names them: the person from the signed claims, vouched for by their node; or,
 * where their node knew no person (a PACS querying its external AE title), the system that asked.
 */
export function requesterUser(c: TimelineClaims): AuditEvent['user'] {
  if (c.requester === undefined) {
    return { id: c.system?.id ?? 'system', name: c.system?.name ?? 'a system', organizationUra: c.organization.ura };
  }
  return {
    id: c.requester.practitionerId,
    name: c.requester.name,
    roleCode: c.requester.roleCode,
    organizationUra: c.organization.ura,
  };
}
