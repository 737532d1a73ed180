/**
 * The registry's FHIR R4 surface. Localization is shaped after the national referral index (NVI): a node registers a
 * DocumentReference per patient (pseudonym as subject identifier, its own URA as custodian, the data category), and a
 * search by subject returns the organizations (IHE MHD ITI-65/ITI-67 in spirit, without documents). Consent is a FHIR
 * Consent. Only the subset we act on is validated; other FHIR elements a client sends are accepted and ignored.
 */
import { z } from 'zod';
import type { ErrorCode } from '../errors/index.ts';
import { PSEUDONYM_SYSTEM, isPseudonym } from './pseudonym.ts';
import {
  type ConsentRecord,
  DATA_CATEGORIES,
  type DataCategory,
  type Location,
  type NewConsent,
  ORGANIZATION_TYPES,
  type OrganizationType,
} from './types.ts';

export const URA_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/ura';
/** Vektis organization type list (AGB); the codes Mitz uses for "type of care provider". */
export const ORGANIZATION_TYPE_SYSTEM = 'urn:oid:2.16.840.1.113883.2.4.15.1060';
export const DATA_CATEGORY_SYSTEM = 'urn:beeldbrug:data-category';
export const CONSENT_CHANNEL_URL = 'urn:beeldbrug:fhir:consent-channel';
const PARTICIPATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';

const organizationTypeCode: Record<OrganizationType, string> = {
  hospital: 'V4',
  'general-practice': 'Z3',
  pharmacy: 'J8',
};
const organizationTypeOfCode = new Map(
  Object.entries(organizationTypeCode).map(([k, v]) => [v, k as OrganizationType]),
);
const roleCode = { holder: 'CST', recipient: 'IRCP' } as const;

const pseudonymIdentifier = z.strictObject({
  system: z.literal(PSEUDONYM_SYSTEM, {
    error: `the subject is identified by a BSN pseudonym (system ${PSEUDONYM_SYSTEM}), never by a BSN`,
  }),
  value: z.string().refine(isPseudonym, 'a pseudonym is 43 characters of base64url'),
});
const uraIdentifier = z.strictObject({
  system: z.literal(URA_SYSTEM),
  value: z.string().regex(/^\d{8}$/, 'a URA number is 8 digits'),
});
const categoryCoding = z.looseObject({ system: z.literal(DATA_CATEGORY_SYSTEM), code: z.enum(DATA_CATEGORIES) });
const instant = z.iso.datetime({ offset: true });

const documentReferenceIn = z.looseObject({
  resourceType: z.literal('DocumentReference'),
  status: z.literal('current').default('current'),
  subject: z.looseObject({ identifier: pseudonymIdentifier }),
  custodian: z.looseObject({ identifier: uraIdentifier }),
  category: z.array(z.looseObject({ coding: z.array(categoryCoding).length(1) })).length(1),
});

export interface LocationEntry {
  pseudonym: Buffer;
  ura: string;
  category: DataCategory;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; issues: string[] };

