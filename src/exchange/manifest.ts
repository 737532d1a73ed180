import { z } from 'zod';

export const uid = z
  .string()
  .regex(/^(0|[1-9]\d*)(\.(0|[1-9]\d*))*$/, 'a DICOM UID')
  .max(64);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');

/** Why a study moves. `retrieval`: the receiver asked its source for it from the timeline, under the patient's consent. */
export const Purpose = {
  Transfer: 'transfer',
  Consultation: 'consultation',
  Internal: 'internal',
  Retrieval: 'retrieval',
} as const;
export type Purpose = (typeof Purpose)[keyof typeof Purpose];

/** The manifest a sender posts to open a transfer (docs/exchange-protocol.md, step 1). Validated at the edge. */
export const manifestSchema = z.strictObject({
  transferId: z.uuid(),
  purpose: z.enum([Purpose.Transfer, Purpose.Consultation, Purpose.Internal, Purpose.Retrieval]),
  urgency: z.enum(['routine', 'urgent']),
  reason: z.string().max(4000).default(''),
  sender: z.strictObject({
    user: z.strictObject({
      id: z.string().min(1).max(64),
      name: z.string().min(1).max(200),
      roleCode: z.string().max(16).optional(),
    }),
  }),
  consentReference: z.string().min(1).max(256).optional(),
  exclude: z.array(z.enum(['presentation-states', 'key-objects', 'reports'])).default([]),
  patient: z.strictObject({
    bsn: z
      .string()
      .regex(/^\d{9}$/)
      .optional(),
    patientId: z.string().max(64),
    issuerOfPatientId: z.string().max(64).optional(),
    name: z.string().max(200).optional(),
    birthDate: z
      .string()
      .regex(/^\d{8}$/)
      .optional(),
    sex: z.enum(['M', 'F', 'O']).optional(),
  }),
  study: z.strictObject({
    studyInstanceUid: uid,
    studyDate: z
      .string()
      .regex(/^\d{8}$/)
      .optional(),
    description: z.string().max(200).optional(),
    accessionNumber: z.string().max(16).optional(),
  }),
  instances: z
    .array(
      z.strictObject({
        sopInstanceUid: uid,
        sopClassUid: uid,
        seriesInstanceUid: uid,
        transferSyntaxUid: uid,
        size: z.number().int().positive(),
        sha256,
      }),
    )
    .min(1)
    .max(100_000),
});

export type Manifest = z.output<typeof manifestSchema>;

/** Parses a manifest; an invalid one gives the first few problems with the field named. */
export function parseManifest(body: unknown): { ok: true; manifest: Manifest } | { ok: false; problems: string[] } {
  const r = manifestSchema.safeParse(body);
  if (r.success) {
    const uids = new Set(r.data.instances.map((i) => i.sopInstanceUid));
    if (uids.size !== r.data.instances.length)
      return { ok: false, problems: ['instances: a SOP Instance UID is listed twice'] };
    return { ok: true, manifest: r.data };
  }
  return {
    ok: false,
    problems: r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`),
  };
}
