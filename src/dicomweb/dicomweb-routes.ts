import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  canConvert,
  convertedDataset,
  Dataset,
  encodePart10,
  isValidUid,
  sopReference,
  Tag,
  toDicomJson,
  type DicomJson,
  type Vr,
} from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { actingAccessor, documented, type HttpsApp, PERSON_ROUTES, writtenOut } from '../http/index.ts';
import type { PatientData, PatientDataAccess, ReleasedInstance } from '../studies/index.ts';
import {
  bodyBytes,
  BodyTooLarge,
  limitedBody,
  MultipartError,
  parseMultipartContentType,
  readMultipart,
} from './multipart-reader.ts';
import { type QidoLevel, qidoQuery } from './qido-query.ts';
import { accessFor, type Path, releasedInPath } from './dicomweb-access.ts';
import { datasetHolding, elementAt, formatBulkPath, framesOf, parseBulkPath } from './stored-instance.ts';
import { registerRenderedRoutes } from './rendered-routes.ts';
import {
  framesAsked,
  metadataOf,
  OCTETS,
  sendFrames,
  sendOctetParts,
  transferSyntaxAsked,
} from './instance-answers.ts';
import { readAhead } from './read-ahead.ts';

export interface DicomwebRouteDeps {
  patientData: PatientData;
  /** This node's name, the audit records' access point. */
  node: string;
  /** The largest STOW-RS body taken; more is refused with 413 (exchange.maxUploadBytes). */
  maxUploadBytes: number;
}

/** Where the DICOMweb services live: a viewer's qidoRoot and wadoRoot are https://<node>/dicomweb. */
export const DICOMWEB_ROOT = '/dicomweb';

const DICOM_JSON = 'application/dicom+json';

/** The VRs whose values are bytes, which a bulk data URI can name (PS3.18 F.2.7). */
const BULK_VRS: ReadonlySet<Vr> = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);

/** A retrieval reads a few instances ahead of the one being sent, holding at most a few MB per request. */
const READ_AHEAD = { ahead: 4, maxBytesEach: 1024 * 1024 };

/** Failure Reason (0008,1197) values of a STOW-RS answer (PS3.4 Annex GG, PS3.18 Table 10.5.3-1). */
const STOW_FAILURE = { processing: 0x0110, notDicom: 0xc000, doesNotMatch: 0xa900 } as const;

/**
 * DICOMweb (PS3.18) for viewers and the hospital's own systems: QIDO-RS searches and WADO-RS retrieval of studies,
 * series and instances (multipart application/dicom, as stored) and their metadata (DICOM JSON). Every request acts
 * for the signed-in person (two factors) or one of our systems, and goes through the patient-data access layer, which
 * records each search and each retrieval.
 */