function issuesOf(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.join('.') || '(resource)'}: ${i.message}`);
}

export function locationFromFhir(body: unknown): Parsed<LocationEntry> {
  const r = documentReferenceIn.safeParse(body);
  if (!r.success) return { ok: false, issues: issuesOf(r.error) };
  const category = r.data.category[0]?.coding[0]?.code ?? 'imaging';
  return {
    ok: true,
    value: {
      pseudonym: Buffer.from(r.data.subject.identifier.value, 'base64url'),
      ura: r.data.custodian.identifier.value,
      category,
    },
  };
}

export function locationToFhir(pseudonym: Buffer, l: Location, organizationName: string | undefined): object {
  return {
    resourceType: 'DocumentReference',
    id: `${l.ura}-${l.category}-${pseudonym.toString('base64url').slice(0, 12)}`,
    status: 'current',
    subject: { identifier: { system: PSEUDONYM_SYSTEM, value: pseudonym.toString('base64url') } },
    custodian: {
      identifier: { system: URA_SYSTEM, value: l.ura },
      ...(organizationName !== undefined ? { display: organizationName } : {}),
    },
    category: [{ coding: [{ system: DATA_CATEGORY_SYSTEM, code: l.category }] }],
    date: new Date(l.registeredAt).toISOString(),
  };
}

/** A FHIR transaction/batch Bundle of localizations: POST entries register, DELETE entries (with the resource) remove. */
const bundleIn = z.looseObject({
  resourceType: z.literal('Bundle'),
  type: z.enum(['transaction', 'batch']),
  entry: z
    .array(z.looseObject({ resource: z.unknown(), request: z.looseObject({ method: z.enum(['POST', 'DELETE']) }) }))
    .max(10_000, 'at most 10,000 entries per bundle'),
});

export function locationBundleFromFhir(body: unknown): Parsed<{ add: LocationEntry[]; remove: LocationEntry[] }> {
  const r = bundleIn.safeParse(body);
  if (!r.success) return { ok: false, issues: issuesOf(r.error) };
  const add: LocationEntry[] = [];
  const remove: LocationEntry[] = [];
  const issues: string[] = [];
  for (const [i, e] of r.data.entry.entries()) {
    const l = locationFromFhir(e.resource);
    if (!l.ok) issues.push(...l.issues.map((m) => `entry.${i}.resource.${m}`));
    else (e.request.method === 'POST' ? add : remove).push(l.value);
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, value: { add, remove } };
}

const actorIn = z.looseObject({
  role: z.looseObject({
    coding: z
      .array(z.looseObject({ system: z.literal(PARTICIPATION_SYSTEM), code: z.enum(['CST', 'IRCP']) }))
      .length(1),
  }),
  reference: z.looseObject({
    identifier: z.union([
      uraIdentifier,
      z.strictObject({
        system: z.literal(ORGANIZATION_TYPE_SYSTEM),
        value: z.enum(Object.values(organizationTypeCode) as [string, ...string[]]),
      }),
    ]),
  }),
});

const consentIn = z.looseObject({
  resourceType: z.literal('Consent'),
  status: z.literal('active', { error: 'a new consent is active; revoke with $revoke' }).default('active'),
  patient: z.looseObject({ identifier: pseudonymIdentifier }),
  performer: z
    .array(
      z.looseObject({
        identifier: z.looseObject({ value: z.string().min(1).max(64) }).optional(),
        display: z.string().min(1).max(200),
      }),
    )
    .length(1, 'one performer: who recorded the consent (the patient, or a person at the care provider)'),
  // The channel is the client's role (its certificate and the registry's configuration); a request may still name it,
  // and a name that is not its own is refused rather than silently replaced.
  extension: z
    .array(z.looseObject({ url: z.string(), valueCode: z.string().optional() }))
    .default([])
    .refine(
      (e) =>
        e.every(
          (x) => x.url !== CONSENT_CHANNEL_URL || x.valueCode === 'patient-portal' || x.valueCode === 'care-provider',
        ),
      {
        message: `an extension ${CONSENT_CHANNEL_URL} has valueCode patient-portal or care-provider`,
      },
    ),
  provision: z.looseObject({
    type: z.enum(['permit', 'deny']),
    period: z.looseObject({ start: instant.optional(), end: instant.optional() }).optional(),
    actor: z.array(actorIn).length(1, 'one actor: an organization (URA) or an organization type'),
    code: z.array(z.looseObject({ coding: z.array(categoryCoding).length(1) })).length(1, 'one data category'),
  }),
});

/** Who records a consent: the calling client, from its certificate and role. */
export interface Recorder {
  ura: string;
  subject: string;
  channel: NewConsent['channel'];
}

/**
 * A FHIR Consent as the registry records it; the recording organization and the channel are the caller's, from its
 * certificate. `claimedChannel` is the channel the resource names, if any, for the caller to check.
 */
export function consentFromFhir(
  body: unknown,
  recorder: Recorder,
  now: number,
): Parsed<{ consent: NewConsent; claimedChannel: NewConsent['channel'] | undefined }> {
  const r = consentIn.safeParse(body);
  if (!r.success) return { ok: false, issues: issuesOf(r.error) };
  const c = r.data;
  const actor = c.provision.actor[0];
  const category = c.provision.code[0]?.coding[0]?.code;
  const performer = c.performer[0];
  if (actor === undefined || category === undefined || performer === undefined)
    return { ok: false, issues: ['provision: incomplete'] };
  const id = actor.reference.identifier;
  const organization =
    id.system === URA_SYSTEM ? { ura: id.value } : { type: organizationTypeOfCode.get(id.value) as OrganizationType };
  const start = c.provision.period?.start !== undefined ? Date.parse(c.provision.period.start) : now;
  const end = c.provision.period?.end !== undefined ? Date.parse(c.provision.period.end) : undefined;
  if (end !== undefined && end <= start)
    return { ok: false, issues: ['provision.period: the end is not after the start'] };
  const claimedChannel = c.extension.find((x) => x.url === CONSENT_CHANNEL_URL)?.valueCode as
    NewConsent['channel'] | undefined;
  return {
    ok: true,
    value: {
      consent: {
        pseudonym: Buffer.from(c.patient.identifier.value, 'base64url'),
        decision: c.provision.type,
        category,
        actor: { role: actor.role.coding[0]?.code === 'IRCP' ? 'recipient' : 'holder', organization },
        period: { start, ...(end !== undefined ? { end } : {}) },
        recordedAt: now,
        recordedBy: {
          ura: recorder.ura,
          id: performer.identifier?.value ?? '',
          name: performer.display,
          subject: recorder.subject,
        },
        channel: recorder.channel,
      },
      claimedChannel,
    },
  };
}

export function consentToFhir(c: ConsentRecord): object {
  const who = c.actor.organization;
  return {
    resourceType: 'Consent',
    id: c.id,
    meta: { lastUpdated: new Date(c.revokedAt ?? c.recordedAt).toISOString() },
    extension: [{ url: CONSENT_CHANNEL_URL, valueCode: c.channel }],
    status: c.status,
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }] }],
    patient: { identifier: { system: PSEUDONYM_SYSTEM, value: c.pseudonym.toString('base64url') } },
    dateTime: new Date(c.recordedAt).toISOString(),
    performer: [
      { ...(c.recordedBy.id !== '' ? { identifier: { value: c.recordedBy.id } } : {}), display: c.recordedBy.name },
    ],
    organization: [{ identifier: { system: URA_SYSTEM, value: c.recordedBy.ura } }],
    provision: {
      type: c.decision,
      period: {
        start: new Date(c.period.start).toISOString(),
        ...(c.period.end !== undefined ? { end: new Date(c.period.end).toISOString() } : {}),
      },
      actor: [
        {
          role: { coding: [{ system: PARTICIPATION_SYSTEM, code: roleCode[c.actor.role] }] },
          reference: {
            identifier:
              'ura' in who
                ? { system: URA_SYSTEM, value: who.ura }
                : { system: ORGANIZATION_TYPE_SYSTEM, value: organizationTypeCode[who.type] },
          },
        },
      ],
      code: [{ coding: [{ system: DATA_CATEGORY_SYSTEM, code: c.category }] }],
    },
  };
}

export function searchset(resources: readonly object[]): object {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    entry: resources.map((resource) => ({ resource })),
  };
}

/** Where an OperationOutcome names the error's stable code from the catalog (src/errors/catalog.ts). */
export const ERROR_CODE_SYSTEM = 'urn:beeldbrug:error';

export function operationOutcome(
  code: 'invalid' | 'forbidden' | 'not-found' | 'throttled' | 'conflict',
  diagnostics: readonly string[],
  errorCode?: ErrorCode,
): object {
  const details =
    errorCode !== undefined ? { details: { coding: [{ system: ERROR_CODE_SYSTEM, code: errorCode }] } } : {};
  return {
    resourceType: 'OperationOutcome',
    issue: diagnostics.map((d) => ({ severity: 'error', code, ...details, diagnostics: d })),
  };
}

export { ORGANIZATION_TYPES };
