import { PACKED_INSTANCE_TYPE } from './upload-route.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { HttpsApp } from '../http/index.ts';
import { receivedAbout, receivingAbout, receivingGrounds } from './audit-events.ts';
import type { PatientData, PatientDataAccess } from '../studies/index.ts';
import type { IncomingTransfer, Inbox } from './inbox.ts';
import { manifestSchema, parseManifest } from './manifest.ts';
import { decidePurpose } from './purpose-decision.ts';
import { signReceipt } from './receipt.ts';

/** A manifest of 100,000 instances is about 30 MB of JSON; more is not a study. */
const MANIFEST_LIMIT_BYTES = 64 * 1024 * 1024;

export interface TransferRouteDeps {
  inbox: Inbox;
  /** What the node already holds, and every record of the transfer, go through here in the partner's name. */
  patientData: PatientData;
  /** This node's name, for the audit trail's access point. */
  node: string;
  /** Told once a transfer is complete and verified, e.g. to import it into the PACS. */
  onDelivered?: (transfer: IncomingTransfer) => void;
  /** Told when a partner opens or resumes a transfer (its manifest is known). */
  onOpened?: (transfer: IncomingTransfer) => Promise<void>;
  us: { name: string; ura: string };
  /** Our node key and certificate, which sign receipts. */
  signer: { keyPem: string | Buffer; certPem: string | Buffer };
}

/** The instances of a transfer this node does not yet hold verified: not received in it, nor held with the same digest. */
async function stillNeeded(
  d: TransferRouteDeps,
  transfer: IncomingTransfer,
  access: PatientDataAccess,
): Promise<string[]> {
  const received = await d.inbox.received(transfer.transferId);
  const held = await access.heldWithDigest(transfer.manifest.instances.filter((i) => !received.has(i.sopInstanceUid)));
  return transfer.manifest.instances.map((i) => i.sopInstanceUid).filter((uid) => !received.has(uid) && !held.has(uid));
}

/** What an upload's parts may be besides application/dicom: the sender packs only what is listed here. */
const PART_TYPES = [PACKED_INSTANCE_TYPE];

/** The partner's access to one transfer, in the name of the user its manifest names. */
function accessFor(
  d: TransferRouteDeps,
  ip: string,
  sender: { ura: string; name: string },
  manifest: IncomingTransfer['manifest'],
): PatientDataAccess {
  return d.patientData.open(
    receivingGrounds({ at: { node: d.node, ip }, senderUra: sender.ura, senderName: sender.name, manifest }),
  );
}

/**
 * POST /exchange/v1/transfers (docs/exchange-protocol.md, step 1): a partner opens or resumes a transfer; the answer
 * lists the instances this node still needs. The sending organization is the one in the client certificate, never
 * one named in the body.
 */
