import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { BeeldbrugError } from '../errors/index.ts';
import { decideIdentity, type PatientIdentityRule } from './patient-identity.ts';
import { bodyInvalid, type HttpsApp, PERSON_ROUTES, personNamedInBody, type RouteDoc } from '../http/index.ts';
import type { AccessGrounds, PatientData, PatientDataAccess } from '../studies/index.ts';
import { actingGrounds, importAbout, shownAbout } from './audit-events.ts';
import { type Inbox, type IncomingTransfer, type Rejection, TRANSFER_STATES } from './inbox.ts';
import type { Manifest } from './manifest.ts';

const acceptSchema = z.strictObject({
  destination: z.string().min(1).max(16).optional(),
});

const rejectSchema = z.strictObject({
  /** Why the study is refused (wrong patient, sent to the wrong hospital, duplicate): kept with the transfer. */
  reason: z.string().trim().min(1).max(1000),
});

const listQuery = z.strictObject({ state: z.enum(TRANSFER_STATES).optional() });
/** Waiting for one transfer to arrive: answer once it is no longer open, or after waitSeconds. */
const waitQuery = z.strictObject({ waitSeconds: z.coerce.number().min(0).max(25).default(0) });

const inboxDoc = (summary: string, more: Omit<RouteDoc, 'tag' | 'summary'> = {}): RouteDoc => ({
  tag: 'inbox',
  summary,
  ...more,
});

export interface InboxRouteDeps {
  inbox: Inbox;
  /** Every transfer shown is recorded through here in the name of who asked. */
  patientData: PatientData;
  /** This node's name, for the audit trail's access point. */
  node: string;
  /**
   * Imports a delivered transfer into a local PACS (a dimse peer with a port; the routing rules' forward destination
   * when none is named), through a patient-data access in the name of who accepted it. Returns the AE title it goes
   * to, or undefined when there is no such PACS. Calls `recordAcceptance` with that access once the PACS is known and
   * before anything is queued, so an acceptance the audit trail cannot hold imports nothing.
   */
  importInto: (
    transfer: IncomingTransfer,
    destination: string | undefined,
    acceptedBy: Pick<AccessGrounds, 'kind' | 'user' | 'responsibleUser'> & { ip: string },
    recordAcceptance: (access: PatientDataAccess, destination: string) => Promise<unknown>,
  ) => Promise<string | undefined>;
  /** The rule that names the patient in the local PACS, shown with each study. */
  identity: PatientIdentityRule;
}

/** How the study is (or would be) filed in the local PACS: as sent, under another id, or not at all and why. */
export type FiledAs =
  | { patientId: string; issuerOfPatientId?: string; refused?: never }
  | { refused: string; patientId?: never; issuerOfPatientId?: never };

/** What the API shows of an arrived or arriving study (GET /api/v1/inbox): the answer the workspace reads. */
export interface InboxView {
  transferId: string;
  /** The sender's URA. */
  from: string;
  state: IncomingTransfer['state'];
  purpose: Manifest['purpose'];
  urgency: Manifest['urgency'];
  reason: string;
  sender: Manifest['sender']['user'];
  /** The patient as the sender sent them, and how the local PACS files the study. */
  patient: Manifest['patient'] & { filedAs: FiledAs };
  study: Manifest['study'];
  instances: number;
  openedAt?: string;
  deliveredAt?: string | null;
  /** Who refused the held study, when and why. */
  rejection?: Rejection;
}

function filedAs(rule: PatientIdentityRule, p: Manifest['patient']): FiledAs {
  const d = decideIdentity(rule, { patientId: p.patientId, issuer: p.issuerOfPatientId ?? null, bsn: p.bsn ?? null });
  if (d.action === 'coerce') return { patientId: d.patientId, issuerOfPatientId: d.issuer };
  if (d.action === 'refuse') return { refused: d.reason };
  return {
    patientId: p.patientId,
    ...(p.issuerOfPatientId !== undefined ? { issuerOfPatientId: p.issuerOfPatientId } : {}),
  };
}

function view(
  t: IncomingTransfer & { openedAt?: string; deliveredAt?: string | null },
  rule: PatientIdentityRule,
): InboxView {
  const m = t.manifest;
  return {
    transferId: t.transferId,
    from: t.senderUra,
    state: t.state,
    purpose: m.purpose,
    urgency: m.urgency,
    reason: m.reason,
    sender: m.sender.user,
    // The sender's patient id and issuer as they sent them, and how the local PACS files the study.
    patient: { ...m.patient, filedAs: filedAs(rule, m.patient) },
    study: m.study,
    instances: m.instances.length,
    ...(t.openedAt !== undefined ? { openedAt: t.openedAt, deliveredAt: t.deliveredAt ?? null } : {}),
    ...(t.rejection !== undefined ? { rejection: t.rejection } : {}),
  };
}

