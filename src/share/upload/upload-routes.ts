import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { BeeldbrugError } from '../../errors/index.ts';
import { type HttpsApp, PERSON_ROUTES, type RouteAccess } from '../../http/index.ts';
import { isValidBsn } from '../../patient/index.ts';
import { docUnder, parsed, partnerActing, personActing } from '../route-parts.ts';
import type { Shares } from '../shares.ts';
import type { PacsImport, Quarantine, QuarantineView, ReviewActor, UploadActor } from './quarantine.ts';
import type { Upload } from './upload-store.ts';

/** The tus version the node speaks (tus.io resumable upload protocol 1.0.0, core and creation). */
const TUS_VERSION = '1.0.0';
const TUS_CONTENT_TYPE = 'application/offset+octet-stream';

const recipientDoc = docUnder('share recipients');
const partnerDoc = docUnder('partner folders');
const staffDoc = docUnder('quarantine');

const importSchema = z.strictObject({
  /** The BSN of the local patient the study is filed under: the uploaded one once a person checked it, or another. */
  bsn: z.string().refine(isValidBsn, 'a BSN: nine digits that pass the elfproef'),
  destination: z.string().min(1).max(16).optional(),
});
const rejectSchema = z.strictObject({ reason: z.string().trim().min(1).max(1000) });

/** tus Upload-Metadata: comma-separated "key base64value" pairs. */
function metadataOf(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (header ?? '').split(',')) {
    const [key, value] = pair.trim().split(' ');
    if (key !== undefined && key !== '') out[key] = Buffer.from(value ?? '', 'base64').toString('utf8');
  }
  return out;
}

/** A number header of tus (Upload-Length, Upload-Offset): digits only. */
function tusNumber(req: FastifyRequest, name: string): number {
  const v = req.headers[name];
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v))
    throw new BeeldbrugError('REQUEST_INVALID', `the ${name} header is missing or not a number`);
  return Number(v);
}

/** A file name as the uploader's page shows it back: the last part of the path, printable, not too long. */
const fileNameOf = (raw: string | undefined): string =>
  (raw ?? 'upload')
    .split(/[\\/]/)
    .pop()!
    .replace(/[^\p{L}\p{N} ._()-]/gu, '_')
    .slice(0, 200) || 'upload';

export interface UploadRouteDeps {
  shares: Shares;
  quarantine: Quarantine;
  node: string;
  /** The PACS an accepted upload goes into (a named one, or the routing rules' forward destination). */
  pacsFor: (destination: string | undefined) => PacsImport | undefined;
}

/**
 * Uploads by a share's recipient, resumable by the tus protocol (POST creates, HEAD says how far, PATCH appends),
 * under /share/v1/uploads; and the quarantine as staff review it (/api/v1/quarantine): list, import into the PACS
 * under a BSN, or reject.
 */
