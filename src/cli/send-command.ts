import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { findPartner, Outbox, type OutgoingTransfer, type Purpose, queueSend } from '../exchange/index.ts';
import type { Logger } from '../log/index.ts';
import { openEmbeddedStore, readEncryptionKeyFile } from '../store/index.ts';
import { StudyService } from '../studies/index.ts';
import { openAuditTrail, pacsSourceFor } from '../node/index.ts';

export interface SendOptions {
  study: string;
  to: string;
  purpose: Purpose;
  urgency: 'routine' | 'urgent';
  reason: string;
  userId: string;
  userName: string;
  consent?: string;
  /** Return once queued instead of following the transfer to its end. */
  noWait?: boolean;
}

/** `[#########...........] 12/40 instances sent (0 already there), 5.2 MB` */
function progressLine(t: OutgoingTransfer): string {
  const width = 30;
  const needed = t.needed ?? 0;
  const done = t.instances === null ? 0 : needed === 0 ? width : Math.min(width, Math.round((t.sent / needed) * width));
  const already = t.instances !== null ? ` (${t.instances - needed} already there)` : '';
  return `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${t.sent}/${t.instances === null ? '?' : needed} instances sent${already}, ${(t.bytesSent / 1e6).toFixed(1)} MB, ${t.state}`;
}

/**
 * Queues a study for a partner in the node's outbox (the same database the running node works from) and follows it
 * until it is delivered or fails; the running node does the sending, retries included, and a restart does not lose it.
 */
export async function sendFromCli(config: Readonly<Config>, o: SendOptions, logger: Logger): Promise<void> {
  const exchange = config.exchange;
  if (exchange === undefined) throw new BeeldbrugError('CONFIG_INVALID', 'the configuration has no exchange section: this node cannot send to partners');
  const partner = findPartner(exchange.partners, o.to);
  if (partner === undefined) throw new BeeldbrugError('PARTNER_UNKNOWN', `${o.to} is not a partner in exchange.partners (give its URA or name)`);
  const outbox = new Outbox(join(config.dataDir, 'exchange.sqlite'));
  const audit = openAuditTrail(config);
  try {
    const store = await openEmbeddedStore({ dataDir: config.dataDir, encryptionKey: readEncryptionKeyFile(config.store.encryptionKeyFile) });
    let queued: OutgoingTransfer;
    try {
      const studies = new StudyService({ store, logger, retrieveAeTitle: config.dimse.aeTitle });
      queued = await queueSend(
        { outbox, studies, audit, partners: exchange.partners, ourUra: config.node.organization.ura, source: pacsSourceFor(config, studies, logger) },
        { actor: { kind: 'user', id: o.userId, name: o.userName }, purpose: 'exchange' },
        { node: config.node.name },
        {
          studyInstanceUid: o.study,
          partnerUra: partner.ura,
          purpose: o.purpose,
          urgency: o.urgency,
          reason: o.reason,
          user: { id: o.userId, name: o.userName },
          ...(o.consent !== undefined ? { consentReference: o.consent } : {}),
        },
      );
    } finally {
      await store.close();
    }
    process.stdout.write(`queued transfer ${queued.transferId} to ${partner.name} (URA ${partner.ura})\n`);
    if (o.noWait === true) return;
    await follow(outbox, queued.transferId, `${partner.name} (URA ${partner.ura})`);
  } finally {
    audit.close();
    outbox.close();
  }
}

async function follow(outbox: Outbox, transferId: string, partnerName: string): Promise<void> {
  const tty = process.stderr.isTTY;
  const started = Date.now();
  let hinted = false;
  let last = '';
  for (;;) {
    const t = outbox.get(transferId);
    if (t === undefined) throw new BeeldbrugError('NOT_FOUND', `transfer ${transferId} disappeared from the outbox`);
    const line = progressLine(t);
    if (line !== last) {
      process.stderr.write(tty ? `\r${line}` : `${line}\n`);
      last = line;
    }
    if (t.state === 'delivered') {
      if (tty) process.stderr.write('\n');
      process.stdout.write(`delivered to ${partnerName}: transfer ${t.transferId}, ${t.instances ?? 0} instances, ${t.sent} sent, receipt verified\n`);
      return;
    }
    if (t.state === 'failed') {
      if (tty) process.stderr.write('\n');
      throw new BeeldbrugError('PARTNER_REFUSED', `transfer ${t.transferId} failed: ${t.lastError ?? 'no reason recorded'}`);
    }
    if (!hinted && t.attempts === 0 && Date.now() - started > 15_000) {
      process.stderr.write(`\nstill queued: the running node sends from its outbox; is it running with this configuration?\n`);
      hinted = true;
    }
    await sleep(250);
  }
}
