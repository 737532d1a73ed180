import type { PartnerConfig } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { PatientData, PatientDataAccess } from '../studies/index.ts';
import { type Outbox, type OutgoingTransfer, RECEIVER_STATES } from './outbox.ts';
import { isPassingFault, sendStudy } from './send-study.ts';
import { sendAbout, sendGrounds } from './audit-events.ts';
import { PartnerClient } from '../http/index.ts';
import type { StudySource } from './queue-send.ts';

export interface RetryPolicy {
  /** Wait after the first failed attempt; doubles with every further one. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** A transfer still failing this long after it was queued is given up. */
  giveUpAfterMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  firstDelayMs: 5_000,
  maxDelayMs: 10 * 60_000,
  giveUpAfterMs: 24 * 3600_000,
};

export interface OutboxWorkerOptions {
  outbox: Outbox;
  /** The study's bytes and every record of the transfer go through here, in the name of who asked for the send. */
  patientData: PatientData;
  /** This node's name, for the audit trail. */
  node: string;
  partners: readonly PartnerConfig[];
  tls: { key: string | Buffer; cert: string | Buffer; ca: string | Buffer };
  logger: Logger;
  retry?: RetryPolicy;
  /** Transfers sent at the same time (each already uploads in parallel batches). */
  concurrency?: number;
  /** The PACS: a study the node lacks (wholly or in part) is fetched from it before sending. */
  source?: StudySource | undefined;
  /** How often the queue is looked at for work queued by another process (the CLI) or due for a retry. */
  pollMs?: number;
}

/**
 * Works the outbox: takes due transfers, sends each with the exchange protocol, and records the outcome. A partner that
 * cannot be reached, or fails mid-transfer, is tried again with back-off until the give-up time; a refusal (a 4xx, a
 * receipt that does not verify, a study that is not here) fails the transfer at once with its reason.
 */
export class OutboxWorker {
  readonly #o: OutboxWorkerOptions;
  readonly #retry: RetryPolicy;
  readonly #running = new Map<string, { run: Promise<void>; stop: AbortController }>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #looking: Promise<void> | undefined;
  #lookAgain = false;
  /** Asking receivers what became of delivered studies, one at a time, beside the sends. */
  #checking: Promise<void> | undefined;

  constructor(o: OutboxWorkerOptions) {
    this.#o = o;
    this.#retry = o.retry ?? defaultRetryPolicy;
  }

  async start(): Promise<void> {
    const requeued = await this.#o.outbox.requeueInterrupted();
    if (requeued > 0) this.#o.logger.info({ requeued }, 'transfers cut off by the last stop are queued again');
    this.#timer = setInterval(() => this.wake(), this.#o.pollMs ?? 1000);
    this.#timer.unref();
    this.wake();
  }

