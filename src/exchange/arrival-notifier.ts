import type { Logger } from '../log/index.ts';
import type { IncomingTransfer } from './inbox.ts';

/** What the hospital's own systems (RIS, worklist, integration engine) are told when a study has wholly arrived. */
export interface ArrivalNotice {
  event: 'study-arrived';
  transferId: string;
  from: { ura: string; name: string };
  purpose: string;
  urgent: boolean;
  reason: string;
  sender: IncomingTransfer['manifest']['sender']['user'];
  patient: IncomingTransfer['manifest']['patient'];
  study: IncomingTransfer['manifest']['study'];
  instances: number;
  /** Where the study goes next by the routing rules: into the PACS, or held until a user accepts it. */
  route: 'forward' | 'hold';
}

const ATTEMPTS = 4;

/**
 * Posts an arrival notice (JSON) to the configured URL (exchange.notify.url) once a transfer is complete and verified,
 * never on its first image. The notice carries patient data, so it goes only to the hospital's own endpoint, over
 * HTTPS or on loopback. A failed post is tried again a few times and then logged as an error; the inbox API still
 * shows the study.
 */
export class ArrivalNotifier {
  readonly #url: URL;
  readonly #log: Logger;
  readonly #pending = new Set<Promise<void>>();

  constructor(url: string, logger: Logger) {
    this.#url = new URL(url);
    this.#log = logger;
  }

  notify(notice: ArrivalNotice): void {
    const p = this.#post(notice).finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  /** Waits for notices under way (at shutdown, and in tests). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.#pending);
  }

  async #post(notice: ArrivalNotice): Promise<void> {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        const res = await fetch(this.#url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(notice),
          signal: AbortSignal.timeout(10_000),
        });
        await res.body?.cancel();
        if (res.ok) {
          this.#log.info(
            { transferId: notice.transferId, urgent: notice.urgent, status: res.status },
            'arrival notice delivered',
          );
          return;
        }
        this.#log.warn({ transferId: notice.transferId, status: res.status, attempt }, 'arrival notice refused');
      } catch (err) {
        this.#log.warn({ transferId: notice.transferId, err, attempt }, 'arrival notice could not be posted');
      }
      if (attempt < ATTEMPTS) await new Promise((r) => setTimeout(r, 500 * 2 ** (attempt - 1)));
    }
    this.#log.error(
      { transferId: notice.transferId, url: this.#url.origin },
      'arrival notice given up; the study is in the inbox',
    );
  }
}

export function arrivalNotice(
  transfer: IncomingTransfer,
  senderName: string,
  route: 'forward' | 'hold',
): ArrivalNotice {
  const m = transfer.manifest;
  return {
    event: 'study-arrived',
    transferId: transfer.transferId,
    from: { ura: transfer.senderUra, name: senderName },
    purpose: m.purpose,
    urgent: m.urgency === 'urgent',
    reason: m.reason,
    sender: m.sender.user,
    patient: m.patient,
    study: m.study,
    instances: m.instances.length,
    route,
  };
}
