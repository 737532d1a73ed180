import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { PartnerConfig } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { HttpsApp } from '../http/index.ts';
import type { AuditAbout, PatientData } from '../studies/index.ts';
import { Purpose, uid } from './manifest.ts';
import { OUTGOING_STATES, type Outbox, type OutgoingRequest, type OutgoingTransfer } from './outbox.ts';
import { findPartner, queueSend, type StudySource } from './queue-send.ts';
import { actingGrounds, shownAbout } from './audit-events.ts';
import {
  type Acting,
  actingUsers,
  bodyInvalid,
  PERSON_ROUTES,
  personNamedInBody,
  type RouteDoc,
} from '../http/index.ts';

const sendRequestSchema = z.strictObject({
  studyInstanceUid: uid,
  /** The partner's URA, or its name as exchange.partners spells it (what an operator types at the command line). */
  to: z.string().min(1).max(200),
  purpose: z.enum([Purpose.Transfer, Purpose.Consultation, Purpose.Internal]),
  urgency: z.enum(['routine', 'urgent']).default('routine'),
  reason: z.string().max(4000).default(''),
  consentReference: z.string().min(1).max(256).optional(),
});

/** What a person may send for (a retrieval is the timeline's, never asked for here): the send screen offers these. */
export type SendRequest = z.input<typeof sendRequestSchema>;

const listQuery = z.strictObject({ state: z.enum(OUTGOING_STATES).optional() });

/** Following one transfer: answer once it changed since `after` (its updatedAt as last seen), or after waitSeconds. */
const followQuery = z.strictObject({
  after: z.string().max(64).optional(),
  waitSeconds: z.coerce.number().min(0).max(25).default(0),
});

/** Retry and cancel take no body; an empty object is accepted for clients that always send one. */
const noBody = z.union([z.undefined(), z.null(), z.strictObject({})]);

const outboxDoc = (summary: string, more: Omit<RouteDoc, 'tag' | 'summary'> = {}): RouteDoc => ({
  tag: 'outbox',
  summary,
  ...more,
});

export interface OutboxRouteDeps {
  outbox: Outbox;
  /** Every transfer shown, and every send queued, is recorded through here in the name of who asked. */
  patientData: PatientData;
  node: string;
  partners: readonly PartnerConfig[];
  ourUra: string;
  /** The PACS, for a study the node does not hold. */
  source?: StudySource | undefined;
  /** Called after a transfer is queued (or queued again), so the worker starts at once instead of at its next look. */
  queued: () => void;
  /** Called after a person cancelled a transfer, so an attempt under way stops. */
  cancelled: (transferId: string) => void;
}

/** What the API shows of an outgoing transfer (GET /api/v1/outbox/:id): the answer the CLI and the workspace read. */
export interface OutboxView {
  transferId: string;
  studyInstanceUid: string;
  /** The partner's URA. */
  to: string;
  /** The partner's name as the node's configuration has it. */
  toName: string | null;
  purpose: OutgoingRequest['purpose'];
  urgency: OutgoingRequest['urgency'];
  state: OutgoingTransfer['state'];
  attempts: number;
  /** When the next attempt is due, while it waits. */
  nextAttemptAt: string | null;
  lastError: string | null;
  instances: number | null;
  needed: number | null;
  sent: number;
  bytesSent: number;
  /** The partner's signed receipt, once delivered. */
  receipt: string | null;
  /** Once delivered: what became of the study at the partner, as last asked (held, imported, rejected and why). */
  atReceiver: OutgoingTransfer['atReceiver'];
  createdAt: string;
  updatedAt: string;
}

function view(t: OutgoingTransfer, partners: readonly PartnerConfig[] = []): OutboxView {
  return {
    transferId: t.transferId,
    studyInstanceUid: t.request.studyInstanceUid,
    to: t.request.partnerUra,
    toName: partners.find((p) => p.ura === t.request.partnerUra)?.name ?? null,
    purpose: t.request.purpose,
    urgency: t.request.urgency,
    state: t.state,
    attempts: t.attempts,
    nextAttemptAt: t.state === 'queued' ? t.nextAttemptAt : null,
    lastError: t.lastError,
    instances: t.instances,
    needed: t.needed,
    sent: t.sent,
    bytesSent: t.bytesSent,
    receipt: t.receipt,
    atReceiver: t.atReceiver,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  };
}

