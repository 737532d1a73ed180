import type { FastifyReply, FastifyRequest } from 'fastify';
import { BeeldbrugError } from '../errors/index.ts';
import type { HttpsApp } from '../http/index.ts';
import type { Logger } from '../log/index.ts';
import { decideRelease, type Party } from './consent-decision.ts';
import { registerConsentRoutes } from './consent-routes.ts';
import { locationBundleFromFhir, locationFromFhir, locationToFhir, operationOutcome, searchset } from './fhir.ts';
import { categoryParam, invalid, pseudonymParam } from './fhir-params.ts';
import { isPseudonym, PSEUDONYM_SYSTEM } from './pseudonym.ts';
import type { RateLimiter } from './rate-limiter.ts';
import { callingClient, type RegistryClientConfig } from './registry-clients.ts';
import type { RegistryStore } from './types.ts';

export interface RegistryRoutesDeps {
  store: RegistryStore;
  clients: readonly RegistryClientConfig[];
  limiter: RateLimiter;
  /** The query log: one line per question, who asked about which pseudonym and what the answer was. */
  queryLog: Logger;
}

const PURPOSES = ['treatment'] as const;

function caller(req: FastifyRequest): string {
  // The access check ran before any handler and set the partner from the certificate; only the URA is trusted.
  const ura = req.partner?.ura;
  if (ura === undefined) throw new Error('a registry route ran without a client organization');
  return ura;
}

