import { z } from 'zod';
import { BeeldbrugError } from '../errors/index.ts';
import {
  actingAccessor,
  bodyInvalid,
  type HttpsApp,
  PERSON_ROUTES,
  personNamedInBody,
  type RouteDoc,
} from '../http/index.ts';
import type { AccessGrounds, PatientData } from '../studies/index.ts';
import type { PacsSource, PacsStudy } from './pacs-source.ts';

const day = z.iso.date().optional();
const searchQuery = z
  .strictObject({
    patientId: z.string().trim().min(1).max(64).optional(),
    /** As typed: a name without a wildcard matches names that start with it. */
    patientName: z.string().trim().min(1).max(64).optional(),
    from: day,
    to: day,
    modality: z
      .string()
      .regex(/^[A-Z]{2,4}$/, 'a modality code such as CT or MR')
      .optional(),
    accession: z.string().trim().min(1).max(16).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .refine(
    (q) => [q.patientId, q.patientName, q.from, q.to, q.modality, q.accession].some((v) => v !== undefined),
    'name at least one of patientId, patientName, from, to, modality, accession: the whole PACS is not listed',
  );

const retrievalBody = z.strictObject({
  studyInstanceUid: z.string().regex(/^[0-9.]{1,64}$/, 'a DICOM UID'),
});

/** GET /api/v1/pacs/studies: what the PACS answered, and whether this node holds each study already. */
export interface PacsSearchView {
  pacs: { aeTitle: string; description?: string };
  studies: (PacsStudy & { heldHere: boolean })[];
  /** More studies matched than were asked for: narrow the search. */
  more: boolean;
}

export interface PacsRouteDeps {
  /** The hospital's PACS (exchange.fetchFrom), when configured. */
  source: PacsSource | undefined;
  description?: string | undefined;
  patientData: PatientData;
  node: string;
}

const dicomDate = (iso: string | undefined): string => (iso === undefined ? '' : iso.replaceAll('-', ''));

/**
 * The hospital's PACS from the workspace: search it as the study list searches the node, and fetch a study into the
 * node (to view or send it). The PACS answers by C-FIND and sends by C-MOVE or C-GET; every search is recorded per
 * patient it showed, every fetch before it starts, in the name of who asked.
 */
export function registerPacsRoutes(app: HttpsApp, d: PacsRouteDeps): void {
  const doc = (summary: string, more: Omit<RouteDoc, 'tag' | 'summary'>): RouteDoc => ({
    tag: 'pacs',
    summary,
    errors: ['PACS_NOT_CONFIGURED', 'PACS_UNREACHABLE'],
    ...more,
  });
  const source = (): PacsSource => {
    if (d.source === undefined)
      throw new BeeldbrugError(
        'PACS_NOT_CONFIGURED',
        'this node has no PACS to search: configure exchange.fetchFrom with the PACS AE title',
      );
    return d.source;
  };
  const grounds = (req: Parameters<typeof actingAccessor>[0], ip: string, purpose: 'query' | 'retrieve') =>
    ({
      ...actingAccessor(req),
      accessPoint: { node: d.node, ip },
      purpose,
      authorization: 'workspace (PACS search)',
    }) satisfies AccessGrounds;

  app.get(
    '/api/v1/pacs/studies',
    {
      config: {
        access: PERSON_ROUTES.pacs,
        doc: doc("Search the hospital's PACS for studies (C-FIND)", { query: searchQuery }),
      },
    },
    async (req): Promise<PacsSearchView> => {
      const parsed = searchQuery.safeParse(req.query);
      if (!parsed.success) throw bodyInvalid(parsed.error);
      const q = parsed.data;
      const pacs = source();
      const name = q.patientName;
      const range = q.from !== undefined || q.to !== undefined ? `${dicomDate(q.from)}-${dicomDate(q.to)}` : undefined;
      const found = await pacs.searchStudies(
        {
          ...(q.patientId !== undefined ? { patientId: q.patientId } : {}),
          ...(name !== undefined ? { patientName: /[*?]/.test(name) ? name : `${name}*` } : {}),
          ...(range !== undefined ? { studyDate: range } : {}),
          ...(q.modality !== undefined ? { modality: q.modality } : {}),
          ...(q.accession !== undefined ? { accessionNumber: q.accession } : {}),
        },
        q.limit,
      );
      const access = d.patientData.open(grounds(req.acting, req.ip, 'query'));
      // Recorded before anything is shown: a search the trail cannot hold is not answered.
      await access.recordSearchElsewhere(
        `PACS ${pacs.aeTitle} searched: ${found.studies.length} studies${found.more ? ' (more matched)' : ''}`,
        found.studies.map((s) => ({
          patient: { patientId: s.patient.patientId, ...(s.patient.bsn !== undefined ? { bsn: s.patient.bsn } : {}) },
          studyInstanceUid: s.studyInstanceUid,
        })),
      );
      return {
        pacs: { aeTitle: pacs.aeTitle, ...(d.description !== undefined ? { description: d.description } : {}) },
        studies: await Promise.all(
          found.studies.map(async (s) => ({
            ...s,
            heldHere: (await access.studySummary(s.studyInstanceUid)).instances >= s.instances && s.instances > 0,
          })),
        ),
        more: found.more,
      };
    },
  );

  app.post(
    '/api/v1/pacs/retrievals',
    {
      config: {
        access: PERSON_ROUTES.pacs,
        doc: doc('Fetch a study from the PACS into this node (C-MOVE or C-GET), to view or send it', {
          body: retrievalBody,
          errors: ['PACS_NOT_CONFIGURED', 'PACS_UNREACHABLE', 'PACS_RETRIEVE_FAILED', 'NOT_FOUND'],
        }),
      },
    },
    async (req) => {
      const named = personNamedInBody(req.body);
      if (named !== undefined) throw new BeeldbrugError('REQUEST_INVALID', named);
      const parsed = retrievalBody.safeParse(req.body);
      if (!parsed.success) throw bodyInvalid(parsed.error);
      const uid = parsed.data.studyInstanceUid;
      const pacs = source();
      const where = await pacs.locate(uid);
      if (where === undefined) throw new BeeldbrugError('NOT_FOUND', `the PACS ${pacs.aeTitle} has no study ${uid}`);
      const who = grounds(req.acting, req.ip, 'retrieve');
      await d.patientData.open(who).record({
        action: 'retrieve',
        outcome: 'success',
        description: `study fetched from the PACS ${pacs.aeTitle} into this node by ${who.user.name} (${where.instances} instances)`,
        patient: where.patient,
        objects: { studyInstanceUid: uid },
      });
      const { retrieved } = await pacs.fetch(uid);
      req.log.info({ studyInstanceUid: uid, retrieved, user: who.user.id }, 'study fetched from the PACS');
      return { studyInstanceUid: uid, retrieved };
    },
  );
}