/**
 * The receiving side for the hospital's own systems: GET /api/v1/inbox[?state=] lists arrived and arriving studies
 * (a study is 'delivered' only once all of it is here and verified); POST /api/v1/inbox/{transferId}/accept imports a
 * held study into the PACS.
 */
export function registerInboxRoutes(app: HttpsApp, d: InboxRouteDeps): void {
  app.get(
    '/api/v1/inbox',
    {
      config: {
        access: PERSON_ROUTES.inbox,
        doc: inboxDoc(
          "Arrived and arriving studies, newest first, with the sender's patient and how the PACS files it",
          {
            query: listQuery,
          },
        ),
      },
    },
    async (req) => {
      const q = listQuery.safeParse(req.query);
      if (!q.success) throw bodyInvalid(q.error);
      const state = q.data.state;
      const transfers = await d.inbox.list(state !== undefined ? { state } : {});
      // Recorded before anything is shown: a listing the trail cannot hold is not answered.
      await d.patientData.open(actingGrounds(req.acting, { node: d.node, ip: req.ip })).recordAll(
        transfers.map((t) =>
          shownAbout({
            action: 'query',
            description: `inbox listed: study from URA ${t.senderUra} (${t.state})`,
            transferId: t.transferId,
            studyInstanceUid: t.manifest.study.studyInstanceUid,
            patient: t.manifest.patient,
            grounds: t.manifest,
          }),
        ),
      );
      return { transfers: transfers.map((t) => view(t, d.identity)) };
    },
  );

  // One transfer, for a person or system waiting for a study to arrive: `?waitSeconds=N` answers once it is here and
  // no longer open (or after N seconds, at most 25), so the waiting costs one request and one audit record per look.
  app.get<{ Params: { transferId: string } }>(
    '/api/v1/inbox/:transferId',
    {
      config: {
        access: PERSON_ROUTES.inbox,
        doc: inboxDoc('One arriving transfer; with waitSeconds, answers once it is no longer open', {
          query: waitQuery,
          errors: ['TRANSFER_NOT_FOUND'],
        }),
      },
    },
    async (req) => {
      const q = waitQuery.safeParse(req.query);
      if (!q.success) throw bodyInvalid(q.error);
      const until = Date.now() + q.data.waitSeconds * 1000;
      let t = await d.inbox.find(req.params.transferId);
      // A study asked from another hospital a moment ago (a timeline retrieval) arrives as a transfer that its sender
      // opens here when its outbox gets to it: a wait covers that too, or the waiting person would be told "not found".
      while ((t === undefined || t.state === 'open') && Date.now() < until && !req.raw.destroyed) {
        await sleep(250);
        t = (await d.inbox.find(req.params.transferId)) ?? t;
      }
      if (t === undefined)
        throw new BeeldbrugError('TRANSFER_NOT_FOUND', `no arriving transfer ${req.params.transferId} here`);
      await d.patientData.open(actingGrounds(req.acting, { node: d.node, ip: req.ip })).record(
        shownAbout({
          action: 'read',
          description: `inbox transfer read: study from URA ${t.senderUra} (${t.state})`,
          transferId: t.transferId,
          studyInstanceUid: t.manifest.study.studyInstanceUid,
          patient: t.manifest.patient,
          grounds: t.manifest,
        }),
      );
      return view(t, d.identity);
    },
  );

  app.post<{ Params: { transferId: string } }>(
    '/api/v1/inbox/:transferId/accept',
    {
      config: {
        access: PERSON_ROUTES.accept,
        doc: inboxDoc('Import a held study into the PACS (the routing rule’s, or the one named)', {
          body: acceptSchema,
          errors: ['TRANSFER_NOT_FOUND', 'TRANSFER_NOT_DELIVERED', 'PACS_NOT_CONFIGURED'],
        }),
      },
    },
    async (req, reply) => {
      const { transfer, body } = await heldTransfer(req.params.transferId, req.body, acceptSchema);
      const who = actingGrounds(req.acting, { node: d.node, ip: req.ip });
      const user = who.user;
      const acceptedBy = {
        kind: who.kind,
        user,
        ...(who.responsibleUser !== undefined ? { responsibleUser: who.responsibleUser } : {}),
        ip: req.ip,
      };
      const destination = await d.importInto(transfer, body.destination, acceptedBy, (access, resolved) =>
        access.record(
          importAbout({
            destination: resolved,
            transferId: transfer.transferId,
            manifest: transfer.manifest,
            outcome: 'success',
            failed: 0,
            description: `held study accepted by ${user.name}${who.responsibleUser !== undefined ? ` for ${who.responsibleUser.name}` : ''} for import into the PACS ${resolved}`,
          }),
        ),
      );
      if (destination === undefined)
        throw new BeeldbrugError('PACS_NOT_CONFIGURED', 'name a destination: a dimse peer with a port');
      req.log.info({ transferId: transfer.transferId, destination, user: user.id }, 'held study accepted for import');
      return reply.code(202).send({ transferId: transfer.transferId, destination, state: 'importing' });
    },
  );

  // A held study refused (wrong patient, wrong hospital, a duplicate): the person's decision is recorded first, then
  // the node removes its copy in its own name with that person as the one responsible. The sender already holds a
  // receipt; telling them is the person's to do (the reason is kept and shown).
  app.post<{ Params: { transferId: string } }>(
    '/api/v1/inbox/:transferId/reject',
    {
      config: {
        access: PERSON_ROUTES.accept,
        doc: inboxDoc("Refuse a held study with a reason; the node's copy is removed", {
          body: rejectSchema,
          errors: ['TRANSFER_NOT_FOUND', 'TRANSFER_NOT_DELIVERED'],
        }),
      },
    },
    async (req) => {
      const { transfer, body } = await heldTransfer(req.params.transferId, req.body, rejectSchema);
      const who = actingGrounds(req.acting, { node: d.node, ip: req.ip });
      const person = who.responsibleUser ?? who.user;
      const reason = body.reason;
      await d.patientData.open(who).record(
        importAbout({
          destination: '',
          transferId: transfer.transferId,
          manifest: transfer.manifest,
          outcome: 'failure',
          failed: transfer.manifest.instances.length,
          description: `held study rejected by ${who.user.name}${who.responsibleUser !== undefined ? ` for ${who.responsibleUser.name}` : ''}, not imported: ${reason}`,
        }),
      );
      const rejection: Rejection = {
        by: { id: person.id, name: person.name },
        at: new Date().toISOString(),
        reason,
      };
      if (!(await d.inbox.reject(transfer.transferId, rejection))) {
        const now = (await d.inbox.find(transfer.transferId))?.state ?? transfer.state;
        throw new BeeldbrugError('TRANSFER_NOT_DELIVERED', `transfer ${transfer.transferId} is ${now}`, {
          members: { state: now },
        });
      }
      const purged = await d.patientData
        .open({
          kind: 'node-task',
          user: { id: 'system:inbox', name: 'inbox' },
          responsibleUser: { id: person.id, name: person.name },
          accessPoint: { node: d.node },
          purpose: 'retention',
          authorization: 'rejected by a person',
        })
        .purgeInstances(
          transfer.manifest.instances.map((i) => i.sopInstanceUid),
          (s) => `copy of a rejected study removed (${s.instances} instances, ${s.bytes} bytes)`,
        );
      req.log.info(
        { transferId: transfer.transferId, user: person.id, instances: purged.reduce((n, s) => n + s.instances, 0) },
        'held study rejected',
      );
      return view({ ...transfer, state: 'rejected', rejection }, d.identity);
    },
  );

  /** The transfer an accept or reject is about: it must wait in the inbox, and the body must be valid and name no one. */
  async function heldTransfer<T>(
    transferId: string,
    body: unknown,
    schema: z.ZodType<T>,
  ): Promise<{ transfer: IncomingTransfer; body: T }> {
    const named = personNamedInBody(body);
    if (named !== undefined) throw new BeeldbrugError('REQUEST_INVALID', named);
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw bodyInvalid(parsed.error);
    const transfer = await d.inbox.find(transferId);
    if (transfer === undefined)
      throw new BeeldbrugError('TRANSFER_NOT_FOUND', `no arriving transfer ${transferId} here`);
    if (transfer.state !== 'delivered')
      throw new BeeldbrugError('TRANSFER_NOT_DELIVERED', `transfer ${transfer.transferId} is ${transfer.state}`, {
        members: { state: transfer.state },
      });
    return { transfer, body: parsed.data };
  }
}
