import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Dataset, type DicomJson, isDocumentSopClass, Tag, toDicomJson } from '../dicom/index.ts';
import {
  framesAsked,
  metadataOf,
  OCTETS,
  renderedQuery,
  type RenderedQuery,
  renderOptionsOf,
  sendFrames,
  sendRendered,
  THUMBNAIL,
} from '../dicomweb/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { documented, type HttpsApp, type RouteAccess } from '../http/index.ts';
import { indexedAttributes, type ReleasedInstance } from '../studies/index.ts';
import type { SharedDownload } from './shares.ts';

type Path = { study?: string; series?: string; instance?: string; shareId?: string };
type Req = FastifyRequest<{ Params: Path & { frames?: string }; Querystring: RenderedQuery }>;

/** One instance of a share as its recipient sees it: under the UIDs its zip gives it (new ones when de-identified). */
interface Viewed {
  instance: ReleasedInstance;
  study: string;
  series: string;
  sop: string;
}

const DICOM_JSON = 'application/dicom+json';

/**
 * A share's studies for the web app's viewer, in the browser, without download: the part of DICOMweb (PS3.18) a
 * viewer reads (studies, series and instances found; metadata; frames; series thumbnails), answering only the share's
 * own instances, read-only. A de-identified share is seen as its zip holds it: new UIDs, the profile applied to every
 * header, its reports left out. Every request opens the share through the access layer (one record per study covers a
 * viewing, see PatientDataAccess.openShared).
 */
