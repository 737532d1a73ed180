import type { ConsentTerms, DataCategory, OrganizationType } from './types.ts';

export interface Party {
  ura: string;
  type: OrganizationType | undefined;
}

export interface ReleaseQuestion {
  /** The organization that holds the data and would release it (Mitz: bronhouder). */
  holder: Party;
  /** The organization that asks for it. */
  requester: Party;
  category: DataCategory;
  /** ms since the epoch */
  at: number;
}

export type ReleaseDecision =
  | { decision: 'permit'; consentRow: number }
  | { decision: 'deny'; consentRow: number; reason: 'denied' }
  | { decision: 'deny'; reason: 'no-consent' };

function actorMatches(c: ConsentTerms, q: ReleaseQuestion): boolean {
  const party = c.actor.role === 'holder' ? q.holder : q.requester;
  const who = c.actor.organization;
  return 'ura' in who ? who.ura === party.ura : party.type !== undefined && who.type === party.type;
}

function applies(c: ConsentTerms, q: ReleaseQuestion): boolean {
  return (
    c.status === 'active' &&
    c.category === q.category &&
    c.period.start <= q.at &&
    (c.period.end === undefined || q.at < c.period.end) &&
    (c.revokedAt === undefined || q.at < c.revokedAt) &&
    actorMatches(c, q)
  );
}

/**
 * The closed question (Mitz): may `holder` release this patient's `category` data to `requester` now? Deny wins over
 * permit, whichever was recorded later, and no applicable consent means no. The answer names the consent (its row) it rests
 * on, so both sides can log the grounds.
 */
export function decideRelease(consents: readonly ConsentTerms[], q: ReleaseQuestion): ReleaseDecision {
  let permit: ConsentTerms | undefined;
  for (const c of consents) {
    if (!applies(c, q)) continue;
    if (c.decision === 'deny') return { decision: 'deny', consentRow: c.row, reason: 'denied' };
    permit ??= c;
  }
  return permit !== undefined
    ? { decision: 'permit', consentRow: permit.row }
    : { decision: 'deny', reason: 'no-consent' };
}