export function registerDicomwebRoutes(app: HttpsApp, d: DicomwebRouteDeps): void {
  const QIDO =
    'QIDO-RS (PS3.18 10.6): matching keys by keyword or tag (PatientID, PatientName with * and ?, StudyDate ranges, ModalitiesInStudy, AccessionNumber, UIDs), includefield, limit and offset. 204 when nothing matches.';
  const config = documented(PERSON_ROUTES.dicomweb, 'dicomweb');
  const qido = (summary: string) => config(summary, { description: QIDO, answers: 'application/dicom+json' });
  const wado = (summary: string) =>
    config(summary, {
      description:
        'WADO-RS (PS3.18 10.4): the instances as stored, multipart/related; type="application/dicom"; or, with a transfer-syntax parameter in Accept, in that syntax where it is an uncompressed one (compressed pixel data decoded).',
      answers: 'multipart/related; type="application/dicom"',
      errors: ['NOT_FOUND', 'UNSUPPORTED_MEDIA_TYPE', 'TRANSFER_SYNTAX_UNSUPPORTED'],
    });
  const meta = (summary: string) =>
    config(summary, {
      description:
        'WADO-RS metadata (PS3.18 10.4): DICOM JSON of each instance; Pixel Data and binary values over 1 KB by BulkDataURI.',
      answers: 'application/dicom+json',
      errors: ['NOT_FOUND'],
    });
  const access = (req: FastifyRequest, purpose: 'query' | 'retrieve'): PatientDataAccess => accessFor(d, req, purpose);
  const base = (req: FastifyRequest): string => `https://${req.headers.host ?? 'localhost'}${DICOMWEB_ROOT}`;

  const search = (level: QidoLevel) => async (req: FastifyRequest<{ Params: Path }>, reply: FastifyReply) => {
    const params = new URL(req.url, 'https://query.invalid').searchParams;
    const q = qidoQuery(level, params, req.params);
    const asked = q.identifier.string(Tag.PatientID);
    const matches = await access(req, 'query').find(
      q.identifier,
      'study-root',
      (n) => `QIDO-RS ${level === 'IMAGE' ? 'instance' : level.toLowerCase()} search: ${n} matches`,
      asked !== undefined && !/[*?\\]/.test(asked)
        ? { patientId: asked, ...(/^\d{9}$/.test(asked) ? { bsn: asked } : {}) }
        : undefined,
      { offset: q.offset, ...(q.limit !== undefined ? { limit: q.limit } : {}) },
    );
    if (q.fuzzyAsked) void reply.header('warning', '299 beeldbrug "fuzzymatching is not supported; matched exactly"');
    if (matches.length === 0) return reply.code(204).send();
    const root = base(req);
    return reply.type(DICOM_JSON).send(matches.map((ds) => qidoResult(ds, root)));
  };

  app.get(`${DICOMWEB_ROOT}/studies`, qido('Search for studies'), search('STUDY'));
  app.get(`${DICOMWEB_ROOT}/series`, qido('Search for series'), search('SERIES'));
  app.get(`${DICOMWEB_ROOT}/instances`, qido('Search for instances'), search('IMAGE'));
  app.get(`${DICOMWEB_ROOT}/studies/:study/series`, qido("Search a study's series"), search('SERIES'));
  app.get(`${DICOMWEB_ROOT}/studies/:study/instances`, qido("Search a study's instances"), search('IMAGE'));
  app.get(
    `${DICOMWEB_ROOT}/studies/:study/series/:series/instances`,
    qido("Search a series' instances"),
    search('IMAGE'),
  );

  const released = (
    req: FastifyRequest<{ Params: Path }>,
    what: string,
    o?: { viewing: boolean },
  ): Promise<ReleasedInstance[]> => releasedInPath(d, req, what, req.params, o);

  const retrieve = async (req: FastifyRequest<{ Params: Path }>, reply: FastifyReply) => {
    const accept = req.headers.accept ?? '*/*';
    if (!/application\/dicom(?![+\w])|multipart\/related|\*\/\*/.test(accept))
      throw new BeeldbrugError(
        'UNSUPPORTED_MEDIA_TYPE',
        'this node answers a retrieval as multipart/related; type="application/dicom" (the files as stored)',
      );
    const instances = await released(req, 'WADO-RS');
    const boundary = `beeldbrug-${randomBytes(12).toString('hex')}`;
    const wanted = transferSyntaxAsked(accept);
    if (wanted !== undefined && instances.some((i) => i.stored.instance.transferSyntaxUid !== wanted))
      return sendConverted(req, reply, instances, wanted, boundary);
    const answer = multipart(instances, boundary);
    // Written here rather than piped by the framework: only a write's own callback says when its piece is out, and
    // then the piece's memory goes back to the store for the next one (see ReleasedInstance.giveBack).
    reply.hijack();
    const res = reply.raw;
    // The length is known before the first byte (the index has each file's size): no chunked framing, which costs a
    // copy of every byte on its way into TLS, and a client can show how far it is.
    res.writeHead(200, {
      'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
      'content-length': answer.length,
    });
    if (req.method === 'HEAD') return void res.end();
    try {
      for await (const piece of answer.body) {
        await writtenOut(res, piece.bytes);
        piece.written?.();
      }
      res.end();
    } catch (err) {
      // The status line is out: all that is left is to cut the answer off, which its declared length makes plain.
      req.log.warn({ err, route: req.routeOptions.url }, 'WADO-RS answer cut off');
      res.destroy();
    }
  };
  app.get(`${DICOMWEB_ROOT}/studies/:study`, wado('Retrieve a study'), retrieve);
  app.get(`${DICOMWEB_ROOT}/studies/:study/series/:series`, wado('Retrieve a series'), retrieve);
  app.get(`${DICOMWEB_ROOT}/studies/:study/series/:series/instances/:instance`, wado('Retrieve an instance'), retrieve);

  const metadata = async (req: FastifyRequest<{ Params: Path }>, reply: FastifyReply) => {
    const root = base(req);
    const out = await metadataOf(await released(req, 'WADO-RS metadata'), (i) => instanceUrl(root, i));
    return reply.type(DICOM_JSON).send(out);
  };
  app.get<{ Params: Path & { '*': string } }>(
    `${DICOMWEB_ROOT}/studies/:study/series/:series/instances/:instance/bulk/*`,
    config('Retrieve one bulk data value (a BulkDataURI of the metadata)', {
      description:
        "WADO-RS bulk data (PS3.18 8.7.3): the value an instance's metadata names by BulkDataURI, multipart. Pixel Data comes as stored: uncompressed as little-endian bytes in one part, compressed as one part per frame, each naming its transfer syntax.",
      answers: OCTETS,
      errors: ['NOT_FOUND', 'REQUEST_INVALID'],
    }),
    async (req, reply) => {
      const text = req.params['*'];
      const path = parseBulkPath(text);
      if (path === undefined)
        throw new BeeldbrugError(
          'REQUEST_INVALID',
          'a bulk data path is a tag (8 hex digits), with the item number and tag after each sequence: bulk/7FE00010',
        );
      const [instance] = await released(req, `WADO-RS bulk data ${formatBulkPath(path)}`, { viewing: true });
      const ds = await datasetHolding(instance!, path);
      const el = elementAt(ds, path);
      if (el === undefined || !BULK_VRS.has(el.vr))
        throw new BeeldbrugError('NOT_FOUND', `the instance has no bulk data at ${formatBulkPath(path)}`);
      if (el.fragments !== undefined) {
        const { frames, transferSyntaxUid } = framesOf(ds, instance!);
        return sendOctetParts(reply, frames, `; transfer-syntax=${transferSyntaxUid}`);
      }
      return sendOctetParts(reply, [el.bytes ?? Buffer.alloc(0)], '');
    },
  );
  app.get<{ Params: Path & { frames: string } }>(
    `${DICOMWEB_ROOT}/studies/:study/series/:series/instances/:instance/frames/:frames`,
    config('Retrieve frames (numbered from 1, comma-separated) as pixel data', {
      description:
        'WADO-RS frames (PS3.18 10.4): uncompressed frames as little-endian bytes, compressed ones as stored, multipart.',
      answers: OCTETS,
      errors: ['NOT_FOUND'],
    }),
    async (req, reply) => {
      framesAsked(req.params.frames);
      // A viewer asks for every frame of a series, one request each: one record covers them (see VIEWING_WINDOW_MS).
      const [instance] = await released(req, `WADO-RS frames ${req.params.frames}`, { viewing: true });
      return sendFrames(reply, instance!, req.params.frames, req.headers.accept);
    },
  );
  app.get(`${DICOMWEB_ROOT}/studies/:study/metadata`, meta("A study's metadata"), metadata);

  // STOW-RS (PS3.18 10.5): the body streams part by part into the store, never buffered by the framework.
  if (!app.hasContentTypeParser('multipart/related'))
    app.addContentTypeParser('multipart/related', (_req, _payload, done) => done(null, undefined));
  const stow = async (req: FastifyRequest<{ Params: { study?: string } }>, reply: FastifyReply) => {
    // STOW-RS to one study (PS3.18 10.5.1): an instance of another study is refused, the others are stored.
    const addressed = req.params.study;
    if (addressed !== undefined && !isValidUid(addressed))
      throw new BeeldbrugError('REQUEST_INVALID', `${addressed} is not a Study Instance UID`);
    let boundary: string;
    try {
      const type = parseMultipartContentType(req.headers['content-type']);
      boundary = type.boundary;
    } catch (err) {
      throw new BeeldbrugError(
        'UNSUPPORTED_MEDIA_TYPE',
        `STOW-RS takes multipart/related; type="application/dicom": ${(err as Error).message}`,
      );
    }
    const access = d.patientData.open({
      ...actingAccessor(req.acting),
      accessPoint: { node: d.node, ip: req.ip },
      purpose: 'import',
      authorization: 'DICOMweb, signed in',
    });
    const root = base(req);
    const stored: Dataset[] = [];
    const failed: Dataset[] = [];
    const studies = new Set<string>();
    const refuse = (sopClassUid: string, sopInstanceUid: string, reason: number): void => {
      failed.push(sopReference({ sopClassUid, sopInstanceUid }).set(Tag.FailureReason, 'US', reason));
    };
    try {
      for await (const part of readMultipart(limitedBody(req.raw, d.maxUploadBytes), boundary)) {
        if ((part.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() !== 'application/dicom') {
          // Read past it, so the next part can be: it is refused, not stored.
          for await (const chunk of part.body) void chunk;
          refuse('', '', STOW_FAILURE.notDicom);
          continue;
        }
        try {
          const r = await access.ingestPart10Stream(
            part.body,
            {
              provenance: {
                receivedAt: new Date().toISOString(),
                via: 'stow-rs',
                callingAeTitle: null,
                remoteAddress: req.ip,
              },
              ...(addressed !== undefined ? { studyInstanceUid: addressed } : {}),
            },
            'STOW-RS: study stored',
          );
          const study = r.studyInstanceUid;
          studies.add(study);
          stored.push(
            new Dataset()
              .set(Tag.ReferencedSOPInstanceUID, 'UI', r.sopInstanceUid)
              .set(Tag.RetrieveURL, 'UR', `${root}/studies/${study}`),
          );
        } catch (err) {
          if (!(err instanceof BeeldbrugError) || err.code === 'OUT_OF_RESOURCES') throw err;
          const named = (key: string): string => {
            const v = err.members?.[key];
            return typeof v === 'string' ? v : '';
          };
          refuse(
            named('sopClassUid'),
            named('sopInstanceUid'),
            err.code === 'DATASET_MISMATCH' ? STOW_FAILURE.doesNotMatch : STOW_FAILURE.processing,
          );
        }
      }
    } catch (err) {
      if (err instanceof BodyTooLarge)
        throw new BeeldbrugError(
          'BODY_TOO_LARGE',
          `the upload is over ${d.maxUploadBytes} bytes; send fewer instances at once`,
        );
      if (err instanceof MultipartError) throw new BeeldbrugError('MULTIPART_INVALID', err.message);
      throw err;
    }
    const answer = new Dataset();
    const only = addressed ?? (studies.size === 1 ? [...studies][0] : undefined);
    if (only !== undefined) answer.set(Tag.RetrieveURL, 'UR', `${root}/studies/${only}`);
    if (failed.length > 0) answer.set(Tag.FailedSOPSequence, 'SQ', failed);
    answer.set(Tag.ReferencedSOPSequence, 'SQ', stored);
    // PS3.18 10.5.3: all stored 200, some 202, none 409.
    const status = failed.length === 0 ? 200 : stored.length > 0 ? 202 : 409;
    return reply.code(status).type(DICOM_JSON).send(toDicomJson(answer));
  };
  app.post(
    `${DICOMWEB_ROOT}/studies`,
    config('Store instances (STOW-RS)', {
      description:
        'STOW-RS (PS3.18 10.5): Part 10 files as multipart/related; type="application/dicom", streamed into the store; the answer lists each stored and failed instance.',
      bodyType: 'multipart/related; type="application/dicom"',
      answers: 'application/dicom+json',
      errors: ['BODY_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'],
    }),
    stow,
  );
  app.post(
    `${DICOMWEB_ROOT}/studies/:study`,
    config('Store instances of one study (STOW-RS)', {
      description:
        'STOW-RS (PS3.18 10.5) to one study: as POST /dicomweb/studies, and an instance of another study is not stored but listed as failed (Failure Reason A900).',
      bodyType: 'multipart/related; type="application/dicom"',
      answers: 'application/dicom+json',
      errors: ['BODY_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'REQUEST_INVALID'],
    }),
    stow,
  );
  app.get(`${DICOMWEB_ROOT}/studies/:study/series/:series/metadata`, meta("A series' metadata"), metadata);
  app.get(
    `${DICOMWEB_ROOT}/studies/:study/series/:series/instances/:instance/metadata`,
    meta("An instance's metadata"),
    metadata,
  );
  registerRenderedRoutes(app, d);
}

/** A QIDO-RS result: the match without the C-FIND bookkeeping, and where to retrieve it (RetrieveURL). */
function qidoResult(ds: Dataset, root: string): DicomJson {
  ds.delete(Tag.QueryRetrieveLevel);
  ds.delete(Tag.RetrieveAETitle);
  const study = ds.string(Tag.StudyInstanceUID);
  const series = ds.string(Tag.SeriesInstanceUID);
  const instance = ds.string(Tag.SOPInstanceUID);
  const url =
    study === undefined
      ? undefined
      : `${root}/studies/${study}` +
        (series !== undefined ? `/series/${series}` : '') +
        (series !== undefined && instance !== undefined ? `/instances/${instance}` : '');
  if (url !== undefined) ds.set(Tag.RetrieveURL, 'UR', url);
  return toDicomJson(ds);
}

/** Where WADO-RS retrieves one instance. */
function instanceUrl(root: string, i: ReleasedInstance): string {
  return `${root}/studies/${i.stored.study.studyInstanceUid}/series/${i.stored.series.seriesInstanceUid}/instances/${i.stored.instance.sopInstanceUid}`;
}

/**
 * A retrieval in the transfer syntax the request asks for (PS3.18 8.7.3.5.2), where an instance is stored in another:
 * each rewritten among the native syntaxes, or its pixel data decoded into one, one instance in memory at a time. The
 * length is not known beforehand, so the answer goes chunked. Anything that cannot be given so is refused before the
 * first byte (406).
 */
async function sendConverted(
  req: FastifyRequest,
  reply: FastifyReply,
  instances: readonly ReleasedInstance[],
  wanted: string,
  boundary: string,
): Promise<void> {
  const refused = instances.find((i) => !canConvert(i.stored.instance.transferSyntaxUid, wanted));
  if (refused !== undefined)
    throw new BeeldbrugError(
      'TRANSFER_SYNTAX_UNSUPPORTED',
      `an instance stored in ${refused.stored.instance.transferSyntaxUid} cannot be given in ${wanted}; ask for transfer-syntax=* to get it as stored`,
    );
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}` });
  if (req.method === 'HEAD') return void res.end();
  try {
    for (const i of instances) {
      const from = i.stored.instance.transferSyntaxUid;
      const ds = await convertedDataset(await bodyBytes(i.openDataset()), from, wanted);
      await writtenOut(
        res,
        Buffer.from(`--${boundary}\r\nContent-Type: application/dicom; transfer-syntax=${wanted}\r\n\r\n`),
      );
      for (const piece of encodePart10(ds, wanted)) await writtenOut(res, piece);
      await writtenOut(res, Buffer.from('\r\n'));
    }
    await writtenOut(res, Buffer.from(`--${boundary}--\r\n`));
    res.end();
  } catch (err) {
    req.log.warn({ err, route: req.routeOptions.url }, 'WADO-RS answer cut off');
    res.destroy();
  }
}

/** One piece of an answer, and what to do once it is written out. */
interface Piece {
  bytes: Buffer;
  written?: () => void;
}

/**
 * The files one after another as multipart/related parts, each streamed from the store as it goes out, and the
 * answer's length in bytes. A file whose length differs from the index's ends the answer with an error, never a
 * short or padded one. A piece of a file, once written, is handed back to the store for the next read.
 */
function multipart(
  instances: readonly ReleasedInstance[],
  boundary: string,
): { length: number; body: AsyncIterable<Piece> } {
  const heads = new Map(
    instances.map((i) => [
      i,
      Buffer.from(
        `--${boundary}\r\nContent-Type: application/dicom; transfer-syntax=${i.stored.instance.transferSyntaxUid}\r\n\r\n`,
      ),
    ]),
  );
  const closing = Buffer.from(`--${boundary}--\r\n`);
  const crlf = Buffer.from('\r\n');
  let length = closing.length;
  for (const [i, head] of heads) length += head.length + i.stored.blob.size + crlf.length;
  async function* body(): AsyncIterable<Piece> {
    for await (const { item, body } of readAhead(instances, (i) => i.openFile() as AsyncIterable<Buffer>, READ_AHEAD)) {
      yield { bytes: heads.get(item) ?? Buffer.alloc(0) };
      let bytes = 0;
      for await (const chunk of body) {
        bytes += chunk.length;
        yield { bytes: chunk, written: () => item.giveBack(chunk) };
      }
      if (bytes !== item.stored.blob.size)
        throw new Error(
          `instance ${item.stored.instance.sopInstanceUid}: ${bytes} bytes read, the index says ${item.stored.blob.size}`,
        );
      yield { bytes: crlf };
    }
    yield { bytes: closing };
  }
  return { length, body: body() };
}
