import type { Logger } from '../log/index.ts';
import type { RegistryClient } from '../registry/index.ts';

/** What the publisher needs to know of the node's patients: BSNs only, through the node's patient-data access. */
export interface PatientsHeld {
  onStored(listener: (stored: { bsn: string | null }) => void): void;
  patientBsns(): Promise<string[]>;
  holds(bsn: string): Promise<boolean>;
}

/**
 * Keeps the registry's "patient known here" in step with the node: at start every patient with a BSN in bulk, then each
 * new patient as its first instance is stored, and a removal once retention has purged a patient's last study. Changes
 * are sent in batches every `intervalMs`; when the registry cannot be reached they wait and go with the next batch,
 * and the bulk registration at the next start repairs anything a crash lost.
 */
export class LocalizationPublisher {
  readonly #registry: RegistryClient;
  readonly #studies: PatientsHeld;
  readonly #archive: boolean;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #known = new Set<string>();
  readonly #add = new Set<string>();
  readonly #remove = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;

  /**
   * `archive`: the node has a PACS behind it (exchange.fetchFrom), which keeps the studies after the node's copies are
   * purged, so the patient stays known here.
   */
  constructor(o: {
    registry: RegistryClient;
    studies: PatientsHeld;
    logger: Logger;
    intervalMs?: number;
    archive?: boolean;
  }) {
    this.#registry = o.registry;
    this.#studies = o.studies;
    this.#archive = o.archive === true;
    this.#log = o.logger;
    this.#intervalMs = o.intervalMs ?? 2000;
    o.studies.onStored((stored) => {
      if (stored.bsn !== null && !this.#known.has(stored.bsn)) {
        this.#add.add(stored.bsn);
        this.#remove.delete(stored.bsn);
      }
    });
  }

  async start(): Promise<void> {
    for (const bsn of await this.#studies.patientBsns()) this.#add.add(bsn);
    this.#timer = setInterval(() => void this.flush(), this.#intervalMs);
    this.#timer.unref();
    void this.flush();
  }

  /** After a retention purge: patients of whom the node now holds nothing are no longer known here. */
  async purged(bsns: readonly string[]): Promise<void> {
    if (this.#archive) return;
    for (const bsn of bsns) {
      if (await this.#studies.holds(bsn)) continue;
      this.#known.delete(bsn);
      this.#add.delete(bsn);
      this.#remove.add(bsn);
    }
  }

  /** Sends what is pending; resolves when the registry has it (or the attempt failed and it stays pending). */
  flush(): Promise<void> {
    this.#flushing ??= this.#send().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async #send(): Promise<void> {
    if (this.#closed || (this.#add.size === 0 && this.#remove.size === 0)) return;
    const add = [...this.#add];
    const remove = [...this.#remove];
    try {
      await this.#registry.register({ add, remove });
      for (const bsn of add) {
        this.#add.delete(bsn);
        this.#known.add(bsn);
      }
      for (const bsn of remove) this.#remove.delete(bsn);
      this.#log.info({ registered: add.length, removed: remove.length }, 'registry localizations updated');
    } catch (err) {
      this.#log.warn({ err, pending: add.length + remove.length }, 'registry localizations not sent; will try again');
    }
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#flushing;
    this.#closed = true;
  }
}
