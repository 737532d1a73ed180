import type { HttpsApp } from '../http/index.ts';
import type { StudyService } from '../studies/index.ts';
import type { Inbox } from './inbox.ts';
import { parseManifest } from './manifest.ts';
import { decidePurpose } from './purpose-decision.ts';

/** A manifest of 100,000 instances is about 30 MB of JSON; more is not a study. */
const MANIFEST_LIMIT_BYTES = 64 * 1024 * 1024;

export interface TransferRouteDeps {
  inbox: Inbox;
  studies: StudyService;
  us: { name: string; ura: string };
}

/**
 * POST /exchange/v1/transfers (docs/exchange-protocol.md, step 1): a partner opens or resumes a transfer; the answer
 * lists the instances this node still needs. The sending organization is the one in the client certificate, never
 * one named in the body.
 */
export function registerTransferRoutes(app: HttpsApp, d: TransferRouteDeps): void {
  app.post('/exchange/v1/transfers', { config: { access: 'partner' }, bodyLimit: MANIFEST_LIMIT_BYTES }, async (req, reply) => {
    const partner = req.partner;
    if (partner === undefined) return reply.code(403).send({ error: 'organization-not-trusted' });
    const parsed = parseManifest(req.body);
    if (!parsed.ok) return reply.code(400).send({ error: 'manifest-invalid', problems: parsed.problems });
    const manifest = parsed.manifest;
    const purpose = decidePurpose({ purpose: manifest.purpose, consentReference: manifest.consentReference, senderUra: partner.ura, receiverUra: d.us.ura });
    if (!purpose.accept) {
      req.log.warn({ transferId: manifest.transferId, sender: partner.ura, reason: purpose.reason }, 'transfer refused');
      return reply.code(purpose.status).send({ error: purpose.reason, detail: purpose.detail });
    }
    const opened = d.inbox.open(manifest, partner.ura);
    if (opened.outcome === 'conflict') return reply.code(409).send({ error: 'transfer-id-conflict', detail: opened.detail });
    const received = d.inbox.received(manifest.transferId);
    const held = d.studies.heldWithDigest(
      { actor: { kind: 'partner-node', ura: partner.ura, name: partner.name, remoteAddress: req.ip }, purpose: 'exchange' },
      manifest.instances.filter((i) => !received.has(i.sopInstanceUid)),
    );
    const needed = manifest.instances.map((i) => i.sopInstanceUid).filter((uid) => !received.has(uid) && !held.has(uid));
    req.log.info({ transferId: manifest.transferId, sender: partner.ura, purpose: manifest.purpose, instances: manifest.instances.length, needed: needed.length, outcome: opened.outcome }, 'transfer opened');
    return reply.code(opened.outcome === 'created' ? 201 : 200).send({ transferId: manifest.transferId, state: opened.transfer.state, needed });
  });
}