export function registerRegistryRoutes(app: HttpsApp, d: RegistryRoutesDeps): void {
  const partner = { config: { access: 'partner' as const } };
  const careProviders = d.clients.filter((c) => c.role === 'care-provider');
  const types = new Map(careProviders.map((c) => [c.ura, c.type]));
  const names = new Map(careProviders.map((c) => [c.ura, c.name]));
  const party = (ura: string): Party => ({ ura, type: types.get(ura) });

  // Localization and the release question are for care providers; the patients' channel speaks only about consents.
  const refuseWrongRole = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const client = callingClient(req, d.clients);
    const consentRoute = req.routeOptions.url?.startsWith('/fhir/Consent') === true;
    if (client !== undefined && (consentRoute || client.role === 'care-provider')) return undefined;
    const why =
      client === undefined
        ? `the certificate of URA ${caller(req)} does not carry the common name its registry client entry names`
        : `URA ${client.ura} is the patients' channel here: it records consents and registers or asks nothing`;
    d.queryLog.warn({ client: caller(req), subject: client?.subject, route: req.routeOptions.url }, `refused: ${why}`);
    await reply
      .code(403)
      .type('application/fhir+json')
      .send(operationOutcome('forbidden', [why], 'REGISTRY_NOT_ALLOWED'));
    return reply;
  };

  app.addHook('preHandler', async (req, reply) => {
    if (req.routeOptions.config.access !== 'partner') return undefined;
    const ura = caller(req);
    const taken = d.limiter.take(ura);
    if (taken.allowed) return refuseWrongRole(req, reply);
    d.queryLog.warn({ client: ura, route: req.routeOptions.url }, 'rate limit: request refused');
    await reply
      .code(429)
      .header('retry-after', String(Math.ceil(taken.retryAfterMs / 1000)))
      .type('application/fhir+json')
      .send(operationOutcome('throttled', [`more than the allowed requests per second for URA ${ura}`]));
    return reply;
  });

  // Localization: register one (ITI-65-like), in bulk (a FHIR batch), remove, and search (ITI-67-like).
  app.post('/fhir/DocumentReference', partner, async (req, reply) => {
    const ura = caller(req);
    const parsed = locationFromFhir(req.body);
    if (!parsed.ok) return invalid(reply, parsed.issues);
    if (parsed.value.ura !== ura) {
      return reply
        .code(403)
        .type('application/fhir+json')
        .send(operationOutcome('forbidden', [`a node registers its own organization (URA ${ura}) as custodian`]));
    }
    const added = await d.store.addLocations([parsed.value], Date.now());
    d.queryLog.info(
      { op: 'register', client: ura, pseudonym: parsed.value.pseudonym.toString('base64url'), added },
      'localization registered',
    );
    return reply
      .code(added > 0 ? 201 : 200)
      .type('application/fhir+json')
      .send(
        locationToFhir(
          parsed.value.pseudonym,
          { ura, category: parsed.value.category, registeredAt: Date.now() },
          names.get(ura),
        ),
      );
  });

  app.post('/fhir', { ...partner, bodyLimit: 16 * 1024 * 1024 }, async (req, reply) => {
    const ura = caller(req);
    const parsed = locationBundleFromFhir(req.body);
    if (!parsed.ok) return invalid(reply, parsed.issues.slice(0, 20));
    const foreign = [...parsed.value.add, ...parsed.value.remove].find((e) => e.ura !== ura);
    if (foreign !== undefined) {
      return reply
        .code(403)
        .type('application/fhir+json')
        .send(
          operationOutcome('forbidden', [`a node registers its own organization (URA ${ura}), not ${foreign.ura}`]),
        );
    }
    const now = Date.now();
    const added = await d.store.addLocations(parsed.value.add, now);
    const removed = await d.store.removeLocations(parsed.value.remove);
    d.queryLog.info(
      {
        op: 'register-bulk',
        client: ura,
        entries: parsed.value.add.length + parsed.value.remove.length,
        added,
        removed,
      },
      'localizations registered in bulk',
    );
    return reply.type('application/fhir+json').send({
      resourceType: 'Bundle',
      type: 'batch-response',
      entry: [
        ...parsed.value.add.map(() => ({ response: { status: '200 OK' } })),
        ...parsed.value.remove.map(() => ({ response: { status: '204 No Content' } })),
      ],
      total: { added, removed },
    });
  });

  app.delete('/fhir/DocumentReference', partner, async (req, reply) => {
    const ura = caller(req);
    const q = req.query as Record<string, unknown>;
    const pseudonym = pseudonymParam(q['subject:identifier']);
    const category = categoryParam(q['category']);
    if (pseudonym === undefined || category === undefined)
      return invalid(reply, [`subject:identifier=${PSEUDONYM_SYSTEM}|<pseudonym> and an optional category=imaging`]);
    const removed = await d.store.removeLocations([{ pseudonym, ura, category }]);
    d.queryLog.info(
      { op: 'remove', client: ura, pseudonym: pseudonym.toString('base64url'), removed },
      'localization removed',
    );
    return reply.code(204).send();
  });

  app.get('/fhir/DocumentReference', partner, async (req, reply) => {
    const ura = caller(req);
    const q = req.query as Record<string, unknown>;
    const pseudonym = pseudonymParam(q['subject:identifier']);
    const category = categoryParam(q['category']);
    const purpose = q['purpose'] ?? 'treatment';
    if (pseudonym === undefined || category === undefined || !(PURPOSES as readonly unknown[]).includes(purpose)) {
      return invalid(reply, [
        `subject:identifier=${PSEUDONYM_SYSTEM}|<pseudonym>, optional category=imaging and purpose=treatment`,
      ]);
    }
    const now = Date.now();
    const { consents, locations } = await d.store.forLocalization(pseudonym);
    const requester = party(ura);
    // Only organizations the patient permits to release to this requester are named; the others stay unknown to it.
    const permitted = locations.filter(
      (l) =>
        l.category === category &&
        l.ura !== ura &&
        decideRelease(consents, { holder: party(l.ura), requester, category, at: now }).decision === 'permit',
    );
    d.queryLog.info(
      { op: 'locate', client: ura, pseudonym: q['subject:identifier'], purpose, answer: permitted.map((l) => l.ura) },
      'localization query',
    );
    return reply
      .type('application/fhir+json')
      .send(searchset(permitted.map((l) => locationToFhir(pseudonym, l, names.get(l.ura)))));
  });

  registerConsentRoutes(app, { store: d.store, clients: d.clients, queryLog: d.queryLog, partner });

  // The closed question (Mitz): may I, the holder, release this patient's data of this category to that requester?
  app.post('/authorization/v1/release-decisions', partner, async (req, reply) => {
    const ura = caller(req);
    const b = (req.body ?? {}) as {
      patient?: { pseudonym?: unknown };
      holder?: { ura?: unknown };
      requester?: { ura?: unknown };
      dataCategory?: unknown;
    };
    const p = b.patient?.pseudonym;
    const category = categoryParam(b.dataCategory);
    const requesterUra = b.requester?.ura;
    if (
      typeof p !== 'string' ||
      !isPseudonym(p) ||
      category === undefined ||
      typeof requesterUra !== 'string' ||
      !/^\d{8}$/.test(requesterUra)
    ) {
      throw new BeeldbrugError(
        'REQUEST_INVALID',
        'the body is { patient: { pseudonym }, holder: { ura }, requester: { ura }, dataCategory: "imaging" }',
      );
    }
    if (b.holder?.ura !== undefined && b.holder.ura !== ura) {
      throw new BeeldbrugError(
        'REGISTRY_NOT_ALLOWED',
        `only the holder asks about its own release (you are URA ${ura})`,
      );
    }
    const decision = decideRelease(await d.store.consentTermsOf(Buffer.from(p, 'base64url')), {
      holder: party(ura),
      requester: party(requesterUra),
      category,
      at: Date.now(),
    });
    const consentId = 'consentRow' in decision ? await d.store.consentIdOf(decision.consentRow) : undefined;
    const consentReference = consentId !== undefined ? `Consent/${consentId}` : undefined;
    d.queryLog.info(
      {
        op: 'release',
        client: ura,
        pseudonym: p,
        requester: requesterUra,
        answer: decision.decision,
        consent: consentReference,
      },
      'release question',
    );
    return reply.send({
      decision: decision.decision,
      ...(consentReference !== undefined ? { consentReference } : {}),
      ...(decision.decision === 'deny' ? { reason: decision.reason } : {}),
    });
  });
}
