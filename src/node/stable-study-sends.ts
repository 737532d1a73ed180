import type { Logger } from '../log/index.ts';

/** Who sent a study to a partner's AE title: what the audit trail can name (a PACS says nothing of the person). */
export interface SentBy {
  callingAeTitle: string;
  remoteAddress: string;
  associationId: string;
}

interface Pending {
  destination: string;
  studyInstanceUid: string;
  by: SentBy;
  /** Associations storing instances of the study that have not ended. */
  open: Set<string>;
  aborted: boolean;
  timer?: NodeJS.Timeout | undefined;
}

/**
 * Studies a PACS sends to a partner's AE title, queued once each is stable: no association is still storing it, and
 * none has for `stableMs` since the last one ended. A PACS may spread one "send to" over several associations (Orthanc
 * does, one per kind of instance); without this each association would queue a transfer of its own and the study would
 * travel twice. A study whose association was aborted is not queued: the PACS tells its user, who sends again.
 */
export class StableStudySends {
  readonly #pending = new Map<string, Pending>();
  readonly #stableMs: number;
  readonly #queue: (destination: string, studyInstanceUids: readonly string[], by: SentBy) => Promise<void>;
  readonly #log: Logger;

  constructor(o: {
    stableMs: number;
    queue: (destination: string, studyInstanceUids: readonly string[], by: SentBy) => Promise<void>;
    logger: Logger;
  }) {
    this.#stableMs = o.stableMs;
    this.#queue = o.queue;
    this.#log = o.logger;
  }

  /** An instance of the study was stored over this association, called with the partner's AE title. */
  stored(destination: string, studyInstanceUid: string, by: SentBy): void {
    const key = `${destination}\u0000${studyInstanceUid}`;
    let p = this.#pending.get(key);
    if (p === undefined) {
      p = { destination, studyInstanceUid, by, open: new Set(), aborted: false };
      this.#pending.set(key, p);
    }
    clearTimeout(p.timer);
    p.timer = undefined;
    p.open.add(by.associationId);
  }

  /** The association ended; its studies are queued once stable, or dropped when it was aborted. */
  ended(associationId: string, how: 'released' | 'aborted'): void {
    for (const [key, p] of this.#pending) {
      if (!p.open.delete(associationId)) continue;
      if (how === 'aborted' && !p.aborted) {
        p.aborted = true;
        this.#log.warn(
          { association: associationId, destination: p.destination },
          'association to a partner AE title aborted; nothing queued',
        );
      }
      if (p.open.size > 0) continue;
      p.timer = setTimeout(() => void this.#flush(key), this.#stableMs);
    }
  }

  /**
   * The node stops: what was sent whole is queued now, without waiting out the stable time, so it is not lost; a study
   * still being stored is not (its association is cut off, and the PACS tells its user).
   */
  async close(): Promise<void> {
    for (const [key, p] of this.#pending) {
      if (p.open.size === 0) await this.#flush(key);
      else clearTimeout(p.timer);
    }
    this.#pending.clear();
  }

  async #flush(key: string): Promise<void> {
    const p = this.#pending.get(key);
    if (p === undefined) return;
    this.#pending.delete(key);
    clearTimeout(p.timer);
    if (p.aborted) return;
    try {
      await this.#queue(p.destination, [p.studyInstanceUid], p.by);
      this.#log.info(
        { association: p.by.associationId, destination: p.destination, studies: 1 },
        'C-STORE to a partner AE title: queued in the outbox',
      );
    } catch (err) {
      this.#log.error(
        { association: p.by.associationId, destination: p.destination, err },
        'the studies sent to a partner AE title could not be queued',
      );
    }
  }
}
