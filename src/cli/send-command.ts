import { BeeldbrugError } from '../errors/index.ts';
import type { Purpose } from '../exchange/index.ts';
import type { NodeApiClient, OutboxTransfer } from './node-api-client.ts';
import { signedInClient } from './session-file.ts';

export interface SendOptions {
  study: string;
  /** The partner's URA, or its name as the node's exchange.partners spells it. */
  to: string;
  purpose: Purpose;
  urgency: 'routine' | 'urgent';
  reason: string;
  consent?: string;
  /** Return once queued instead of following the transfer to its end. */
  noWait?: boolean;
  /** Stop following (exit 1) after this many seconds without delivery. */
  giveUpAfterSeconds: number;
  /** Stop following (exit 1) once this many attempts have failed. */
  maxAttempts?: number;
}

/** `[#########...........] 12/40 instances sent (0 already there), 5.2 MB, sending` */
export function progressLine(t: OutboxTransfer): string {
  const width = 30;
  const needed = t.needed ?? 0;
  const done = t.instances === null ? 0 : needed === 0 ? width : Math.min(width, Math.round((t.sent / needed) * width));
  const already = t.instances !== null ? ` (${t.instances - needed} already there)` : '';
  return `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${t.sent}/${t.instances === null ? '?' : needed} instances sent${already}, ${(t.bytesSent / 1e6).toFixed(1)} MB, ${t.state}`;
}

const partnerOf = (t: OutboxTransfer): string => (t.toName !== null ? `${t.toName} (URA ${t.to})` : `URA ${t.to}`);

/** Why the last attempt failed and when the node tries again, for a transfer waiting for its next attempt. */
export function retryLine(t: OutboxTransfer, now = Date.now()): string | undefined {
  if (t.state !== 'queued' || t.attempts === 0 || t.lastError === null) return undefined;
  const next = t.nextAttemptAt !== null ? Date.parse(t.nextAttemptAt) : Number.NaN;
  const when = Number.isNaN(next)
    ? 'soon'
    : `at ${new Date(next).toISOString()} (in ${Math.max(0, Math.round((next - now) / 1000))} s)`;
  return `attempt ${t.attempts} failed: ${t.lastError}; the node tries again ${when}`;
}

/**
 * `beeldbrug send`: asks the node (as the signed-in person, over its HTTPS API) to queue a study for a partner, and
 * follows it until it is delivered, fails, or the bound the user set has passed. The running node does the sending,
 * retries included; when the CLI stops following, the transfer stays in the node's outbox and the node keeps trying
 * until its own limit (exchange.outbox.giveUpAfterHours).
 */
export async function sendFromCli(o: SendOptions): Promise<void> {
  const { client } = signedInClient();
  const queued = await client.queueSend({
    studyInstanceUid: o.study,
    to: o.to,
    purpose: o.purpose,
    urgency: o.urgency,
    reason: o.reason,
    ...(o.consent !== undefined ? { consentReference: o.consent } : {}),
  });
  process.stdout.write(`queued transfer ${queued.transferId} to ${partnerOf(queued)}\n`);
  if (o.noWait === true) return;
  await follow(client, queued, o);
}

async function follow(client: NodeApiClient, first: OutboxTransfer, o: SendOptions): Promise<void> {
  const tty = process.stderr.isTTY;
  const until = Date.now() + o.giveUpAfterSeconds * 1000;
  let t = first;
  let lastLine = '';
  let lastRetry = '';
  for (;;) {
    const line = progressLine(t);
    if (line !== lastLine) {
      process.stderr.write(tty ? `\r${line}` : `${line}\n`);
      lastLine = line;
    }
    const retry = retryLine(t);
    if (retry !== undefined && `${t.attempts}` !== lastRetry) {
      process.stderr.write(tty ? `\n${retry}\n` : `${retry}\n`);
      lastRetry = `${t.attempts}`;
    }
    if (t.state === 'delivered') {
      if (tty) process.stderr.write('\n');
      process.stdout.write(
        `delivered to ${partnerOf(t)}: transfer ${t.transferId}, ${t.instances ?? 0} instances, ${t.sent} sent, receipt verified\n`,
      );
      return;
    }
    if (t.state === 'failed') {
      if (tty) process.stderr.write('\n');
      throw new BeeldbrugError(
        'PARTNER_REFUSED',
        `transfer ${t.transferId} failed: ${t.lastError ?? 'no reason recorded'}`,
      );
    }
    const pending = `transfer ${t.transferId} stays in the node's outbox and is tried again${t.nextAttemptAt !== null && t.state === 'queued' ? ` at ${t.nextAttemptAt}` : ''}${t.lastError !== null ? `; last error: ${t.lastError}` : ''}`;
    if (o.maxAttempts !== undefined && t.state === 'queued' && t.attempts >= o.maxAttempts) {
      if (tty) process.stderr.write('\n');
      throw new BeeldbrugError(
        'SEND_NOT_DELIVERED',
        `not delivered after ${t.attempts} attempt${t.attempts === 1 ? '' : 's'} (--max-attempts ${o.maxAttempts}): ${pending}`,
      );
    }
    const left = until - Date.now();
    if (left <= 0) {
      if (tty) process.stderr.write('\n');
      throw new BeeldbrugError(
        'SEND_NOT_DELIVERED',
        `not delivered within ${o.giveUpAfterSeconds} s (--give-up-after): ${pending}`,
      );
    }
    // The node answers when the transfer changes, so this is one request (and one audit record) per change.
    t = await client.outboxTransfer(t.transferId, {
      after: t.updatedAt,
      waitSeconds: Math.max(1, Math.min(20, Math.ceil(left / 1000))),
    });
  }
}
