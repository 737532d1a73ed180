import { Readable, type Transform } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createInflate, createZstdDecompress } from 'node:zlib';
import {
  BodyTooLarge,
  limitedBody,
  MultipartError,
  parseMultipartContentType,
  readMultipart,
} from '../dicomweb/index.ts';
import { DicomError, unpackInstanceOffThread } from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { HttpsApp } from '../http/index.ts';
import { receivingAbout, receivingGrounds, verifyFailureAbout } from './audit-events.ts';
import type { PatientData } from '../studies/index.ts';
import type { Inbox, IncomingTransfer } from './inbox.ts';

/**
 * A part holding a packed instance (dicom/packed-instance.ts): a Part 10 file whose uncompressed pixels travel as
 * lossless JPEG-LS frames, restored here byte for byte before it is checked and stored. The transfer's opening answer
 * lists it in `partTypes`, so a sender uses it only with a node that restores it.
 */
export const PACKED_INSTANCE_TYPE = 'application/vnd.beeldbrug.packed-dicom';
/**
 * A packed part is read whole before it is restored, to at most this size: well above what a sender packs today
 * (mayPack: 16 MiB), so a sender that packs larger files later is not refused by this node.
 */
const PACKED_PART_MAX_BYTES = 128 * 1024 * 1024;

export interface UploadRouteDeps {
  inbox: Inbox;
  /** Every stored instance and every record of the upload go through here, in the partner's name. */
  patientData: PatientData;
  node: string;
  maxUploadBytes: number;
  /** Told of each instance stored, in arrival order, e.g. to forward it into the PACS by the routing rules. */
  onStored?: (transfer: IncomingTransfer, sopInstanceUid: string) => Promise<void>;
  /** Told of each instance stored, with how it travelled. */
  onReceived?: (form: 'packed' | 'as-stored') => void;
}

/**
 * The body as sent, decompressed when the sender compressed it on the wire. The size limit counts what comes out of
 * the decompressor, so a small compressed body cannot expand into an unbounded one.
 */
function decoded(req: { raw: Readable; headers: Record<string, string | string[] | undefined> }): Readable | undefined {
  const encoding = String(req.headers['content-encoding'] ?? 'identity')
    .trim()
    .toLowerCase();
  if (encoding === 'identity') return req.raw;
  if (encoding === 'zstd') return decompressed(req.raw, createZstdDecompress());
  if (encoding === 'deflate') return decompressed(req.raw, createInflate());
  return undefined;
}

/**
 * pipe() alone does not pass on a body cut off by a sender that died mid-upload: the decompressor waited for more input
 * for ever, so the instance being stored never aborted, and its temp file and descriptor stayed until the next restart
 * (found by test/node/exchange-kill-transfer.test.ts). Destroying the decompressor ends its reader with a premature
 * close, so the ingest aborts and cleans up. Not pipeline(): that would also destroy the request when the route stops
 * reading (413) and lose the answer.
 */
function decompressed(raw: Readable, decompressor: Transform): Readable {
  const cutOff = (): void => {
    if (!raw.readableEnded) decompressor.destroy();
  };
  if (raw.destroyed) cutOff();
  else raw.once('close', cutOff);
  return raw.pipe(decompressor);
}

/**
 * POST /exchange/v1/transfers/{transferId}/instances (docs/exchange-protocol.md, step 2): a multipart/related body of
 * Part 10 instances, as in STOW-RS. Each part streams into the store while its SHA-256 is computed; only an instance of
 * the manifest with the announced size and digest is stored. A broken body stores nothing of the part it broke in.
 */