/** The audit record of one outgoing transfer shown to whoever asked (a signed-in person, or one of our systems). */
function shown(t: OutgoingTransfer, action: 'query' | 'read', description: string): AuditAbout {
  return shownAbout({
    action,
    description,
    transferId: t.transferId,
    studyInstanceUid: t.request.studyInstanceUid,
    patient: t.request.patient,
    grounds: t.request,
  });
}

/**
 * Who asked for a send, as the outbox keeps it: the signed-in person; a system of ours in its own name; or the person a
 * system's verified assertion names, with the system beside them.
 */
export function requestedBy(acting: Acting | undefined): Pick<OutgoingRequest, 'user' | 'system'> {
  if (acting === undefined) throw new Error('a person route ran without who acts');
  const { user } = actingUsers(acting);
  if (acting.kind === 'person')
    return {
      user: { id: user.id, name: user.name, ...(user.roleCode !== undefined ? { roleCode: user.roleCode } : {}) },
    };
  const person = acting.onBehalfOf;
  if (person === undefined) return { user: { id: user.id, name: user.name } };
  return {
    user: { id: person.id, name: person.name, ...(person.roleCode !== undefined ? { roleCode: person.roleCode } : {}) },
    system: { id: user.id, name: user.name },
  };
}

/**
 * The sending API for people signed in to this node (the CLI after `beeldbrug login`, the web app) and the hospital's
 * own systems (RIS, EPD, by certificate): POST /api/v1/outbox queues a study for a partner;
 * GET /api/v1/outbox[/:transferId] shows the queue. Who asked comes from the session or the system's certificate
 * (with its assertion of a person), never from the body.
 */
