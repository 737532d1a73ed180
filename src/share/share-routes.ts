import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { BeeldbrugError } from '../errors/index.ts';
import { type HttpsApp, PERSON_ROUTES, RECIPIENT_COOKIE, recipientTokenOf } from '../http/index.ts';
import type { PatientData } from '../studies/index.ts';
import { docUnder, parsed, partnerActing, personActing, sendZip } from './route-parts.ts';
import { shareZip } from './share-zip.ts';
import { registerShareViewRoutes } from './share-view-routes.ts';
import { PARTNER_VIEW_ROOT, RECIPIENT_VIEW_ROOT } from './view-roots.ts';
import { partnerFileName, type ShareActor, type Shares } from './shares.ts';

const uid = z
  .string()
  .regex(/^[0-9]+(\.[0-9]+)*$/, 'a DICOM UID')
  .max(64);

/**
 * A mobile number as people type it ("06 1234 5678", "+31 6 12345678", "0031612345678"), as E.164: +31612345678. A
 * Dutch number must be a mobile one (06): a code sent to a landline never arrives.
 */
export function mobileNumber(typed: string): string | undefined {
  const digits = typed.replace(/[\s().-]/g, '');
  const international = digits.startsWith('00') ? `+${digits.slice(2)}` : digits;
  const e164 = international.startsWith('0') ? `+31${international.slice(1)}` : international;
  if (!/^\+[1-9]\d{7,14}$/.test(e164)) return undefined;
  if (e164.startsWith('+31') && !/^\+316\d{8}$/.test(e164)) return undefined;
  return e164;
}

const recipientSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  email: z.email().max(254),
  mobile: z
    .string()
    .max(32)
    .transform((m, ctx) => {
      const e164 = mobileNumber(m);
      if (e164 === undefined)
        ctx.addIssue({ code: 'custom', message: 'a mobile number: 06 12345678, or +44 7700 900123 abroad' });
      return e164 ?? '';
    }),
  isPatient: z.boolean().default(false),
});

/** The PS3.15 E.3 options a sender may pick for a de-identified share; absent, the share goes as it is. */
const deidentifySchema = z.strictObject({
  retainLongitudinalDates: z.boolean().default(false),
  retainDeviceIdentity: z.boolean().default(false),
  cleanDescriptors: z.boolean().default(false),
});

const createSchema = z
  .strictObject({
    /** Empty only for an upload request (upload: true). */
    studyInstanceUids: z.array(uid).max(20),
    /** A person, by e-mail and mobile number; or a partner account, by its user name. */
    recipient: recipientSchema.optional(),
    partner: z.string().min(1).max(64).optional(),
    upload: z.boolean().optional(),
    validDays: z.number().int().min(1).max(30).optional(),
    deidentify: deidentifySchema.optional(),
  })
  .refine((b) => (b.recipient === undefined) !== (b.partner === undefined), {
    message: 'a share goes to a recipient (name, e-mail, mobile) or to a partner account, one of the two',
  });

/** A link token as the e-mail carries it (43 characters of base64url); anything else is simply not a link of ours. */
const linkSchema = z.strictObject({ token: z.string().min(1).max(100) });
const codeSchema = z.strictObject({ token: z.string().min(1).max(100), code: z.string().trim().min(1).max(12) });

/** What a share's recipient sees once link and code opened it (GET /share/v1/studies). */
export interface RecipientView {
  hospital: string;
  disclaimer: string;
  recipient: string;
  expiresAt: string;
  /** De-identified: the studies show no name, birth date or description, and dates only where the sender kept them. */
  deidentified: boolean;
  /** Shared with the patient themselves: they may see who accessed their data (GET /share/v1/access-history). */
  accessHistory: boolean;
  /** The recipient may upload files (POST /share/v1/uploads, tus). */
  upload: boolean;
  studies: {
    studyInstanceUid: string;
    patientName: string | null;
    birthDate: string | null;
    studyDate: string | null;
    description: string | null;
    modalities: string[];
    instances: number;
    bytes: number;
  }[];
}

export interface ShareRouteDeps {
  shares: Shares;
  patientData: PatientData;
  node: string;
  hospital: string;
  disclaimer: string;
  /** The offline viewer page that goes into each zip, when the web app is built. */
  offlineViewer?: string | undefined;
  /** An enabled partner account by user name: where a share to a partner goes. */
  partnerNamed(username: string): Promise<{ id: string; organization: string } | undefined>;
}