export function registerUploadRoutes(app: HttpsApp, d: UploadRouteDeps): void {
  // The body of a PATCH is the file's bytes, streamed into the incoming file as they come.
  app.addContentTypeParser(TUS_CONTENT_TYPE, (_req, _payload, done) => done(null, undefined));

  const recipientUploader = (req: FastifyRequest): Promise<UploadActor> => {
    if (req.recipient === undefined)
      throw new BeeldbrugError('INTERNAL', 'a share-recipient route ran without its session');
    return d.shares.uploader(req.recipient.shareId, { ip: req.ip });
  };
  const reviewer = (req: FastifyRequest): ReviewActor => personActing(req, d.node, 'import');

  // The same resumable uploads for a share's recipient (link and code) and for a partner (its account, with two
  // factors); each sees only its own uploads.
  const tusRoutes: readonly [
    string,
    RouteAccess,
    (req: FastifyRequest) => Promise<UploadActor>,
    typeof recipientDoc,
  ][] = [
    ['/share/v1/uploads', 'share-recipient', recipientUploader, recipientDoc],
    [
      '/partner/v1/uploads',
      PERSON_ROUTES.partner,
      async (req) => d.shares.partnerUploader(partnerActing(req)),
      partnerDoc,
    ],
  ];
  for (const [base, access, uploader, doc] of tusRoutes) {
    app.post(
      base,
      {
        config: {
          access,
          doc: doc('Start an upload (tus creation: Upload-Length, Upload-Metadata filename)', {
            errors: ['UPLOAD_TOO_LARGE', 'ACCESS_DENIED'],
          }),
        },
      },
      async (req, reply) => {
        const by = await uploader(req);
        const size = tusNumber(req, 'upload-length');
        const upload = await d.quarantine.create(by, {
          fileName: fileNameOf(metadataOf(req.headers['upload-metadata'] as string | undefined)['filename']),
          size,
        });
        return reply
          .code(201)
          .header('tus-resumable', TUS_VERSION)
          .header('location', `${base}/${upload.uploadId}`)
          .header('upload-offset', '0')
          .send();
      },
    );

    app.head<{ Params: { uploadId: string } }>(
      `${base}/:uploadId`,
      {
        config: {
          access,
          doc: doc('How far an upload has come (tus: Upload-Offset), to resume from there'),
        },
      },
      async (req, reply) => {
        const { upload, offset } = await d.quarantine.progress(await uploader(req), req.params.uploadId);
        return reply
          .header('tus-resumable', TUS_VERSION)
          .header('upload-offset', String(offset))
          .header('upload-length', String(upload.size))
          .header('cache-control', 'no-store')
          .send();
      },
    );

    app.patch<{ Params: { uploadId: string } }>(
      `${base}/:uploadId`,
      {
        config: {
          access,
          doc: doc('Send the next bytes of an upload (tus: Upload-Offset, application/offset+octet-stream)', {
            errors: ['UPLOAD_OFFSET_CONFLICT', 'NOT_FOUND'],
          }),
        },
      },
      async (req, reply) => {
        if (req.headers['content-type'] !== TUS_CONTENT_TYPE)
          throw new BeeldbrugError('REQUEST_INVALID', `a PATCH of an upload has Content-Type ${TUS_CONTENT_TYPE}`);
        const offset = tusNumber(req, 'upload-offset');
        const { offset: now } = await d.quarantine.append(await uploader(req), req.params.uploadId, offset, req.raw);
        return reply.code(204).header('tus-resumable', TUS_VERSION).header('upload-offset', String(now)).send();
      },
    );

    app.get(
      base,
      {
        config: {
          access,
          doc: doc("The uploader's uploads, newest first, with what came of each file"),
        },
      },
      async (req): Promise<{ uploads: Upload[]; maxUploadBytes: number }> => ({
        uploads: await d.quarantine.uploadsOf(await uploader(req)),
        maxUploadBytes: d.quarantine.maxUploadBytes,
      }),
    );
  }

  app.get(
    '/api/v1/quarantine',
    {
      config: {
        access: PERSON_ROUTES.inbox,
        doc: staffDoc('Uploaded studies waiting for review: as uploaded, by whom, and when'),
      },
    },
    async (req): Promise<{ studies: QuarantineView[] }> => ({ studies: await d.quarantine.held(reviewer(req)) }),
  );

  app.post<{ Params: { studyInstanceUid: string } }>(
    '/api/v1/quarantine/:studyInstanceUid/import',
    {
      config: {
        access: PERSON_ROUTES.accept,
        doc: staffDoc('Import an uploaded study into the PACS, filed under the local patient with this BSN', {
          body: importSchema,
          errors: ['NOT_FOUND', 'PACS_NOT_CONFIGURED'],
        }),
      },
    },
    async (req, reply) => {
      const b = parsed(importSchema, req.body);
      const decision = await d.quarantine.import(
        reviewer(req),
        req.params.studyInstanceUid,
        { bsn: b.bsn },
        d.pacsFor(b.destination),
      );
      return reply.code(202).send({ state: 'importing', decision });
    },
  );

  app.post<{ Params: { studyInstanceUid: string } }>(
    '/api/v1/quarantine/:studyInstanceUid/reject',
    {
      config: {
        access: PERSON_ROUTES.accept,
        doc: staffDoc('Reject an uploaded study: its copy is removed, the reason kept', {
          body: rejectSchema,
          errors: ['NOT_FOUND'],
        }),
      },
    },
    async (req) => {
      await d.quarantine.reject(reviewer(req), req.params.studyInstanceUid, parsed(rejectSchema, req.body).reason);
      return { state: 'rejected' };
    },
  );
}
