import { z } from 'zod';
import { BeeldbrugError } from '../errors/index.ts';
import type { HttpsApp } from '../http/index.ts';
import { requester } from './claims.ts';
import type { TimelineService } from './timeline-service.ts';

const queryBody = z.strictObject({ bsn: z.string().min(1).max(32), requester, includeReports: z.boolean().default(false) });
const retrieveBody = z.strictObject({
  bsn: z.string().min(1).max(32),
  source: z.string().regex(/^\d{8}$/, 'the source organization URA, 8 digits'),
  studyInstanceUid: z.string().regex(/^[0-9.]{1,64}$/, 'a DICOM UID'),
  requester,
});

/**
 * The timeline API for the hospital's own systems (the CLI, the web UI, an EPD integration): ask for a patient's
 * studies elsewhere, and retrieve one. The person asking is named in the body; issue 5 puts sign-in in front of it.
 */
export function registerTimelineRoutes(app: HttpsApp, timeline: TimelineService): void {
  const own = { config: { access: 'own-organization' as const } };
  const problems = (e: z.ZodError): string[] => e.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);

  app.post('/api/v1/timeline', own, async (req, reply) => {
    const parsed = queryBody.safeParse(req.body);
    if (!parsed.success) return reply.code(400).send({ error: 'REQUEST_INVALID', problems: problems(parsed.error) });
    try {
      return await timeline.query(parsed.data, { ip: req.ip });
    } catch (err) {
      if (!(err instanceof BeeldbrugError)) throw err;
      return reply.code(err.httpStatus).send({ error: err.code, detail: err.message });
    }
  });

  app.post('/api/v1/timeline/retrievals', own, async (req, reply) => {
    const parsed = retrieveBody.safeParse(req.body);
    if (!parsed.success) return reply.code(400).send({ error: 'REQUEST_INVALID', problems: problems(parsed.error) });
    const b = parsed.data;
    try {
      const r = await timeline.retrieve({ bsn: b.bsn, sourceUra: b.source, studyInstanceUid: b.studyInstanceUid, requester: b.requester }, { ip: req.ip });
      return await reply.code(202).send(r);
    } catch (err) {
      if (!(err instanceof BeeldbrugError)) throw err;
      return reply.code(err.httpStatus).send({ error: err.code, detail: err.message });
    }
  });
}
