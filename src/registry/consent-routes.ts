import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HttpsApp } from '../http/index.ts';
import type { Logger } from '../log/index.ts';
import { type ConsentAccess, decideConsentAccess } from './consent-access.ts';
import { consentFromFhir, consentToFhir, operationOutcome, searchset } from './fhir.ts';
import { PSEUDONYM_SYSTEM } from './pseudonym.ts';
import { type CallingClient, callingClient, type RegistryClientConfig } from './registry-clients.ts';
import { invalid, pseudonymParam } from './fhir-params.ts';
import type { ChangedBy, ConsentRecord, RegistryStore } from './types.ts';

export interface ConsentRoutesDeps {
  store: RegistryStore;
  clients: readonly RegistryClientConfig[];
  queryLog: Logger;
  partner: { config: { access: 'partner' } };
}

const fhir = 'application/fhir+json';

/** A random id (22 characters of base64url) or, for a consent recorded before random ids, its old number. */
const CONSENT_ID = /^(?:[A-Za-z0-9_-]{22}|[1-9]\d{0,15})$/;

function consentIdParam(req: FastifyRequest): string | undefined {
  const id = (req.params as { id?: string }).id ?? '';
  return CONSENT_ID.test(id) ? id : undefined;
}

function notFound(reply: FastifyReply): FastifyReply {
  return reply
    .code(404)
    .type(fhir)
    .send(operationOutcome('not-found', ['no such consent'], 'NOT_FOUND'));
}

/** The answer to a refused access; a consent of someone else's is answered exactly as one that does not exist. */
function refused(reply: FastifyReply, d: Exclude<ConsentAccess, { allow: true }>): FastifyReply {
  if (d.reason === 'not-found') return notFound(reply);
  if (d.reason === 'revoked')
    return reply
      .code(409)
      .type(fhir)
      .send(operationOutcome('conflict', [d.detail], 'CONSENT_REVOKED'));
  if (d.reason === 'other-patient')
    return reply
      .code(400)
      .type(fhir)
      .send(operationOutcome('invalid', [d.detail], 'REQUEST_INVALID'));
  return reply
    .code(403)
    .type(fhir)
    .send(operationOutcome('forbidden', [d.detail], 'REGISTRY_NOT_ALLOWED'));
}

function channelOf(client: CallingClient): ConsentRecord['channel'] {
  return client.role === 'patient-portal' ? 'patient-portal' : 'care-provider';
}

/** Who the log line and the change history name: the client's organization and system, and its role. */
function logged(client: CallingClient): { client: string; subject: string; channel: ConsentRecord['channel'] } {
  return { client: client.ura, subject: client.subject, channel: channelOf(client) };
}

/**
 * Consent: record, list, read, change, revoke, and a consent's history. Who may do what is `decideConsentAccess`; every
 * question and every change gets a log line naming the client (URA and certificate subject), and every change a row
 * in the consent's stored history.
 */