const staffDoc = docUnder('shares');
const recipientDoc = docUnder('share recipients');
const partnerDoc = docUnder('partner folders');

/**
 * Shares: staff make, list and revoke them (/api/v1/shares); their recipients open them with the e-mailed link and the
 * code sent by SMS (/share/v1). The recipient's routes answer nothing about the patient before the code.
 */
export function registerShareRoutes(app: HttpsApp, d: ShareRouteDeps): void {
  const zipTexts = { hospital: d.hospital, disclaimer: d.disclaimer, viewer: d.offlineViewer };
  const actor = (req: FastifyRequest): ShareActor => {
    const { grounds, user } = personActing(req, d.node, 'share');
    return { access: d.patientData.open(grounds), user };
  };

  app.post(
    '/api/v1/shares',
    {
      config: {
        access: PERSON_ROUTES.share,
        doc: staffDoc(
          'Share studies of one patient with someone outside the hospital: a link by e-mail, a code by SMS',
          {
            body: createSchema,
            errors: ['NOT_FOUND', 'SHARE_NOT_SENT'],
          },
        ),
      },
    },
    async (req, reply) => {
      const { partner, recipient, ...b } = parsed(createSchema, req.body);
      const account = partner !== undefined ? await d.partnerNamed(partner) : undefined;
      if (partner !== undefined && account === undefined)
        throw new BeeldbrugError('NOT_FOUND', `no enabled partner account ${partner} on this node`);
      const share = await d.shares.create(actor(req), {
        ...b,
        recipient:
          account !== undefined
            ? {
                name: account.organization,
                email: '',
                mobile: '',
                partner: { accountId: account.id, organization: account.organization },
              }
            : recipient!,
      });
      req.log.info({ shareId: share.shareId, studies: share.studies.length }, 'share made; link e-mailed');
      return reply.code(201).send(share);
    },
  );

  app.get(
    '/api/v1/shares',
    { config: { access: PERSON_ROUTES.share, doc: staffDoc('Every share, newest first, with its state') } },
    async (req) => ({ shares: await d.shares.list(actor(req)) }),
  );

  app.post<{ Params: { shareId: string } }>(
    '/api/v1/shares/:shareId/revoke',
    {
      config: {
        access: PERSON_ROUTES.share,
        doc: staffDoc('Withdraw a share: its link and any open session stop at once', { errors: ['NOT_FOUND'] }),
      },
    },
    async (req) => d.shares.revoke(actor(req), req.params.shareId),
  );

  app.post(
    '/share/v1/link',
    {
      config: {
        access: 'share-link',
        doc: recipientDoc('What a link says before its code: the hospital, and whether it still opens', {
          body: linkSchema,
        }),
      },
    },
    async (req) => d.shares.linkStatus(parsed(linkSchema, req.body).token),
  );

  app.post(
    '/share/v1/code',
    {
      config: {
        access: 'share-link',
        doc: recipientDoc("Send a one-time code to the recipient's phone", {
          body: linkSchema,
          errors: ['SHARE_LINK_CLOSED', 'SHARE_RATE_LIMITED', 'SHARE_NOT_SENT'],
        }),
      },
    },
    async (req) => d.shares.sendCode(parsed(linkSchema, req.body).token, { ip: req.ip }),
  );

  app.post(
    '/share/v1/session',
    {
      config: {
        access: 'share-link',
        doc: recipientDoc('Open the share with link and code: a recipient session (cookie beeldbrug_share)', {
          body: codeSchema,
          errors: ['SHARE_LINK_CLOSED', 'SHARE_CODE_WRONG', 'SHARE_RATE_LIMITED'],
        }),
      },
    },
    async (req, reply) => {
      const b = parsed(codeSchema, req.body);
      const opened = await d.shares.openWithCode(b.token, b.code, { ip: req.ip });
      const maxAge = Math.max(1, Math.floor((Date.parse(opened.expiresAt) - Date.now()) / 1000));
      void reply.header(
        'set-cookie',
        `${RECIPIENT_COOKIE}=${opened.session}; Path=/share; Max-Age=${maxAge}; HttpOnly; Secure; SameSite=Strict`,
      );
      return { expiresAt: opened.expiresAt };
    },
  );

  app.delete(
    '/share/v1/session',
    { config: { access: 'share-recipient', doc: recipientDoc('Close the recipient session') } },
    async (req, reply) => {
      const token = recipientTokenOf(req);
      if (token !== undefined) await d.shares.endRecipientSession(token);
      void reply.header(
        'set-cookie',
        `${RECIPIENT_COOKIE}=; Path=/share; Max-Age=0; HttpOnly; Secure; SameSite=Strict`,
      );
      return reply.code(204).send();
    },
  );

  app.get(
    '/share/v1/studies',
    {
      config: {
        access: 'share-recipient',
        doc: recipientDoc('The shared studies, the hospital and its disclaimer (shown before any download)'),
      },
    },
    async (req): Promise<RecipientView> => {
      const { share, studies, deidentifier } = await d.shares.studiesFor(recipientOf(req).shareId, { ip: req.ip });
      const deid = share.deidentify;
      return {
        hospital: d.hospital,
        disclaimer: d.disclaimer,
        recipient: share.recipient.name,
        expiresAt: share.expiresAt,
        deidentified: deid !== null,
        accessHistory: share.recipient.isPatient === true && deid === null && share.patient.bsn !== undefined,
        upload: share.upload,
        studies: studies.map((s) => ({
          // De-identified, the study goes by the share's UID for it, as in its files.
          studyInstanceUid: deidentifier?.uid(s.studyInstanceUid) ?? s.studyInstanceUid,
          patientName: deid === null ? s.patient.name : null,
          birthDate: deid === null ? s.patient.birthDate : null,
          studyDate: deid === null || deid.retainLongitudinalDates ? s.studyDate : null,
          description: deid === null ? s.description : null,
          modalities: s.modalities,
          // De-identified, the reports stay behind: the count is what the zip holds.
          instances: deid === null ? s.instances : s.instances - s.documents,
          bytes: s.bytes,
        })),
      };
    },
  );

  app.get(
    '/share/v1/access-history',
    {
      config: {
        access: 'share-recipient',
        doc: recipientDoc("Who accessed the patient's data on this node, newest first: for the patient only", {
          errors: ['ACCESS_DENIED'],
        }),
      },
    },
    async (req) => ({
      hospital: d.hospital,
      entries: await d.shares.accessHistory(recipientOf(req).shareId, { ip: req.ip }),
    }),
  );

  app.get(
    '/share/v1/download',
    {
      config: {
        access: 'share-recipient',
        doc: recipientDoc(
          'The shared studies as a zip: the DICOM files in the standard media layout with a DICOMDIR, streamed',
          { answers: 'application/zip' },
        ),
      },
    },
    async (req, reply) => {
      const { instances, deidentifier } = await d.shares.download(recipientOf(req).shareId, { ip: req.ip });
      const day = new Date().toISOString().slice(0, 10);
      await sendZip(req, reply, `beelden-${day}.zip`, shareZip(instances, zipTexts, deidentifier));
    },
  );

  app.get(
    '/partner/v1/shares',
    {
      config: {
        access: PERSON_ROUTES.partner,
        doc: partnerDoc("The partner's download folder: the shares made to it that have not ended, newest first"),
      },
    },
    async (req) => ({ shares: await d.shares.partnerShares(partnerActing(req)) }),
  );

  app.get<{ Params: { shareId: string } }>(
    '/partner/v1/shares/:shareId/zip',
    {
      config: {
        access: PERSON_ROUTES.partner,
        doc: partnerDoc('A share in the download folder as a zip (DICOMDIR, reports as PDF), streamed', {
          answers: 'application/zip',
          errors: ['NOT_FOUND'],
        }),
      },
    },
    async (req, reply) => {
      const { share, instances, deidentifier } = await d.shares.partnerDownload(partnerActing(req), req.params.shareId);
      await sendZip(req, reply, partnerFileName(share), shareZip(instances, zipTexts, deidentifier));
    },
  );

  registerShareViewRoutes(app, {
    root: RECIPIENT_VIEW_ROOT,
    access: 'share-recipient',
    tag: 'share recipients',
    opened: (req, study) => d.shares.viewed(recipientOf(req).shareId, { ip: req.ip }, study),
  });
  registerShareViewRoutes(app, {
    root: PARTNER_VIEW_ROOT,
    access: PERSON_ROUTES.partner,
    tag: 'partner folders',
    opened: (req, study) => d.shares.partnerViewed(partnerActing(req), req.params.shareId ?? '', study),
  });
}

function recipientOf(req: FastifyRequest): { shareId: string } {
  if (req.recipient === undefined)
    throw new BeeldbrugError('INTERNAL', 'a share-recipient route ran without its session');
  return req.recipient;
}