export function registerUploadRoute(app: HttpsApp, d: UploadRouteDeps): void {
  // The body is read as a stream by the route itself, never buffered by the framework.
  if (!app.hasContentTypeParser('multipart/related'))
    app.addContentTypeParser('multipart/related', (_req, _payload, done) => done(null, undefined));
  app.post<{ Params: { transferId: string } }>(
    '/exchange/v1/transfers/:transferId/instances',
    {
      config: {
        access: 'partner',
        doc: {
          tag: 'exchange',
          summary: "Upload a batch of a transfer's instances (docs/exchange-protocol.md, step 2)",
          description:
            'Part 10 files, multipart/related, optionally gzip-encoded; each is checked against the manifest (size, SHA-256) before it is stored.',
          bodyType: 'multipart/related; type="application/dicom"',
          errors: ['TRANSFER_NOT_FOUND', 'TRANSFER_NOT_OPEN', 'BODY_TOO_LARGE'],
        },
      },
    },
    async (req, reply) => {
      const partner = req.partner;
      if (partner === undefined)
        throw new BeeldbrugError('ACCESS_DENIED', "your organization is not on this node's trust list", {
          members: { reason: 'organization-not-trusted' },
        });
      const transfer = await d.inbox.get(req.params.transferId, partner.ura);
      if (transfer === undefined)
        throw new BeeldbrugError(
          'TRANSFER_NOT_FOUND',
          `no transfer ${req.params.transferId} of your organization here`,
        );
      if (transfer.state !== 'open')
        throw new BeeldbrugError('TRANSFER_NOT_OPEN', `transfer ${transfer.transferId} is ${transfer.state}`, {
          members: { state: transfer.state },
        });
      let boundary: string;
      try {
        boundary = parseMultipartContentType(req.headers['content-type']).boundary;
      } catch (err) {
        throw new BeeldbrugError(
          'UNSUPPORTED_MEDIA_TYPE',
          `instances are uploaded as multipart/related: ${(err as Error).message}`,
        );
      }
      const body = decoded(req);
      if (body === undefined)
        throw new BeeldbrugError('UNSUPPORTED_MEDIA_TYPE', 'this content-encoding is not supported', {
          members: { supported: ['identity', 'zstd', 'deflate'] },
        });
      const announced = new Map(transfer.manifest.instances.map((i) => [i.sopInstanceUid, i]));
      const access = d.patientData.open(
        receivingGrounds({
          at: { node: d.node, ip: req.ip },
          senderUra: partner.ura,
          senderName: partner.name,
          manifest: transfer.manifest,
        }),
      );
      const stored: string[] = [];
      // One record (and one note in the inbox) per batch, before any answer: a sender that gets none sends the batch
      // again, and storing is idempotent.
      const recordStored = async (): Promise<void> => {
        if (stored.length === 0) return;
        await d.inbox.markReceived(transfer.transferId, stored);
        await access.record(
          receivingAbout({
            transferId: transfer.transferId,
            manifest: transfer.manifest,
            action: 'receive',
            description: `${stored.length} instances received from ${partner.name}`,
            sopInstanceUids: stored,
          }),
        );
      };
      const failed: { sopInstanceUid: string | null; reason: string; detail: string }[] = [];
      try {
        for await (const part of readMultipart(limitedBody(body, d.maxUploadBytes), boundary)) {
          const type = (part.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
          if (type !== 'application/dicom' && type !== PACKED_INSTANCE_TYPE) {
            failed.push({
              sopInstanceUid: null,
              reason: 'not-application-dicom',
              detail: `each part must be application/dicom or ${PACKED_INSTANCE_TYPE}`,
            });
            continue;
          }
          let uid: string | null = null;
          try {
            // Recorded per batch below, not per instance.
            const r = await access.ingestPart10Stream(
              type === PACKED_INSTANCE_TYPE ? await unpacked(part.body) : part.body,
              {
                provenance: {
                  receivedAt: new Date().toISOString(),
                  via: 'exchange',
                  callingAeTitle: null,
                  remoteAddress: req.ip,
                },
                expect: ({ sopInstanceUid }) => {
                  uid = sopInstanceUid;
                  const entry = announced.get(sopInstanceUid);
                  if (entry === undefined)
                    throw new BeeldbrugError(
                      'INSTANCE_NOT_EXPECTED',
                      `${sopInstanceUid} is not in transfer ${transfer.transferId}`,
                    );
                  return entry;
                },
              },
              undefined,
            );
            d.onReceived?.(type === PACKED_INSTANCE_TYPE ? 'packed' : 'as-stored');
            stored.push(r.sopInstanceUid);
            await d.onStored?.(transfer, r.sopInstanceUid);
          } catch (err) {
            if (!(err instanceof BeeldbrugError)) throw err;
            // A full disk is the node's problem, not the instance's: stop here and say so, the sender tries again later.
            if (err.code === 'OUT_OF_RESOURCES') throw err;
            failed.push({
              sopInstanceUid: uid,
              reason: err.code.toLowerCase().replaceAll('_', '-'),
              detail: err.message,
            });
            await access.record(
              verifyFailureAbout({
                senderName: partner.name,
                transferId: transfer.transferId,
                manifest: transfer.manifest,
                sopInstanceUid: uid,
                reason: err.message,
              }),
            );
          }
        }
      } catch (err) {
        await recordStored();
        if (err instanceof BodyTooLarge) {
          req.log.warn(
            { transferId: transfer.transferId, sender: partner.ura, stored: stored.length },
            'upload refused: too large',
          );
          throw new BeeldbrugError(
            'BODY_TOO_LARGE',
            `the upload is over ${d.maxUploadBytes} bytes; send smaller batches`,
            {
              members: { stored, failed },
            },
          );
        }
        if (err instanceof BeeldbrugError && err.code === 'OUT_OF_RESOURCES') {
          req.log.error(
            { transferId: transfer.transferId, sender: partner.ura, stored: stored.length },
            'upload refused: the disk is full',
          );
          // The rest of the body is not read: closing stops the sender from sending it.
          void reply.header('connection', 'close');
          throw new BeeldbrugError('OUT_OF_RESOURCES', err.message, { members: { stored, failed } });
        }
        if (err instanceof MultipartError)
          throw new BeeldbrugError('MULTIPART_INVALID', err.message, {
            members: { multipartError: err.code, stored, failed },
          });
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (code.startsWith('ZSTD_error') || code.startsWith('Z_')) {
          throw new BeeldbrugError('CONTENT_ENCODING_INVALID', (err as Error).message, { members: { stored, failed } });
        }
        throw err;
      }
      if (failed.length > 0)
        req.log.warn(
          { transferId: transfer.transferId, sender: partner.ura, failed: failed.map((f) => f.reason) },
          'instances refused',
        );
      await recordStored();
      return reply.code(200).send({ stored, failed });
    },
  );
}

/** A packed part restored to the file it was made from; BeeldbrugError PACKED_INSTANCE_INVALID when it cannot be. */
async function unpacked(body: AsyncIterable<Buffer>): Promise<Readable> {
  try {
    const packed = await buffer(limitedBody(body, PACKED_PART_MAX_BYTES));
    return Readable.from([await unpackInstanceOffThread(packed, PACKED_PART_MAX_BYTES)]);
  } catch (err) {
    if (err instanceof BodyTooLarge)
      throw new BeeldbrugError('PACKED_INSTANCE_INVALID', `a packed instance is over ${PACKED_PART_MAX_BYTES} bytes`);
    if (err instanceof DicomError) throw new BeeldbrugError('PACKED_INSTANCE_INVALID', err.message);
    throw err;
  }
}