export function registerConsentRoutes(app: HttpsApp, d: ConsentRoutesDeps): void {
  const { partner } = d;
  // The preHandler hook has refused requests that match no client entry, so there always is one here.
  const clientOf = (req: FastifyRequest): CallingClient => {
    const client = callingClient(req, d.clients);
    if (client === undefined) throw new Error('a consent route ran without a registry client');
    return client;
  };

  app.post('/fhir/Consent', partner, async (req, reply) => {
    const client = clientOf(req);
    const parsed = consentFromFhir(
      req.body,
      { ura: client.ura, subject: client.subject, channel: channelOf(client) },
      Date.now(),
    );
    if (!parsed.ok) return invalid(reply, parsed.issues);
    const { consent, claimedChannel } = parsed.value;
    const access = decideConsentAccess(client, { kind: 'record', terms: consent, claimedChannel });
    if (!access.allow) {
      d.queryLog.warn(
        {
          op: 'consent-record',
          ...logged(client),
          pseudonym: consent.pseudonym.toString('base64url'),
          refused: access.reason,
        },
        'consent refused',
      );
      return refused(reply, access);
    }
    const c = await d.store.addConsent(consent);
    d.queryLog.info(
      {
        op: 'consent-record',
        ...logged(client),
        pseudonym: c.pseudonym.toString('base64url'),
        consent: c.id,
        decision: c.decision,
      },
      'consent recorded',
    );
    return reply.code(201).header('location', `/fhir/Consent/${c.id}`).type(fhir).send(consentToFhir(c));
  });

  app.get('/fhir/Consent', partner, async (req, reply) => {
    const client = clientOf(req);
    const q = req.query as Record<string, unknown>;
    const pseudonym = pseudonymParam(q['patient:identifier']);
    if (pseudonym === undefined) return invalid(reply, [`patient:identifier=${PSEUDONYM_SYSTEM}|<pseudonym>`]);
    // A care provider sees the consents it recorded; which others the patient permitted or denied is not its business.
    const consents = (await d.store.consentsOf(pseudonym)).filter(
      (c) => decideConsentAccess(client, { kind: 'read', consent: c }).allow,
    );
    d.queryLog.info(
      { op: 'consent-list', ...logged(client), pseudonym: pseudonym.toString('base64url'), answer: consents.length },
      'consents listed',
    );
    return reply.type(fhir).send(searchset(consents.map(consentToFhir)));
  });

  /** The consent of the request's id if this client may `kind` it; else the answer is sent and undefined returned. */
  const mine = async (
    req: FastifyRequest,
    reply: FastifyReply,
    client: CallingClient,
    kind: 'read' | 'revoke',
  ): Promise<ConsentRecord | undefined> => {
    const id = consentIdParam(req);
    const c = id !== undefined ? await d.store.consent(id) : undefined;
    const access: ConsentAccess =
      c !== undefined
        ? decideConsentAccess(client, { kind, consent: c })
        : { allow: false, reason: 'not-found', detail: 'no such consent' };
    if (access.allow) return c;
    // The log says whether it exists: the registry's operator may see a client probing others' consents.
    d.queryLog.warn(
      { op: `consent-${kind}`, ...logged(client), consent: id, exists: c !== undefined, refused: access.reason },
      `consent ${kind} refused`,
    );
    refused(reply, access);
    return undefined;
  };

  app.get('/fhir/Consent/:id', partner, async (req, reply) => {
    const client = clientOf(req);
    const c = await mine(req, reply, client, 'read');
    if (c === undefined) return reply;
    d.queryLog.info({ op: 'consent-read', ...logged(client), consent: c.id }, 'consent read');
    return reply.type(fhir).send(consentToFhir(c));
  });

  app.get('/fhir/Consent/:id/_history', partner, async (req, reply) => {
    const client = clientOf(req);
    const c = await mine(req, reply, client, 'read');
    if (c === undefined) return reply;
    const history = await d.store.consentHistory(c.id);
    const { revokedAt: _revokedAt, ...unrevoked } = c;
    d.queryLog.info(
      { op: 'consent-history', ...logged(client), consent: c.id, answer: history.length },
      'consent history read',
    );
    return reply.type(fhir).send({
      resourceType: 'Bundle',
      type: 'history',
      total: history.length,
      entry: history.map((h, i) => ({
        resource: consentToFhir({
          ...unrevoked,
          ...h.terms,
          ...(h.terms.status === 'inactive' ? { revokedAt: h.at } : {}),
        }),
        request: {
          method: h.change === 'create' ? 'POST' : h.change === 'update' ? 'PUT' : 'DELETE',
          url: `Consent/${c.id}`,
        },
        response: {
          status: h.change === 'create' ? '201' : '200',
          lastModified: new Date(h.at).toISOString(),
          etag: `W/"${i + 1}"`,
        },
        // Who made the change: the client's organization and system, its channel, and the person it named.
        extension: [
          {
            url: 'urn:beeldbrug:fhir:changed-by',
            valueString: `URA ${h.by.ura}, ${h.by.subject}, ${h.by.channel}, ${h.by.performer.name}`,
          },
        ],
      })),
    });
  });

  app.put('/fhir/Consent/:id', partner, async (req, reply) => {
    const client = clientOf(req);
    const id = consentIdParam(req);
    const existing = id !== undefined ? await d.store.consent(id) : undefined;
    const now = Date.now();
    const parsed = consentFromFhir(
      req.body,
      { ura: client.ura, subject: client.subject, channel: channelOf(client) },
      now,
    );
    // Someone else's consent is not found whatever the body says, so a bad body cannot tell that it exists.
    if (existing === undefined || !decideConsentAccess(client, { kind: 'read', consent: existing }).allow) {
      d.queryLog.warn(
        { op: 'consent-change', ...logged(client), consent: id, exists: existing !== undefined, refused: 'not-found' },
        'consent change refused',
      );
      return notFound(reply);
    }
    if (!parsed.ok) return invalid(reply, parsed.issues);
    const { consent: terms, claimedChannel } = parsed.value;
    const access = decideConsentAccess(client, { kind: 'change', consent: existing, terms, claimedChannel });
    if (!access.allow) {
      d.queryLog.warn(
        { op: 'consent-change', ...logged(client), consent: existing.id, refused: access.reason },
        'consent change refused',
      );
      return refused(reply, access);
    }
    const by: ChangedBy = {
      ura: client.ura,
      subject: client.subject,
      channel: channelOf(client),
      performer: { id: terms.recordedBy.id, name: terms.recordedBy.name },
    };
    const changed = await d.store.changeConsent(existing.id, terms, by, now);
    // Revoked between the check and the change (another worker): the revocation stands.
    if (changed === undefined || changed.status !== 'active')
      return refused(reply, {
        allow: false,
        reason: 'revoked',
        detail: 'a revoked consent stays as it was; record a new one',
      });
    d.queryLog.info(
      {
        op: 'consent-change',
        ...logged(client),
        pseudonym: changed.pseudonym.toString('base64url'),
        consent: changed.id,
        decision: changed.decision,
      },
      'consent changed',
    );
    return reply.type(fhir).send(consentToFhir(changed));
  });

  app.post('/fhir/Consent/:id/$revoke', partner, async (req, reply) => {
    const client = clientOf(req);
    const c = await mine(req, reply, client, 'revoke');
    if (c === undefined) return reply;
    // The revoking person is not named in a $revoke without a body; the client system is, from its certificate.
    const revoked = await d.store.revokeConsent(c.id, Date.now(), {
      ura: client.ura,
      subject: client.subject,
      channel: channelOf(client),
      performer: { id: '', name: '' },
    });
    if (revoked === undefined) return notFound(reply);
    d.queryLog.info(
      {
        op: 'consent-revoke',
        ...logged(client),
        pseudonym: revoked.pseudonym.toString('base64url'),
        consent: revoked.id,
      },
      'consent revoked',
    );
    return reply.type(fhir).send(consentToFhir(revoked));
  });
}
