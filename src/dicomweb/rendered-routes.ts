import type { FastifyReply, FastifyRequest } from 'fastify';
import { Tag } from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { z } from 'zod';
import { bodyInvalid, type HttpsApp, PERSON_ROUTES } from '../http/index.ts';
import { type AccessDeps, accessFor, identifierOf, type Path, releasedInPath } from './dicomweb-access.ts';
import { parseViewport, parseWindow, renderFrame, type RenderOptions } from './rendered.ts';
import { datasetOf, framesOf } from './stored-instance.ts';
import type { ReleasedInstance } from '../studies/index.ts';

const ROOT = '/dicomweb';
export const THUMBNAIL = { width: 128, height: 128 };

/** SOP classes with no picture to show: structured reports, encapsulated documents, presentation states, key objects. */
const NOT_AN_IMAGE = /^1\.2\.840\.10008\.5\.1\.4\.1\.1\.(88\.|104\.|11\.|66)/;

/** PS3.18 8.3.5.1's rendering parameters this node takes; others (annotation, charset) are ignored, as it may. */
export const renderedQuery = z.looseObject({
  window: z.string().max(64).optional().describe('center,width,function (function: linear, linear-exact, sigmoid)'),
  viewport: z.string().max(64).optional().describe('width,height of the answer in pixels'),
  quality: z.coerce.number().int().min(1).max(100).optional().describe('JPEG quality'),
});

export type RenderedQuery = z.input<typeof renderedQuery>;

/** The rendering a request asks for: the Accept header's image type, and the window, size and quality it names. */
export function renderOptionsOf(
  req: FastifyRequest<{ Querystring: RenderedQuery }>,
  viewport?: RenderOptions['viewport'],
): RenderOptions {
  const accept = req.headers.accept ?? '';
  // PNG when the client names it before JPEG (or names only PNG); JPEG for everything else, `image/*` included.
  const at = (type: string): number => (accept.includes(type) ? accept.indexOf(type) : Infinity);
  const png = at('image/png') < at('image/jpeg');
  const q = renderedQuery.safeParse(req.query);
  if (!q.success) throw bodyInvalid(q.error);
  const quality = q.data.quality;
  const window = parseWindow(q.data.window);
  const asked = parseViewport(q.data.viewport) ?? viewport;
  return {
    type: png ? 'image/png' : 'image/jpeg',
    ...(window !== undefined ? { window } : {}),
    ...(asked !== undefined ? { viewport: asked } : {}),
    ...(quality !== undefined ? { quality } : {}),
  };
}

/**
 * Rendered resources and thumbnails (PS3.18 8.3.5, 10.4.1.1.3): an image a browser shows as it is, in the window the
 * request names (or the instance's own). A study's or series' thumbnail is the middle image of its largest image
 * series. Reading goes through the access layer like every retrieval; a thumbnail records only the instance drawn.
 */
