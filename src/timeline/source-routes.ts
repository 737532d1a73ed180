import type { FastifyRequest } from 'fastify';
import { BeeldbrugError } from '../errors/index.ts';
import type { HttpsApp } from '../http/index.ts';
import type { Logger } from '../log/index.ts';
import type { PatientData, PatientDataAccess, PatientSeries, PatientStudy } from '../studies/index.ts';
import { checkTimelineRequest, type TimelineClaims } from './claims.ts';
import { requesterUser } from './audit-events.ts';
import type { SourceAnswer, SourceSeriesAnswer, SourceStudy } from './types.ts';

export interface SourceRoutesDeps {
  /**
   * Every release goes through here, which asks the registry's consent first; without a registry the node answers no
   * timeline question, since a source never releases without a permit.
   */
  patientData: PatientData;
  node: string;
  us: { ura: string; name: string };
  caPem: string | Buffer;
  logger: Logger;
  /**
   * The hospital's PACS, asked for the patient's studies beside the node's own copies (the node is a cache; the PACS is
   * the archive). A study only the PACS holds is fetched from it when it is retrieved.
   */
  archive?: {
    patientStudies(bsn: string): Promise<PatientStudy[]>;
    studySeries(studyInstanceUid: string): Promise<PatientSeries[]>;
  };
  /** Queues the study for the requesting organization (purpose retrieval, with the consent reference). */
  queueRetrieval: (o: {
    studyInstanceUid: string;
    requesterUra: string;
    consentReference: string;
    claims: TimelineClaims;
    ip: string;
  }) => Promise<{ transferId: string }>;
}

/**
 * The patient's studies here: the node's copies and, when a PACS is configured, what the PACS holds, one entry per
 * study (the node's own is the more detailed; the larger counts win, since the node may hold part of a study), newest
 * first. When the PACS cannot be asked, the node's copies are still listed and `partial` says why more may exist.
 */
export async function studiesOfPatient(
  access: Pick<PatientDataAccess, 'patientStudies'>,
  archive: Pick<NonNullable<SourceRoutesDeps['archive']>, 'patientStudies'> | undefined,
  bsn: string,
  logger: Logger,
): Promise<{ studies: PatientStudy[]; partial?: string }> {
  const held = await access.patientStudies(bsn);
  if (archive === undefined) return { studies: held };
  let archived: PatientStudy[];
  try {
    archived = await archive.patientStudies(bsn);
  } catch (err) {
    logger.warn(
      { err: (err as Error).message },
      'timeline: the PACS could not be asked; answering with the studies this node holds',
    );
    return { studies: held, partial: 'the PACS could not be asked: only the studies this node holds are listed' };
  }
  const merged = new Map(held.map((s) => [s.studyInstanceUid, s]));
  for (const a of archived) {
    const h = merged.get(a.studyInstanceUid);
    merged.set(
      a.studyInstanceUid,
      h === undefined
        ? a
        : {
            ...h,
            series: Math.max(h.series, a.series),
            instances: Math.max(h.instances, a.instances),
            hasReport: h.hasReport || a.hasReport,
            modalities: [...new Set([...h.modalities, ...a.modalities])],
          },
    );
  }
  const when = (s: PatientStudy): string => `${s.studyDate ?? ''}${s.studyTime ?? ''}`;
  return { studies: [...merged.values()].sort((x, y) => when(y).localeCompare(when(x))) };
}

/**
 * The source side of the timeline: another node asks, with a signed request naming the BSN and the person asking, for
 * this hospital's studies of the patient or for one of them. Before anything is looked up the registry is asked
 * whether this patient permits release to that organization; the answer and the request go into the audit trail.
 */