export function registerShareViewRoutes(
  app: HttpsApp,
  o: {
    root: string;
    access: RouteAccess;
    tag: string;
    /** The share, opened for the study the request names, or all of its studies. */
    opened: (req: Req, study: string | undefined) => Promise<SharedDownload>;
  },
): void {
  const config = documented(o.access, o.tag);
  const errors = ['NOT_FOUND'] as const;
  const viewed = async (req: Req): Promise<{ all: Viewed[]; opened: SharedDownload }> => {
    const opened = await o.opened(req, req.params.study);
    return { all: viewedOf(opened), opened };
  };
  const inPath = (all: Viewed[], p: Path): Viewed[] => {
    const found = all.filter(
      (v) =>
        (p.study === undefined || v.study === p.study) &&
        (p.series === undefined || v.series === p.series) &&
        (p.instance === undefined || v.sop === p.instance),
    );
    if (found.length === 0) throw new BeeldbrugError('NOT_FOUND', 'no such study, series or instance in this share');
    return found;
  };
  const rootOf = (req: Req): string =>
    `https://${req.headers.host ?? 'localhost'}${o.root.replace(':shareId', req.params.shareId ?? '')}`;

  app.get(
    `${o.root}/studies`,
    config("The share's studies (QIDO-RS; StudyInstanceUID narrows them)", { answers: DICOM_JSON }),
    async (req: Req, reply: FastifyReply) => {
      const { all, opened } = await viewed(req);
      const asked = new URL(req.url, 'https://query.invalid').searchParams.get('StudyInstanceUID');
      const studies = groups(all, (v) => v.study).filter(([uid]) => asked === null || uid === asked);
      return reply.type(DICOM_JSON).send(
        studies.map(([, vs]) => {
          const ds = attributesOf(vs[0]!, opened, 'STUDY');
          ds.set(Tag.ModalitiesInStudy, 'CS', [...new Set(vs.map((v) => v.instance.stored.series.modality ?? ''))]);
          ds.set(Tag.NumberOfStudyRelatedSeries, 'IS', String(new Set(vs.map((v) => v.series)).size));
          ds.set(Tag.NumberOfStudyRelatedInstances, 'IS', String(vs.length));
          return toDicomJson(ds);
        }),
      );
    },
  );
  app.get(
    `${o.root}/studies/:study/series`,
    config("A shared study's series (QIDO-RS)", { answers: DICOM_JSON, errors }),
    async (req: Req, reply: FastifyReply) => {
      const { all, opened } = await viewed(req);
      const series = groups(inPath(all, req.params), (v) => v.series);
      return reply.type(DICOM_JSON).send(
        series.map(([, vs]) => {
          const ds = attributesOf(vs[0]!, opened, 'SERIES');
          ds.set(Tag.NumberOfSeriesRelatedInstances, 'IS', String(vs.length));
          return toDicomJson(ds);
        }),
      );
    },
  );
  app.get(
    `${o.root}/studies/:study/series/:series/instances`,
    config("A shared series' instances (QIDO-RS)", { answers: DICOM_JSON, errors }),
    async (req: Req, reply: FastifyReply) => {
      const { all, opened } = await viewed(req);
      const found = inPath(all, req.params);
      return reply.type(DICOM_JSON).send(found.map((v) => toDicomJson(attributesOf(v, opened, 'IMAGE'))));
    },
  );
  const metadata = async (req: Req, reply: FastifyReply) => {
    const { all, opened } = await viewed(req);
    const found = inPath(all, req.params);
    const byInstance = new Map(found.map((v) => [v.instance, v]));
    const root = rootOf(req);
    const json: DicomJson[] = await metadataOf(
      found.map((v) => v.instance),
      (i) => urlOf(root, byInstance.get(i)!),
      opened.deidentifier !== undefined ? (header) => void opened.deidentifier!.apply(header) : undefined,
    );
    return reply.type(DICOM_JSON).send(json);
  };
  const meta = (summary: string) => config(summary, { answers: DICOM_JSON, errors });
  app.get(`${o.root}/studies/:study/series/:series/metadata`, meta("A shared series' metadata (WADO-RS)"), metadata);
  app.get(
    `${o.root}/studies/:study/series/:series/instances/:instance/metadata`,
    meta("A shared instance's metadata (WADO-RS)"),
    metadata,
  );
  app.get(
    `${o.root}/studies/:study/series/:series/instances/:instance/frames/:frames`,
    config('Frames of a shared instance (WADO-RS; numbered from 1, comma-separated)', {
      answers: OCTETS,
      errors: ['NOT_FOUND', 'REQUEST_INVALID'],
    }),
    async (req: Req, reply: FastifyReply) => {
      framesAsked(req.params.frames ?? '');
      const { all } = await viewed(req);
      const [v] = inPath(all, req.params);
      return sendFrames(reply, v!.instance, req.params.frames ?? '', req.headers.accept);
    },
  );
  app.get(
    `${o.root}/studies/:study/series/:series/thumbnail`,
    config("A shared series' thumbnail: its middle image", {
      query: renderedQuery,
      answers: 'image/jpeg',
      errors,
    }),
    async (req: Req, reply: FastifyReply) => {
      const options = renderOptionsOf(req, THUMBNAIL);
      const { all } = await viewed(req);
      const images = inPath(all, req.params)
        .filter((v) => !isDocumentSopClass(v.instance.stored.instance.sopClassUid))
        .sort(
          (a, b) => (a.instance.stored.instance.instanceNumber ?? 0) - (b.instance.stored.instance.instanceNumber ?? 0),
        );
      const middle = images[Math.floor((images.length - 1) / 2)];
      if (middle === undefined) throw new BeeldbrugError('NOT_FOUND', 'no image here to make a thumbnail of');
      return sendRendered(reply, middle.instance, undefined, options);
    },
  );
}

/** The share's instances under the UIDs its recipient sees; a de-identified share's reports stay behind, as in its zip. */
function viewedOf(opened: SharedDownload): Viewed[] {
  const deid = opened.deidentifier;
  const uid = (u: string): string => deid?.uid(u) ?? u;
  return opened.instances
    .filter((i) => deid === undefined || !isDocumentSopClass(i.stored.instance.sopClassUid))
    .map((i) => ({
      instance: i,
      study: uid(i.stored.study.studyInstanceUid),
      series: uid(i.stored.series.seriesInstanceUid),
      sop: uid(i.stored.instance.sopInstanceUid),
    }));
}

/** What the index holds of an instance down to `level`, de-identified by the share's profile where the share is. */
function attributesOf(v: Viewed, opened: SharedDownload, level: 'STUDY' | 'SERIES' | 'IMAGE'): Dataset {
  const ds = indexedAttributes(v.instance.stored, level);
  opened.deidentifier?.apply(ds);
  return ds;
}

/** Items grouped by a key, in the order each key first appears. */
function groups<T>(items: readonly T[], keyOf: (t: T) => string): [string, T[]][] {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const list = out.get(key);
    if (list === undefined) out.set(key, [item]);
    else list.push(item);
  }
  return [...out];
}

const urlOf = (root: string, v: Viewed): string => `${root}/studies/${v.study}/series/${v.series}/instances/${v.sop}`;
