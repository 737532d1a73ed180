import { z } from 'zod';
import type { PartnerConfig } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { FastifyRequest } from 'fastify';
import type { AuditEvent, AuditTrail } from '../audit/index.ts';
import type { HttpsApp } from '../http/index.ts';
import type { StudyService } from '../studies/index.ts';
import { Purpose, uid } from './manifest.ts';
import type { Outbox, OutgoingTransfer } from './outbox.ts';
import { queueSend, type StudySource } from './queue-send.ts';
import { shownEvent, systemUser } from './audit-events.ts';

const sendRequestSchema = z.strictObject({
  studyInstanceUid: uid,
  to: z.string().regex(/^\d{8}$/, 'the partner URA, 8 digits'),
  purpose: z.enum([Purpose.Transfer, Purpose.Consultation, Purpose.Internal]),
  urgency: z.enum(['routine', 'urgent']).default('routine'),
  reason: z.string().max(4000).default(''),
  user: z.strictObject({ id: z.string().min(1).max(64), name: z.string().min(1).max(200), roleCode: z.string().max(16).optional() }),
  consentReference: z.string().min(1).max(256).optional(),
});

export interface OutboxRouteDeps {
  outbox: Outbox;
  studies: StudyService;
  audit: AuditTrail;
  node: string;
  partners: readonly PartnerConfig[];
  ourUra: string;
  /** The PACS, for a study the node does not hold. */
  source?: StudySource | undefined;
  /** Called after a transfer is queued, so the worker starts at once instead of at its next look. */
  queued: () => void;
}

/** What the API shows of an outgoing transfer: its state and counts, not the receipt's bytes unless delivered. */
function view(t: OutgoingTransfer): Record<string, unknown> {
  return {
    transferId: t.transferId,
    studyInstanceUid: t.request.studyInstanceUid,
    to: t.request.partnerUra,
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
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  };
}

/** The audit record of one outgoing transfer shown to one of our systems. */
function shown(d: OutboxRouteDeps, req: FastifyRequest, t: OutgoingTransfer, action: 'query' | 'read', description: string): AuditEvent {
  return shownEvent({
    at: { node: d.node, ip: req.ip },
    user: systemUser(req.system),
    action,
    description,
    transferId: t.transferId,
    studyInstanceUid: t.request.studyInstanceUid,
    patient: t.request.patient,
    grounds: t.request,
  });
}

/**
 * The sending API for the hospital's own systems (RIS, EPD, the CLI with the node's certificate):
 * POST /api/v1/outbox queues a study for a partner; GET /api/v1/outbox[/:transferId] shows the queue.
 */
export function registerOutboxRoutes(app: HttpsApp, d: OutboxRouteDeps): void {
  app.post('/api/v1/outbox', { config: { access: 'own-organization' } }, async (req, reply) => {
    const parsed = sendRequestSchema.safeParse(req.body);
    if (!parsed.success) {
      return reply.code(400).send({ error: 'request-invalid', problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`) });
    }
    const b = parsed.data;
    try {
      const transfer = await queueSend(d, { actor: { kind: 'user', id: b.user.id, name: b.user.name }, purpose: 'exchange' }, { node: d.node, ip: req.ip }, {
        studyInstanceUid: b.studyInstanceUid,
        partnerUra: b.to,
        purpose: b.purpose,
        urgency: b.urgency,
        reason: b.reason,
        user: { id: b.user.id, name: b.user.name, ...(b.user.roleCode !== undefined ? { roleCode: b.user.roleCode } : {}) },
        ...(b.consentReference !== undefined ? { consentReference: b.consentReference } : {}),
      });
      req.log.info({ transferId: transfer.transferId, to: b.to, purpose: b.purpose, urgency: b.urgency }, 'transfer queued');
      d.queued();
      return reply.code(202).send(view(transfer));
    } catch (err) {
      if (!(err instanceof BeeldbrugError)) throw err;
      return reply.code(err.httpStatus).send({ error: err.code, detail: err.message });
    }
  });

  app.get<{ Querystring: { state?: string } }>('/api/v1/outbox', { config: { access: 'own-organization' } }, async (req, reply) => {
    const state = req.query.state;
    if (state !== undefined && !['queued', 'sending', 'delivered', 'failed'].includes(state)) {
      return reply.code(400).send({ error: 'request-invalid', problems: ['state: one of queued, sending, delivered, failed'] });
    }
    const transfers = d.outbox.list(state !== undefined ? { state: state as OutgoingTransfer['state'] } : {});
    d.audit.recordAll(transfers.map((t) => shown(d, req, t, 'query', `outbox listed: transfer to URA ${t.request.partnerUra} (${t.state})`)));
    return { transfers: transfers.map(view) };
  });

  app.get<{ Params: { transferId: string } }>('/api/v1/outbox/:transferId', { config: { access: 'own-organization' } }, async (req, reply) => {
    const t = d.outbox.get(req.params.transferId);
    if (t === undefined) return reply.code(404).send({ error: 'transfer-not-found' });
    d.audit.record(shown(d, req, t, 'read', `outbox transfer read: to URA ${t.request.partnerUra} (${t.state})`));
    return view(t);
  });
}