export function registerTimelineSourceRoutes(app: HttpsApp, d: SourceRoutesDeps): void {
  const partner = (summary: string) => ({
    config: {
      access: 'partner' as const,
      doc: {
        tag: 'timeline between hospitals',
        summary,
        description:
          "The body is { request: <JWS> }: a timeline request signed by the asking node's key (type beeldbrug-timeline-request+jwt), naming the practitioner, purpose and patient; used once. The source asks the registry for consent before answering.",
        errors: ['RELEASE_REFUSED', 'RELEASE_WITHOUT_REGISTRY', 'REGISTRY_UNREACHABLE', 'REQUEST_REPLAYED'] as const,
      },
    },
  });
  // A signed request is used once: a captured one cannot be sent again within its lifetime.
  const seen = new Map<string, number>();
  const fresh = (c: TimelineClaims): boolean => {
    const now = Date.now() / 1000;
    for (const [jti, exp] of seen) if (exp < now) seen.delete(jti);
    if (seen.has(c.jti)) return false;
    seen.set(c.jti, c.exp);
    return true;
  };

  /** The checks every timeline request passes before data is touched; a refusal is thrown as problem details. */
  const admit = async (
    req: FastifyRequest,
    action: 'query' | 'retrieve',
  ): Promise<{ claims: TimelineClaims; consentReference: string; access: PatientDataAccess }> => {
    const callerUra = req.partner?.ura ?? '';
    const checked = await checkTimelineRequest((req.body as { request?: unknown } | null)?.request, callerUra, d.caPem);
    if (!checked.ok) {
      d.logger.warn(
        { caller: callerUra, remote: req.ip, reason: checked.reason },
        'timeline request refused: not a valid signed request',
      );
      throw new BeeldbrugError('REQUEST_INVALID', `not a valid signed timeline request: ${checked.reason}`, {
        members: { reason: 'invalid-request' },
      });
    }
    const claims = checked.claims;
    if (!fresh(claims)) {
      throw new BeeldbrugError('REQUEST_REPLAYED', 'this signed request was already used', {
        members: { reason: 'replayed' },
      });
    }
    // The person who asked, vouched for by their node; the release rests on the registry's consent, asked here.
    const access = d.patientData.open({
      kind: 'partner-node',
      user: requesterUser(claims),
      accessPoint: { node: d.node, ip: req.ip },
      purpose: 'release',
      purposeOfUse: claims.purpose,
      authorization: 'registry-consent',
    });
    let consentReference: string;
    try {
      consentReference = await access.establishConsent(claims.bsn, callerUra, {
        action,
        objects: claims.studyInstanceUid !== undefined ? { studyInstanceUid: claims.studyInstanceUid } : {},
        refusedAs: `timeline request from URA ${callerUra}`,
      });
    } catch (err) {
      if (!(err instanceof BeeldbrugError)) throw err;
      d.logger.info({ caller: callerUra, answer: 'refused', code: err.code }, 'timeline request');
      // The requesting node shows `reason` to its user; the registry's own answer stays in this node's trail.
      const reason =
        err.code === 'REGISTRY_UNREACHABLE'
          ? 'registry-unreachable'
          : err.code === 'RELEASE_WITHOUT_REGISTRY'
            ? 'no-registry'
            : 'no-consent';
      const detail =
        reason === 'registry-unreachable'
          ? 'the registry could not be asked; try again later'
          : reason === 'no-registry'
            ? 'this node releases timeline data only with a permit from a registry'
            : 'the patient has not permitted release to your organization';
      throw new BeeldbrugError(err.code, detail, { members: { reason } });
    }
    return { claims, consentReference, access };
  };

  app.post(
    '/timeline/v1/studies',
    partner("This hospital's studies of the patient, for a permitted partner"),
    async (req, reply) => {
      const admitted = await admit(req, 'query');
      const { claims, consentReference, access } = admitted;
      const found = await studiesOfPatient(access, d.archive, claims.bsn, d.logger);
      const studies: SourceStudy[] = [];
      for (const s of found.studies) {
        const reportText =
          claims.includeReports && s.hasReport ? await access.reportText(claims.bsn, s.studyInstanceUid) : undefined;
        studies.push({ ...s, ...(reportText !== undefined ? { reportText } : {}) });
      }
      await access.record({
        action: 'query',
        outcome: 'success',
        description: `timeline: ${studies.length} studies listed for ${claims.organization.name}${claims.includeReports ? ' with reports' : ''}`,
        patient: { bsn: claims.bsn },
        objects: {},
      });
      d.logger.info(
        { caller: claims.organization.ura, answer: 'answered', studies: studies.length },
        'timeline request',
      );
      const answer: SourceAnswer = {
        status: 'answered',
        organization: d.us,
        consentReference,
        studies,
        ...(found.partial !== undefined ? { partial: found.partial } : {}),
      };
      return reply.send(answer);
    },
  );

  /**
   * The study the claims name, when it is this patient's (held here or in the PACS): a permit for one patient never
   * opens another's study. Otherwise a recorded refusal.
   */
  const patientsStudy = async (
    access: PatientDataAccess,
    claims: TimelineClaims,
    action: 'query' | 'retrieve',
  ): Promise<string> => {
    const uid = claims.studyInstanceUid;
    if (
      uid === undefined ||
      !(await studiesOfPatient(access, d.archive, claims.bsn, d.logger)).studies.some((s) => s.studyInstanceUid === uid)
    ) {
      await access.record({
        action,
        outcome: 'failure',
        description: `timeline ${action === 'retrieve' ? 'retrieval' : 'series listing'} refused: no such study of this patient`,
        patient: { bsn: claims.bsn },
        objects: uid !== undefined ? { studyInstanceUid: uid } : {},
      });
      throw new BeeldbrugError('NOT_FOUND', 'no such study of this patient here', {
        members: { reason: 'not-found' },
      });
    }
    return uid;
  };

  app.post(
    '/timeline/v1/series',
    partner("The series of one of the patient's studies here, for a permitted partner"),
    async (req, reply) => {
      const { claims, consentReference, access } = await admit(req, 'query');
      const uid = await patientsStudy(access, claims, 'query');
      const series = new Map((await access.studySeries(claims.bsn, uid)).map((s) => [s.seriesInstanceUid, s]));
      let partial: string | undefined;
      if (d.archive !== undefined) {
        try {
          for (const a of await d.archive.studySeries(uid)) {
            const held = series.get(a.seriesInstanceUid);
            series.set(
              a.seriesInstanceUid,
              held === undefined ? a : { ...held, instances: Math.max(held.instances, a.instances) },
            );
          }
        } catch (err) {
          d.logger.warn({ err: (err as Error).message }, 'timeline: the PACS could not be asked for the series');
          partial = 'the PACS could not be asked: only the series this node holds are listed';
        }
      }
      const answer: SourceSeriesAnswer = {
        status: 'answered',
        organization: d.us,
        consentReference,
        studyInstanceUid: uid,
        series: [...series.values()].sort((a, b) => (a.seriesNumber ?? 0) - (b.seriesNumber ?? 0)),
        ...(partial !== undefined ? { partial } : {}),
      };
      await access.record({
        action: 'query',
        outcome: 'success',
        description: `timeline: ${answer.series.length} series of a study listed for ${claims.organization.name}`,
        patient: { bsn: claims.bsn },
        objects: { studyInstanceUid: uid },
      });
      return reply.send(answer);
    },
  );

  app.post(
    '/timeline/v1/retrievals',
    partner('Send one study of the patient to the asking partner, through the exchange'),
    async (req, reply) => {
      const admitted = await admit(req, 'retrieve');
      const { claims, consentReference, access } = admitted;
      const uid = await patientsStudy(access, claims, 'retrieve');
      const { transferId } = await d.queueRetrieval({
        studyInstanceUid: uid,
        requesterUra: claims.organization.ura,
        consentReference,
        claims,
        ip: req.ip,
      });
      await access.record({
        action: 'retrieve',
        outcome: 'success',
        description: `timeline retrieval: study queued for ${claims.organization.name}`,
        patient: { bsn: claims.bsn },
        objects: { studyInstanceUid: uid, transferId },
      });
      return reply.code(202).send({ status: 'queued', transferId, studyInstanceUid: uid });
    },
  );
}