  /**
   * Looks for due work now (after a transfer was queued in this process). One look at a time, so the number of
   * transfers under way never passes `concurrency`; a wake during a look asks for another after it.
   */
  wake(): void {
    if (this.#closed) return;
    if (this.#looking !== undefined) {
      this.#lookAgain = true;
      return;
    }
    this.#looking = this.#look()
      .catch((err: unknown) => this.#o.logger.error({ err }, 'the outbox could not be read; trying again shortly'))
      .finally(() => {
        this.#looking = undefined;
        if (this.#lookAgain) {
          this.#lookAgain = false;
          this.wake();
        }
      });
  }

  async #look(): Promise<void> {
    const { outbox, logger } = this.#o;
    // Keep the claims of what this node is sending, and take over what another node let lapse (it died mid-way).
    const now = new Date();
    await outbox.renew([...this.#running.keys()], now);
    const lapsed = await outbox.requeueLapsed(now);
    if (lapsed > 0) logger.warn({ lapsed }, 'transfers another node stopped sending are queued again here');
    const free = (this.#o.concurrency ?? 2) - this.#running.size;
    if (free > 0) {
      for (const t of await this.#o.outbox.due(new Date(), free)) {
        if (this.#closed || this.#running.has(t.transferId) || !(await this.#o.outbox.claim(t.transferId))) continue;
        const stop = new AbortController();
        const run = this.#send(t, stop.signal).finally(() => {
          this.#running.delete(t.transferId);
          this.wake();
        });
        this.#running.set(t.transferId, { run, stop });
      }
    }
    if (!this.#closed && this.#checking === undefined && (await this.#o.outbox.dueChecks(new Date(), 1)).length > 0)
      this.#checking = this.#askReceivers()
        .catch((err: unknown) => this.#o.logger.error({ err }, 'the outbox could not be read while asking receivers'))
        .finally(() => (this.#checking = undefined));
  }

  /**
   * Asks each receiver due to be asked what became of a study it signed for: a study held there waits for a person,
   * who may import it into the PACS or reject it (with a reason the sender should see, not a silent disappearance).
   */
  async #askReceivers(): Promise<void> {
    const { outbox, logger } = this.#o;
    for (const t of await outbox.dueChecks()) {
      if (this.#closed) return;
      const partner = this.#o.partners.find((p) => p.ura === t.request.partnerUra);
      if (partner?.baseUrl === undefined) {
        await outbox.receiverAnswered(t.transferId, undefined);
        continue;
      }
      const client = new PartnerClient(partner.baseUrl, this.#o.tls, 1, { ura: partner.ura });
      try {
        const a = await client.json('GET', `/exchange/v1/transfers/${t.transferId}`, undefined, {
          timeoutMs: 30_000,
        });
        const answer = a.json as { state?: string; rejection?: { reason?: unknown } };
        const state = RECEIVER_STATES.find((s) => a.status === 200 && s === answer.state);
        if (state !== undefined) {
          const reason = typeof answer.rejection?.reason === 'string' ? answer.rejection.reason.slice(0, 500) : null;
          await outbox.receiverAnswered(t.transferId, { state, reason });
          if (state !== t.atReceiver?.state)
            logger.info(
              { transferId: t.transferId, to: partner.ura, state, reason },
              'the receiver says what became of the study',
            );
        } else {
          await outbox.receiverAnswered(t.transferId, undefined);
          logger.warn(
            { transferId: t.transferId, to: partner.ura, status: a.status },
            'the receiver did not say what became of the study',
          );
        }
      } catch (err) {
        await outbox.receiverAnswered(t.transferId, undefined);
        logger.warn(
          { transferId: t.transferId, to: partner.ura, err },
          'the receiver could not be asked what became of the study',
        );
      } finally {
        client.close();
      }
    }
  }

  /** A person cancelled this transfer (the outbox already says so): an attempt under way stops at its next batch. */
  cancelled(transferId: string): void {
    this.#running.get(transferId)?.stop.abort();
  }

  /** Stops taking work and waits for the attempts under way; one that outlives the wait is queued again at next start. */
  async close(waitMs = 5_000): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...[...this.#running.values()].map((r) => r.run), this.#checking, this.#looking]),
      new Promise((resolve) => (timer = setTimeout(resolve, waitMs))),
    ]);
    clearTimeout(timer);
  }

  /** The worker sends in the name of who asked: the records of a transfer name that person (or system). */
  #access(t: OutgoingTransfer): PatientDataAccess {
    return this.#o.patientData.open(sendGrounds(t.request, { node: this.#o.node }, 'node-task'));
  }

  async #audit(
    t: OutgoingTransfer,
    partnerName: string,
    outcome: 'success' | 'failure',
    description: string,
  ): Promise<void> {
    try {
      const access = this.#access(t);
      await access.record(
        sendAbout({
          request: t.request,
          partnerName,
          transferId: t.transferId,
          patient: t.request.patient ?? (await access.studySummary(t.request.studyInstanceUid)).patient,
          outcome,
          description,
        }),
      );
    } catch (err) {
      // The transfer's outcome is already recorded in the outbox; a lost audit record must at least be loud.
      this.#o.logger.error({ transferId: t.transferId, err }, 'the audit trail could not be written');
    }
  }

  /**
   * The node's copy is a cache: when the PACS holds more of the study than the node (or all of it), fetch it first, so
   * the partner gets the whole study. Without a PACS configured the node sends what it holds.
   */
  async #fetchIfMissing(access: PatientDataAccess, studyInstanceUid: string, log: Logger): Promise<void> {
    const source = this.#o.source;
    if (source === undefined) return;
    const held = (await access.studySummary(studyInstanceUid)).instances;
    const atSource = await source.locate(studyInstanceUid);
    if (atSource === undefined) {
      if (held > 0) return;
      throw new BeeldbrugError('NOT_FOUND', `study ${studyInstanceUid} is neither in this node nor in its PACS`);
    }
    if (atSource.instances <= held) return;
    log.info({ held, atSource: atSource.instances }, 'fetching the study from the PACS before sending');
    await source.fetch(studyInstanceUid);
  }

  async #send(t: OutgoingTransfer, cancelled: AbortSignal): Promise<void> {
    const { outbox, logger } = this.#o;
    const r = t.request;
    const log = logger.child({ transferId: t.transferId, to: r.partnerUra, attempt: t.attempts + 1 });
    const partner = this.#o.partners.find((p) => p.ura === r.partnerUra);
    if (partner === undefined) {
      await outbox.failed(t.transferId, `PARTNER_UNKNOWN: URA ${r.partnerUra} is not in exchange.partners`);
      log.error('transfer failed: the partner is not configured');
      return;
    }
    // Progress is written in order, one update after the other, and all of it before the outcome.
    let progress = Promise.resolve();
    try {
      const access = this.#access(t);
      await this.#fetchIfMissing(access, r.studyInstanceUid, log);
      const result = await sendStudy(
        {
          studyInstanceUid: r.studyInstanceUid,
          to: partner,
          purpose: r.purpose,
          urgency: r.urgency,
          reason: r.reason,
          user: r.user,
          ...(r.consentReference !== undefined ? { consentReference: r.consentReference } : {}),
        },
        {
          access,
          tls: this.#o.tls,
          logger: log,
          transferId: t.transferId,
          // Quick retries belong to the outbox now, with its own back-off and give-up time.
          attempts: 1,
          signal: cancelled,
          onProgress: (p) => {
            if (this.#closed) return;
            const shown = {
              instances: p.instances,
              needed: p.needed,
              sent: t.sent + p.sent,
              bytesSent: t.bytesSent + p.bytesSent,
            };
            progress = progress
              .then(() => outbox.progress(t.transferId, shown))
              .catch((err: unknown) => log.warn({ err }, 'the progress of the transfer could not be written'));
          },
        },
      );
      await progress;
      if (this.#closed) return;
      await outbox.delivered(t.transferId, {
        instances: result.instances,
        sent: t.sent + result.sent,
        bytesSent: t.bytesSent + result.bytesSent,
        receipt: result.receipt,
      });
      await this.#audit(
        t,
        partner.name,
        'success',
        `study delivered, receipt verified (${result.instances} instances, ${result.sent} sent)`,
      );
    } catch (err) {
      await progress;
      if (this.#closed) return;
      if (cancelled.aborted) {
        // The person who cancelled is recorded by the cancel itself; the outbox already says 'cancelled'.
        log.info('transfer cancelled during an attempt');
        return;
      }
      const reason =
        err instanceof BeeldbrugError
          ? `${err.code}: ${err.message}`
          : `${(err as NodeJS.ErrnoException).code ?? 'ERROR'}: ${(err as Error).message}`;
      const age = Date.now() - Date.parse(t.triesSince);
      if (isPassingFault(err) && age < this.#retry.giveUpAfterMs) {
        const wait = Math.min(this.#retry.maxDelayMs, this.#retry.firstDelayMs * 2 ** t.attempts);
        await outbox.retryAt(t.transferId, reason, new Date(Date.now() + wait));
        log.warn({ waitMs: wait, reason }, 'transfer interrupted; trying again later');
      } else {
        await outbox.failed(t.transferId, reason);
        log.error({ reason }, 'transfer failed');
        await this.#audit(t, partner.name, 'failure', `sending given up: ${reason}`);
      }
    }
  }
}