export function registerOutboxRoutes(app: HttpsApp, d: OutboxRouteDeps): void {
  app.post(
    '/api/v1/outbox',
    {
      config: {
        access: PERSON_ROUTES.send,
        doc: outboxDoc('Queue a study for a partner hospital, with purpose, urgency and reason', {
          body: sendRequestSchema,
          errors: ['NOT_FOUND', 'PARTNER_UNKNOWN', 'CONSENT_REFERENCE_MISSING', 'INTERNAL_ACROSS_ORGANIZATIONS'],
        }),
      },
    },
    async (req, reply) => {
      const named = personNamedInBody(req.body);
      if (named !== undefined) throw new BeeldbrugError('REQUEST_INVALID', named);
      const parsed = sendRequestSchema.safeParse(req.body);
      if (!parsed.success) throw bodyInvalid(parsed.error);
      const b = parsed.data;
      const asker = requestedBy(req.acting);
      const transfer = await queueSend(
        d,
        req.acting?.kind === 'person' ? 'person' : 'own-system',
        { node: d.node, ip: req.ip },
        {
          studyInstanceUid: b.studyInstanceUid,
          partnerUra: findPartner(d.partners, b.to)?.ura ?? b.to,
          purpose: b.purpose,
          urgency: b.urgency,
          reason: b.reason,
          ...asker,
          ...(b.consentReference !== undefined ? { consentReference: b.consentReference } : {}),
        },
      );
      req.log.info(
        { transferId: transfer.transferId, to: b.to, purpose: b.purpose, urgency: b.urgency },
        'transfer queued',
      );
      d.queued();
      return reply.code(202).send(view(transfer, d.partners));
    },
  );

  app.get(
    '/api/v1/outbox',
    {
      config: {
        access: PERSON_ROUTES.outbox,
        doc: outboxDoc('Outgoing transfers, newest first, optionally by state', { query: listQuery }),
      },
    },
    async (req) => {
      const q = listQuery.safeParse(req.query);
      if (!q.success) throw bodyInvalid(q.error);
      const state = q.data.state;
      const transfers = await d.outbox.list(state !== undefined ? { state } : {});
      await d.patientData
        .open(actingGrounds(req.acting, { node: d.node, ip: req.ip }))
        .recordAll(
          transfers.map((t) =>
            shown(t, 'query', `outbox listed: transfer to URA ${t.request.partnerUra} (${t.state})`),
          ),
        );
      return { transfers: transfers.map((t) => view(t, d.partners)) };
    },
  );

  // `?after=<updatedAt>&waitSeconds=N` answers once the transfer has changed since the caller's last look (or after N
  // seconds): a client that follows a transfer gets one answer, and one audit record, per change instead of per poll.
  app.get<{ Params: { transferId: string } }>(
    '/api/v1/outbox/:transferId',
    {
      config: {
        access: PERSON_ROUTES.outbox,
        doc: outboxDoc("One outgoing transfer's progress and receipt; with `after`, waits for its next change", {
          query: followQuery,
          errors: ['TRANSFER_NOT_FOUND'],
        }),
      },
    },
    async (req) => {
      const q = followQuery.safeParse(req.query);
      if (!q.success) throw bodyInvalid(q.error);
      let t = await d.outbox.get(req.params.transferId);
      if (t === undefined)
        throw new BeeldbrugError('TRANSFER_NOT_FOUND', `no outgoing transfer ${req.params.transferId} here`);
      const waitMs = q.data.waitSeconds * 1000;
      const after = q.data.after;
      const until = Date.now() + waitMs;
      while (
        after !== undefined &&
        t.updatedAt === after &&
        (t.state === 'queued' || t.state === 'sending') &&
        Date.now() < until &&
        !req.raw.destroyed
      ) {
        await sleep(200);
        t = (await d.outbox.get(req.params.transferId)) ?? t;
      }
      await d.patientData
        .open(actingGrounds(req.acting, { node: d.node, ip: req.ip }))
        .record(shown(t, 'read', `outbox transfer read: to URA ${t.request.partnerUra} (${t.state})`));
      return view(t, d.partners);
    },
  );

  // A person retries a failed or cancelled send, or cancels one not yet delivered. The record is written before the
  // change, in the person's name: a change the trail cannot hold is not made.
  const change =
    (what: 'retry' | 'cancel') =>
    async (req: FastifyRequest<{ Params: { transferId: string } }>): Promise<OutboxView> => {
      const named = personNamedInBody(req.body);
      if (named !== undefined) throw new BeeldbrugError('REQUEST_INVALID', named);
      if (!noBody.safeParse(req.body).success) throw new BeeldbrugError('REQUEST_INVALID', `${what} takes no body`);
      const t = await d.outbox.get(req.params.transferId);
      if (t === undefined)
        throw new BeeldbrugError('TRANSFER_NOT_FOUND', `no outgoing transfer ${req.params.transferId} here`);
      const allowed: readonly OutgoingTransfer['state'][] =
        what === 'retry' ? ['failed', 'cancelled'] : ['queued', 'sending', 'failed'];
      const conflict = (state: OutgoingTransfer['state']) =>
        new BeeldbrugError(
          'TRANSFER_STATE_CONFLICT',
          `transfer ${t.transferId} is ${state}: only a ${allowed.join(', ')} send can be ${what === 'retry' ? 'retried' : 'cancelled'}`,
          { members: { state } },
        );
      if (!allowed.includes(t.state)) throw conflict(t.state);
      const who = actingGrounds(req.acting, { node: d.node, ip: req.ip });
      await d.patientData.open(who).record({
        ...shown(
          t,
          'read',
          what === 'retry'
            ? `send to URA ${t.request.partnerUra} queued again by ${who.user.name} (was ${t.state})`
            : `send to URA ${t.request.partnerUra} cancelled by ${who.user.name} (was ${t.state})`,
        ),
        action: 'send',
      });
      const changed =
        what === 'retry'
          ? await d.outbox.retry(t.transferId)
          : await d.outbox.cancel(t.transferId, `cancelled by ${who.user.name}`);
      const done = 'retried' in changed ? changed.retried : changed.cancelled;
      // The worker may have moved it on between the look and the change (delivered, say): answer what it is now.
      if (!done) throw conflict(changed.transfer?.state ?? t.state);
      if (what === 'retry') d.queued();
      else d.cancelled(t.transferId);
      req.log.info(
        { transferId: t.transferId, user: who.user.id },
        what === 'retry' ? 'send retried' : 'send cancelled',
      );
      return view(changed.transfer ?? t, d.partners);
    };
  const changeDoc = (summary: string) =>
    outboxDoc(summary, { body: noBody, errors: ['TRANSFER_NOT_FOUND', 'TRANSFER_STATE_CONFLICT'] });
  app.post(
    '/api/v1/outbox/:transferId/retry',
    { config: { access: PERSON_ROUTES.send, doc: changeDoc('Queue a failed or cancelled send again, due at once') } },
    change('retry'),
  );
  app.post(
    '/api/v1/outbox/:transferId/cancel',
    {
      config: {
        access: PERSON_ROUTES.send,
        doc: changeDoc('Stop a send not yet delivered (one under way stops at its next batch)'),
      },
    },
    change('cancel'),
  );
}
