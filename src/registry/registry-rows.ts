import { randomBytes } from 'node:crypto';
import type {
  ChangedBy,
  ConsentChange,
  ConsentRecord,
  ConsentTerms,
  ConsentTermsChange,
  DataCategory,
  Location,
  NewConsent,
  OrganizationType,
} from './types.ts';

/** The registry's rows as both its databases return them, and the records they stand for. */

/** A consent id: 128 random bits, base64url (22 characters). */
export function newConsentId(): string {
  return randomBytes(16).toString('base64url');
}

export interface ConsentRow {
  id: number;
  pseudonym: Uint8Array;
  status: string;
  decision: string;
  category: string;
  actor_role: string;
  actor_ura: string | null;
  actor_type: string | null;
  period_start: number;
  period_end: number | null;
  recorded_at: number;
  recorded_by_ura: string;
  recorded_by_id: string;
  recorded_by_name: string;
  channel: string;
  revoked_at: number | null;
  public_id: string;
  recorded_by_subject: string | null;
}

export interface ChangeRow {
  change: string;
  at: number;
  client_ura: string;
  client_subject: string;
  channel: string;
  performer_id: string;
  performer_name: string;
  terms: string;
}

/** The columns a release decision reads; the hot path selects only these. */
export const TERMS_COLUMNS =
  'id, status, decision, category, actor_role, actor_ura, actor_type, period_start, period_end, revoked_at';
export type TermsRow = Pick<
  ConsentRow,
  | 'id'
  | 'status'
  | 'decision'
  | 'category'
  | 'actor_role'
  | 'actor_ura'
  | 'actor_type'
  | 'period_start'
  | 'period_end'
  | 'revoked_at'
>;

export function termsOf(r: TermsRow): ConsentTerms {
  return {
    row: r.id,
    status: r.status as ConsentRecord['status'],
    decision: r.decision as ConsentRecord['decision'],
    category: r.category as DataCategory,
    actor: {
      role: r.actor_role as ConsentRecord['actor']['role'],
      organization: r.actor_ura !== null ? { ura: r.actor_ura } : { type: r.actor_type as OrganizationType },
    },
    period: { start: r.period_start, ...(r.period_end !== null ? { end: r.period_end } : {}) },
    ...(r.revoked_at !== null ? { revokedAt: r.revoked_at } : {}),
  };
}

export function consentOf(r: ConsentRow): ConsentRecord {
  return {
    id: r.public_id,
    ...termsOf(r),
    pseudonym: Buffer.from(r.pseudonym),
    recordedAt: r.recorded_at,
    recordedBy: {
      ura: r.recorded_by_ura,
      id: r.recorded_by_id,
      name: r.recorded_by_name,
      ...(r.recorded_by_subject !== null ? { subject: r.recorded_by_subject } : {}),
    },
    channel: r.channel as ConsentRecord['channel'],
  };
}

export function consentParams(c: NewConsent): (string | number | Buffer | null)[] {
  const who = c.actor.organization;
  return [
    newConsentId(),
    c.pseudonym,
    c.decision,
    c.category,
    c.actor.role,
    'ura' in who ? who.ura : null,
    'type' in who ? who.type : null,
    c.period.start,
    c.period.end ?? null,
    c.recordedAt,
    c.recordedBy.ura,
    c.recordedBy.id,
    c.recordedBy.name,
    c.recordedBy.subject ?? null,
    c.channel,
  ];
}

export function termsParams(t: ConsentTermsChange): (string | number | null)[] {
  const who = t.actor.organization;
  return [
    t.decision,
    t.category,
    t.actor.role,
    'ura' in who ? who.ura : null,
    'type' in who ? who.type : null,
    t.period.start,
    t.period.end ?? null,
  ];
}

export function changedTerms(c: ConsentRecord): string {
  return JSON.stringify({
    status: c.status,
    decision: c.decision,
    category: c.category,
    actor: c.actor,
    period: c.period,
  });
}

export function changeOf(r: ChangeRow): ConsentChange {
  return {
    change: r.change as ConsentChange['change'],
    at: r.at,
    by: {
      ura: r.client_ura,
      subject: r.client_subject,
      channel: r.channel as ConsentRecord['channel'],
      performer: { id: r.performer_id, name: r.performer_name },
    },
    terms: JSON.parse(r.terms) as ConsentChange['terms'],
  };
}

/** Whoever records a consent is the first entry of its history. */
export function creatorOf(c: NewConsent): ChangedBy {
  return {
    ura: c.recordedBy.ura,
    subject: c.recordedBy.subject ?? '',
    channel: c.channel,
    performer: { id: c.recordedBy.id, name: c.recordedBy.name },
  };
}

/** The parameters of one consent_changes row after its consent's row (and the sequence, which each database finds). */
export function changeParams(
  change: ConsentChange['change'],
  c: ConsentRecord,
  by: ChangedBy,
  at: number,
): (string | number)[] {
  return [change, at, by.ura, by.subject, by.channel, by.performer.id, by.performer.name, changedTerms(c)];
}

export interface LocationRow {
  ura: string;
  category: string;
  registered_at: number;
}

export function locationOf(r: LocationRow): Location {
  return { ura: r.ura, category: r.category as DataCategory, registeredAt: r.registered_at };
}