export function registerTransferRoutes(app: HttpsApp, d: TransferRouteDeps): void {
  app.post(
    '/exchange/v1/transfers',
    {
      config: {
        access: 'partner',
        doc: {
          tag: 'exchange',
          summary: 'Open or resume a transfer with its manifest; the answer lists the instances still needed',
          body: manifestSchema,
          errors: ['MANIFEST_INVALID', 'TRANSFER_ID_CONFLICT', 'CONSENT_REFERENCE_MISSING'],
        },
      },
      bodyLimit: MANIFEST_LIMIT_BYTES,
    },
    async (req, reply) => {
      const partner = req.partner;
      if (partner === undefined)
        throw new BeeldbrugError('ACCESS_DENIED', "your organization is not on this node's trust list", {
          members: { reason: 'organization-not-trusted' },
        });
      const parsed = parseManifest(req.body);
      if (!parsed.ok)
        throw new BeeldbrugError('MANIFEST_INVALID', parsed.problems.join('; '), {
          members: { problems: parsed.problems },
        });
      const manifest = parsed.manifest;
      const purpose = decidePurpose({
        purpose: manifest.purpose,
        consentReference: manifest.consentReference,
        senderUra: partner.ura,
        receiverUra: d.us.ura,
      });
      if (!purpose.accept) {
        req.log.warn(
          { transferId: manifest.transferId, sender: partner.ura, reason: purpose.reason },
          'transfer refused',
        );
        throw new BeeldbrugError(
          purpose.reason === 'consent-reference-missing'
            ? 'CONSENT_REFERENCE_MISSING'
            : 'INTERNAL_ACROSS_ORGANIZATIONS',
          purpose.detail,
          { members: { reason: purpose.reason } },
        );
      }
      const opened = await d.inbox.open(manifest, partner.ura);
      if (opened.outcome === 'conflict') throw new BeeldbrugError('TRANSFER_ID_CONFLICT', opened.detail);
      const access = accessFor(d, req.ip, partner, manifest);
      const needed = await stillNeeded(d, opened.transfer, access);
      await access.record(
        receivingAbout({
          transferId: manifest.transferId,
          manifest,
          action: 'receive',
          description: `transfer ${opened.outcome === 'created' ? 'announced' : 'resumed'} by ${partner.name}: ${manifest.instances.length} instances, ${needed.length} still needed`,
        }),
      );
      await d.onOpened?.(opened.transfer);
      req.log.info(
        {
          transferId: manifest.transferId,
          sender: partner.ura,
          purpose: manifest.purpose,
          instances: manifest.instances.length,
          needed: needed.length,
          outcome: opened.outcome,
        },
        'transfer opened',
      );
      return reply
        .code(opened.outcome === 'created' ? 201 : 200)
        .send({ transferId: manifest.transferId, state: opened.transfer.state, needed, partTypes: PART_TYPES });
    },
  );

  app.get<{ Params: { transferId: string } }>(
    '/exchange/v1/transfers/:transferId',
    {
      config: {
        access: 'partner',
        doc: {
          tag: 'exchange',
          summary: "A transfer's state as its sender sees it, with the instances still needed",
          errors: ['TRANSFER_NOT_FOUND'],
        },
      },
    },
    async (req) => {
      const transfer =
        req.partner !== undefined ? await d.inbox.get(req.params.transferId, req.partner.ura) : undefined;
      if (transfer === undefined)
        throw new BeeldbrugError(
          'TRANSFER_NOT_FOUND',
          `no transfer ${req.params.transferId} of your organization here`,
        );
      const sender = req.partner?.name ?? transfer.senderUra;
      const access = accessFor(d, req.ip, { ura: transfer.senderUra, name: sender }, transfer.manifest);
      const needed = transfer.state === 'open' ? await stillNeeded(d, transfer, access) : [];
      await access.record(
        receivingAbout({
          transferId: transfer.transferId,
          manifest: transfer.manifest,
          action: 'read',
          description: `transfer state read by ${sender}: ${transfer.state}, ${needed.length} still needed`,
        }),
      );
      // A rejected study's sender is told why (not by whom: that stays in this hospital's own trail).
      return {
        transferId: transfer.transferId,
        state: transfer.state,
        needed,
        ...(transfer.rejection !== undefined
          ? { rejection: { at: transfer.rejection.at, reason: transfer.rejection.reason } }
          : {}),
      };
    },
  );

  app.post<{ Params: { transferId: string } }>(
    '/exchange/v1/transfers/:transferId/commit',
    {
      config: {
        access: 'partner',
        doc: {
          tag: 'exchange',
          summary: 'Commit a complete transfer: the signed receipt (the same one again for a repeated commit)',
          errors: ['TRANSFER_NOT_FOUND', 'TRANSFER_INCOMPLETE'],
        },
      },
    },
    async (req) => {
      const transfer =
        req.partner !== undefined ? await d.inbox.get(req.params.transferId, req.partner.ura) : undefined;
      if (transfer === undefined)
        throw new BeeldbrugError(
          'TRANSFER_NOT_FOUND',
          `no transfer ${req.params.transferId} of your organization here`,
        );
      // A commit repeated after the receipt was given (a lost answer) gets the same receipt, whatever became of the study.
      const given = await d.inbox.receiptOf(transfer.transferId);
      if (given !== undefined) return { receipt: given };
      const senderName = req.partner?.name ?? transfer.senderUra;
      const access = accessFor(d, req.ip, { ura: transfer.senderUra, name: senderName }, transfer.manifest);
      const missing = await stillNeeded(d, transfer, access);
      if (missing.length > 0)
        throw new BeeldbrugError('TRANSFER_INCOMPLETE', `${missing.length} instances are still missing`, {
          members: { missing },
        });
      const receipt = await signReceipt(
        {
          transferId: transfer.transferId,
          studyInstanceUid: transfer.manifest.study.studyInstanceUid,
          instances: transfer.manifest.instances.map((i) => ({ sopInstanceUid: i.sopInstanceUid, sha256: i.sha256 })),
          receivedAt: new Date().toISOString(),
          receiver: { ura: d.us.ura, name: d.us.name },
          sender: { ura: transfer.senderUra },
        },
        d.signer,
      );
      // Signing yields to other requests: a commit of the same transfer that finished meanwhile has the receipt already.
      if ((await d.inbox.get(transfer.transferId, transfer.senderUra))?.state === 'delivered')
        return { receipt: await d.inbox.receiptOf(transfer.transferId) };
      // Recorded before anything is confirmed: if the audit trail cannot be written, the commit fails and is retried.
      await access.record(receivedAbout({ senderName, transferId: transfer.transferId, manifest: transfer.manifest }));
      await d.inbox.markDelivered(transfer.transferId, receipt);
      // Users are told a study arrived only now that all of it is here and verified, never on its first image.
      req.log.info(
        {
          transferId: transfer.transferId,
          sender: transfer.senderUra,
          purpose: transfer.manifest.purpose,
          urgent: transfer.manifest.urgency === 'urgent',
          instances: transfer.manifest.instances.length,
        },
        'study arrived',
      );
      d.onDelivered?.(transfer);
      return { receipt };
    },
  );
}
