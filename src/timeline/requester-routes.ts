import { z } from 'zod';
import { BeeldbrugError } from '../errors/index.ts';
import {
  type Acting,
  actingPerson,
  bodyInvalid,
  type HttpsApp,
  PERSON_ROUTES,
  personNamedInBody,
} from '../http/index.ts';
import { requester } from './claims.ts';
import type { TimelineAsker, TimelineService } from './timeline-service.ts';

const queryBody = z.strictObject({ bsn: z.string().min(1).max(32), includeReports: z.boolean().default(false) });
const retrieveBody = z.strictObject({
  bsn: z.string().min(1).max(32),
  source: z
    .string()
    .regex(
      /^(\d{8}|urn:oid:[0-2](\.\d+)+)$/,
      'the source: an organization URA (8 digits), or an XCA home community id',
    ),
  studyInstanceUid: z.string().regex(/^[0-9.]{1,64}$/, 'a DICOM UID'),
});

/**
 * The practitioner the signed claims name to the sources: the signed-in person, or the person a system's verified
 * assertion names; with the system that asked for them, when one did. A person without a UZI role code cannot ask:
 * the sources' audit trails must say what profession asked, and the node does not guess it.
 */
function requesterOf(acting: Acting | undefined): { ok: true; asker: TimelineAsker } | { ok: false; detail: string } {
  const person = acting !== undefined ? actingPerson(acting) : undefined;
  if (acting === undefined || person === undefined)
    return {
      ok: false,
      detail: "the timeline is asked for a person: sign in, or pass the identity provider's assertion of the person",
    };
  const r = requester.safeParse({ practitionerId: person.id, name: person.name, roleCode: person.roleCode });
  if (!r.success) {
    return {
      ok: false,
      detail:
        person.roleCode === undefined
          ? `${person.name} has no UZI role code: an admin records it with the account (beeldbrug user add --uzi-role, or the identity provider's role claim)`
          : `the signed-in person cannot be named to other hospitals: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    };
  }
  const system =
    acting.kind === 'system'
      ? {
          id: `system:${acting.system.commonName}`,
          name: `${acting.system.commonName} (${acting.system.organization})`,
        }
      : undefined;
  return { ok: true, asker: { kind: 'person', requester: r.data, ...(system !== undefined ? { system } : {}) } };
}

/**
 * The timeline API for people signed in to this node (the CLI after `beeldbrug login`, the web app), and for the
 * hospital's own systems (an EPD integration) acting for a person its identity provider vouches for: ask for a patient's
 * studies elsewhere, and retrieve one. Who asks comes from the session or the assertion, never from the body.
 */
export function registerTimelineRoutes(app: HttpsApp, timeline: TimelineService): void {
  app.post(
    '/api/v1/timeline',
    {
      config: {
        access: PERSON_ROUTES.timeline,
        doc: {
          tag: 'timeline',
          summary:
            "A patient's studies at every hospital the registry names and consent permits, each source's status beside",
          body: queryBody,
          errors: ['BSN_INVALID', 'REQUESTER_UNNAMED', 'REGISTRY_UNREACHABLE'],
        },
      },
    },
    async (req) => {
      const named = personNamedInBody(req.body);
      if (named !== undefined) throw new BeeldbrugError('REQUEST_INVALID', named);
      const parsed = queryBody.safeParse(req.body);
      if (!parsed.success) throw bodyInvalid(parsed.error);
      const who = requesterOf(req.acting);
      if (!who.ok) throw new BeeldbrugError('REQUESTER_UNNAMED', who.detail);
      // A BeeldbrugError leaves through the one error handler, as problem details.
      return timeline.query({ ...parsed.data, asker: who.asker }, { ip: req.ip });
    },
  );

  app.post(
    '/api/v1/timeline/retrievals',
    {
      config: {
        access: PERSON_ROUTES.retrieve,
        doc: {
          tag: 'timeline',
          summary:
            'Ask a source hospital to send one study of the timeline here (it arrives in the inbox), or bring it from an XCA community',
          body: retrieveBody,
          errors: ['BSN_INVALID', 'REQUESTER_UNNAMED', 'PARTNER_UNREACHABLE'],
        },
      },
    },
    async (req, reply) => {
      const named = personNamedInBody(req.body);
      if (named !== undefined) throw new BeeldbrugError('REQUEST_INVALID', named);
      const parsed = retrieveBody.safeParse(req.body);
      if (!parsed.success) throw bodyInvalid(parsed.error);
      const who = requesterOf(req.acting);
      if (!who.ok) throw new BeeldbrugError('REQUESTER_UNNAMED', who.detail);
      const b = parsed.data;
      const community = timeline.community(b.source);
      if (community !== undefined) {
        const got = await timeline.retrieveFromCommunity(
          { bsn: b.bsn, community, studyInstanceUid: b.studyInstanceUid, asker: who.asker },
          { ip: req.ip },
        );
        return reply.code(200).send({ status: 'retrieved', studyInstanceUid: b.studyInstanceUid, ...got });
      }
      const r = await timeline.retrieve(
        {
          bsn: b.bsn,
          sourceUra: b.source,
          studyInstanceUid: b.studyInstanceUid,
          asker: who.asker,
        },
        { ip: req.ip },
      );
      return reply.code(202).send(r);
    },
  );
}
