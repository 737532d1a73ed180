import { randomUUID, type X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { organizationOf, signJws, verifyJws } from '../auth/index.ts';

/**
 * What a requesting node tells a source about a timeline question: the BSN, and who asks (practitioner id, name, role
 * code, organization; or, where no person is known, the requesting hospital's system, such as its PACS querying the
 * node's external AE title), signed with the requesting node's key so that the source's audit trail can name who
 * asked and prove who vouched for it. Nothing else about the patient travels: no name, no birth date.
 */
export const TIMELINE_REQUEST_TYPE = 'beeldbrug-timeline-request+jwt';

/** How long a signed request stays valid: long enough for a slow link, too short to replay later. */
const LIFETIME_MS = 120_000;

export const requester = z.strictObject({
  practitionerId: z.string().min(1).max(64).describe('the user id at the requesting hospital (e.g. UZI number)'),
  name: z.string().min(1).max(200),
  roleCode: z.string().regex(/^[0-9A-Za-z.]{1,16}$/, 'a UZI role code such as 01.015 (radiologist)'),
});
export type Requester = z.output<typeof requester>;

/** A system of the requesting hospital that asked without a person known to the node (its PACS, by AE title). */
export const requestingSystem = z.strictObject({
  id: z.string().min(1).max(80).describe('e.g. dicom:PACS_A'),
  name: z.string().min(1).max(200),
});
export type RequestingSystem = z.output<typeof requestingSystem>;

const claims = z
  .strictObject({
    bsn: z.string().regex(/^\d{9}$/),
    requester: requester.optional(),
    system: requestingSystem.optional(),
    organization: z.strictObject({ ura: z.string().regex(/^\d{8}$/), name: z.string().min(1).max(200) }),
    purpose: z.literal('treatment'),
    /** For a list: whether report texts are wanted. */
    includeReports: z.boolean().default(false),
    /** For a retrieval: the study to send. */
    studyInstanceUid: z
      .string()
      .regex(/^[0-9.]{1,64}$/)
      .optional(),
    iat: z.number().int(),
    exp: z.number().int(),
    jti: z.uuid(),
  })
  .refine((c) => c.requester !== undefined || c.system !== undefined, 'a request names a person or a system who asks');
export type TimelineClaims = z.output<typeof claims>;

export function signTimelineRequest(
  c: {
    bsn: string;
    requester: Requester | undefined;
    system?: RequestingSystem | undefined;
    organization: { ura: string; name: string };
    includeReports?: boolean;
    studyInstanceUid?: string;
  },
  node: { keyPem: string | Buffer; certPem: string | Buffer },
  now = Date.now(),
): Promise<string> {
  const body: TimelineClaims = {
    bsn: c.bsn,
    ...(c.requester !== undefined ? { requester: c.requester } : {}),
    ...(c.system !== undefined ? { system: c.system } : {}),
    organization: c.organization,
    purpose: 'treatment',
    includeReports: c.includeReports ?? false,
    ...(c.studyInstanceUid !== undefined ? { studyInstanceUid: c.studyInstanceUid } : {}),
    iat: Math.floor(now / 1000),
    exp: Math.floor((now + LIFETIME_MS) / 1000),
    jti: randomUUID(),
  };
  return signJws(body, TIMELINE_REQUEST_TYPE, node);
}

export type CheckedRequest =
  { ok: true; claims: TimelineClaims; signer: X509Certificate } | { ok: false; reason: string };

/**
 * Checks a signed request on the source side: signed by a certificate of the network CA, by the same organization the
 * TLS connection authenticated (a node cannot vouch for another's staff), and not expired.
 */
export async function checkTimelineRequest(
  jws: unknown,
  callerUra: string,
  caPem: string | Buffer,
  now = Date.now(),
): Promise<CheckedRequest> {
  if (typeof jws !== 'string' || jws.length > 16_384) return { ok: false, reason: 'no signed request' };
  const verified = await verifyJws(jws, TIMELINE_REQUEST_TYPE, caPem);
  if (!verified.ok) return verified;
  const parsed = claims.safeParse(verified.claims);
  if (!parsed.success)
    return { ok: false, reason: `the claims do not have the expected shape: ${parsed.error.issues[0]?.message ?? ''}` };
  const signerUra = organizationOf(verified.signer)?.ura;
  if (signerUra !== callerUra || parsed.data.organization.ura !== callerUra) {
    return {
      ok: false,
      reason: `the request is signed for URA ${signerUra ?? 'none'} / ${parsed.data.organization.ura}, the caller is URA ${callerUra}`,
    };
  }
  const seconds = now / 1000;
  if (parsed.data.exp < seconds || parsed.data.iat > seconds + 60)
    return { ok: false, reason: 'the signed request has expired or is from the future' };
  return { ok: true, claims: parsed.data, signer: verified.signer };
}