export function registerRenderedRoutes(app: HttpsApp, d: AccessDeps): void {
  const config = (summary: string) => ({
    config: {
      access: PERSON_ROUTES.dicomweb,
      doc: {
        tag: 'dicomweb',
        summary,
        description: 'PS3.18 rendered resources: JPEG, or PNG when the Accept header names it first.',
        query: renderedQuery,
        answers: 'image/jpeg',
        errors: ['NOT_FOUND'] as const,
      },
    },
  });

  const render = async (
    req: FastifyRequest<{ Params: Path & { frames?: string }; Querystring: RenderedQuery }>,
    reply: FastifyReply,
    path: Path,
    what: string,
    viewport?: RenderOptions['viewport'],
  ) => {
    const o = renderOptionsOf(req, viewport);
    const frameNumber = frameNumberOf(req.params.frames);
    const [instance] = await releasedInPath(d, req, what, path);
    return sendRendered(reply, instance!, frameNumber, o);
  };

  /** The instance a study's or series' thumbnail shows, found by a query that names the patient in the trail. */
  const representative = async (req: FastifyRequest<{ Params: Path }>): Promise<Path> => {
    const identifier = identifierOf(req.params)
      .set(Tag.QueryRetrieveLevel, 'CS', 'IMAGE')
      .set(Tag.SeriesInstanceUID, 'UI', req.params.series ?? '')
      .set(Tag.SOPInstanceUID, 'UI', '')
      .set(Tag.SOPClassUID, 'UI', '')
      .set(Tag.InstanceNumber, 'IS', '');
    const matches = await accessFor(d, req, 'query').find(
      identifier,
      'study-root',
      (n) => `thumbnail: ${n} instances looked at`,
      undefined,
    );
    const bySeries = new Map<string, { uid: string; number: number }[]>();
    for (const m of matches) {
      if (NOT_AN_IMAGE.test(m.string(Tag.SOPClassUID) ?? '')) continue;
      const series = m.string(Tag.SeriesInstanceUID) ?? '';
      const list = bySeries.get(series) ?? [];
      list.push({ uid: m.string(Tag.SOPInstanceUID) ?? '', number: m.number(Tag.InstanceNumber) ?? 0 });
      bySeries.set(series, list);
    }
    const [series, instances] = [...bySeries].sort((a, b) => b[1].length - a[1].length)[0] ?? [];
    if (series === undefined || instances === undefined)
      throw new BeeldbrugError('NOT_FOUND', 'no image here to make a thumbnail of');
    instances.sort((a, b) => a.number - b.number);
    const middle = instances[Math.floor((instances.length - 1) / 2)]!;
    return { ...(req.params.study !== undefined ? { study: req.params.study } : {}), series, instance: middle.uid };
  };

  type Req = FastifyRequest<{ Params: Path & { frames?: string }; Querystring: RenderedQuery }>;
  app.get(
    `${ROOT}/studies/:study/series/:series/instances/:instance/rendered`,
    config('An instance rendered as an image (WADO-RS)'),
    (req: Req, reply) => render(req, reply, req.params, 'WADO-RS rendered'),
  );
  app.get(
    `${ROOT}/studies/:study/series/:series/instances/:instance/frames/:frames/rendered`,
    config('A frame rendered as an image (WADO-RS)'),
    (req: Req, reply) => render(req, reply, req.params, `WADO-RS rendered frame ${req.params.frames}`),
  );
  app.get(
    `${ROOT}/studies/:study/series/:series/instances/:instance/thumbnail`,
    config('A thumbnail of an instance'),
    (req: Req, reply) => render(req, reply, req.params, 'WADO-RS thumbnail', THUMBNAIL),
  );
  app.get(
    `${ROOT}/studies/:study/series/:series/thumbnail`,
    config('A thumbnail of a series: its middle image'),
    async (req: Req, reply) => render(req, reply, await representative(req), 'WADO-RS thumbnail', THUMBNAIL),
  );
  app.get(
    `${ROOT}/studies/:study/thumbnail`,
    config('A thumbnail of a study: the middle image of its largest series'),
    async (req: Req, reply) => render(req, reply, await representative(req), 'WADO-RS thumbnail', THUMBNAIL),
  );
}

/** A rendered frame's number from its path segment (one number, from 1); absent, the middle frame is drawn. */
export function frameNumberOf(segment: string | undefined): number | undefined {
  const n = segment !== undefined ? Number(segment) : undefined;
  if (n !== undefined && !(Number.isInteger(n) && n >= 1))
    throw new BeeldbrugError('REQUEST_INVALID', 'a rendered frame is one frame number, from 1');
  return n;
}

/** One frame of an instance (the middle one unless named) drawn as JPEG or PNG, never kept by a cache. */
export async function sendRendered(
  reply: FastifyReply,
  instance: ReleasedInstance,
  frameNumber: number | undefined,
  o: RenderOptions,
): Promise<FastifyReply> {
  const ds = await datasetOf(instance);
  const { frames, transferSyntaxUid, encapsulated } = framesOf(ds, instance);
  const index = frameNumber !== undefined ? frameNumber - 1 : Math.floor((frames.length - 1) / 2);
  const frame = frames[index];
  if (frame === undefined)
    throw new BeeldbrugError('NOT_FOUND', `the instance has ${frames.length} frames; no frame ${frameNumber}`);
  const image = await renderFrame(ds, frame, transferSyntaxUid, encapsulated, o);
  return reply.type(o.type).header('cache-control', 'private, no-store').send(image);
}
