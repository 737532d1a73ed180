import type { Logger } from '../log/index.ts';
import type { TimelineAsker, TimelineService, TimelineStudy } from '../timeline/index.ts';
import type { Order } from './hl7/order.ts';

/** Which orders a rule applies to, and which of the patient's studies elsewhere are relevant priors for them. */
export interface PrefetchRule {
  name: string;
  /** The ordered examination's modality (OBR-24, IPC-5): one of these. */
  modalities?: readonly string[] | undefined;
  /** A regular expression (case-insensitive) the procedure code or text must match. */
  procedure?: string | undefined;
  /** Priors with one of these modalities (reports in the study do not count); any when absent. */
  priorModalities?: readonly string[] | undefined;
  /** Priors of one of these body parts (Body Part Examined); any when absent. */
  priorBodyParts?: readonly string[] | undefined;
  /** At most this many, newest first. */
  maxPriors: number;
  /** None older than this. */
  maxAgeYears: number;
}

export interface PrefetchOptions {
  rules: readonly PrefetchRule[];
  timeline: () => TimelineService | undefined;
  /** Whether the PACS already holds the study (a C-FIND by its UID): a held prior is not fetched again. */
  pacsHolds(studyInstanceUid: string): Promise<boolean>;
  /** Retrieves one study of the timeline into the PACS; resolves once every instance is in, or some failed. */
  retrieveIntoPacs(
    prior: { bsn: string; sourceUra: string; studyInstanceUid: string },
    asker: TimelineAsker,
  ): Promise<{ instances: number; failed: number }>;
  logger: Logger;
  now?: () => number;
}

export interface PrefetchOutcome {
  rule?: string;
  /** Why nothing was fetched, when nothing was. */
  skipped?: string;
  fetched: { studyInstanceUid: string; source: string; instances: number; failed: number }[];
  alreadyInPacs: string[];
}

const REPORTS = new Set(['SR', 'DOC', 'KO', 'PR']);

/**
 * Prefetch on an order: the first rule that applies to the ordered examination names the relevant priors; the
 * timeline is asked for the patient's studies at the other hospitals (the registry and each source check consent, as
 * for any question), and the newest relevant ones the PACS does not hold are retrieved into it before the examination is
 * read. The order is the grounds every record names; no person is involved.
 */
export class Prefetcher {
  readonly #o: PrefetchOptions;
  readonly #rules: readonly (PrefetchRule & { pattern?: RegExp })[];

  constructor(o: PrefetchOptions) {
    this.#o = o;
    this.#rules = o.rules.map((r) => ({
      ...r,
      ...(r.procedure !== undefined ? { pattern: new RegExp(r.procedure, 'i') } : {}),
    }));
  }

  ruleFor(order: Order): PrefetchRule | undefined {
    return this.#rules.find(
      (r) =>
        (r.modalities === undefined || (order.modality !== undefined && r.modalities.includes(order.modality))) &&
        (r.pattern === undefined || r.pattern.test(order.procedure.code) || r.pattern.test(order.procedure.text)),
    );
  }

  async prefetch(order: Order, from: { remoteAddress: string }): Promise<PrefetchOutcome> {
    const rule = this.ruleFor(order);
    const none = (skipped: string): PrefetchOutcome => ({
      skipped,
      fetched: [],
      alreadyInPacs: [],
      ...(rule !== undefined ? { rule: rule.name } : {}),
    });
    if (!order.isNew) return none('not a new order');
    if (rule === undefined) return none('no prefetch rule applies to the ordered procedure');
    if (order.bsn === undefined) return none('the order names no BSN (PID-3)');
    const timeline = this.#o.timeline();
    if (timeline === undefined) return none('node-to-node exchange is not running');
    const app = order.sender.application || 'RIS';
    const asker: TimelineAsker = {
      kind: 'node-task',
      system: { id: `hl7:${app}`, name: `prefetch for order ${order.orderNumber} (${app})` },
      grounds: `HL7 ${order.message} order ${order.orderNumber} from ${app}@${from.remoteAddress}, rule ${rule.name}`,
    };
    const answer = await timeline.query({ bsn: order.bsn, asker });
    const oldest = this.#oldestDate(rule.maxAgeYears);
    // A study two sources list (a Beeldbrug node and an XCA community) is one prior: the first source listed is asked.
    const seen = new Set<string>();
    const relevant = answer.studies.filter(
      (s) => this.#relevant(rule, s, oldest) && !seen.has(s.studyInstanceUid) && seen.add(s.studyInstanceUid),
    );
    const out: PrefetchOutcome = { rule: rule.name, fetched: [], alreadyInPacs: [] };
    const chosen: TimelineStudy[] = [];
    for (const s of relevant) {
      // The newest relevant priors, whether they still have to come or are in the PACS already.
      if (chosen.length + out.alreadyInPacs.length >= rule.maxPriors) break;
      if (await this.#held(s.studyInstanceUid)) out.alreadyInPacs.push(s.studyInstanceUid);
      else chosen.push(s);
    }
    const bsn = order.bsn;
    out.fetched = await Promise.all(
      chosen.map(async (s) => {
        const r = await this.#o.retrieveIntoPacs(
          { bsn, sourceUra: s.source.ura, studyInstanceUid: s.studyInstanceUid },
          asker,
        );
        return { studyInstanceUid: s.studyInstanceUid, source: s.source.name, ...r };
      }),
    );
    if (chosen.length === 0)
      out.skipped =
        relevant.length === 0 ? 'no relevant prior at another hospital' : 'every relevant prior is in the PACS already';
    return out;
  }

  /** A PACS that cannot be asked (down, or not answering C-FIND) holds nothing as far as prefetch knows. */
  async #held(studyInstanceUid: string): Promise<boolean> {
    try {
      return await this.#o.pacsHolds(studyInstanceUid);
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message }, 'prefetch: the PACS could not be asked what it holds');
      return false;
    }
  }

  #relevant(rule: PrefetchRule, s: TimelineStudy, oldest: string): boolean {
    if ((s.studyDate ?? '') < oldest) return false;
    const images = s.modalities.filter((m) => !REPORTS.has(m));
    if (rule.priorModalities !== undefined && !images.some((m) => rule.priorModalities?.includes(m))) return false;
    const parts = s.bodyParts.map((b) => b.toUpperCase());
    if (rule.priorBodyParts !== undefined && !rule.priorBodyParts.some((b) => parts.includes(b.toUpperCase())))
      return false;
    return true;
  }

  /** YYYYMMDD of the oldest study date a prior may have. */
  #oldestDate(years: number): string {
    const d = new Date((this.#o.now ?? Date.now)());
    d.setUTCFullYear(d.getUTCFullYear() - years);
    return d.toISOString().slice(0, 10).replaceAll('-', '');
  }
}
