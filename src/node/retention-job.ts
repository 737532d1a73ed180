import type { AuditTrail } from '../audit/index.ts';
import type { TaskLeases } from '../database/index.ts';
import type { Logger } from '../log/index.ts';
import type { PatientData, PatientDataAccess } from '../studies/index.ts';

const DAY_MS = 24 * 3600_000;

/**
 * Purges transient copies once they are older than the retention period (store.retentionDays), at start-up and then
 * regularly, with a log line and an audit record per purged study. A purge that fails is logged and tried again at the
 * next run; what was removed before the failure stays removed (each removal is durable before its file goes).
 * Audit records have their own, much longer period (audit.retentionYears): purging a study never removes its records.
 */
export interface RetentionJobOptions {
  patientData: PatientData;
  /** Only for pruning records past their own retention; purged studies are recorded through patientData. */
  audit: AuditTrail;
  retentionDays: number;
  auditRetentionYears: number;
  logger: Logger;
  /** Told the BSNs of the patients whose studies were purged (the registry's localizations follow). */
  onPurged?: (bsns: string[]) => Promise<void>;
  /** Shares keep their studies until they end, and are purged themselves once they ended a retention period ago. */
  /** The clock (milliseconds since the epoch). */
  now?: () => number;
  /** Uploads not reviewed within the retention period: their quarantined copies go too. */
  quarantine?: { purgeBefore(cutoff: Date): Promise<number> };
  shares?: {
    studiesInUse(): Promise<string[]>;
    purgeEnded(cutoff: Date, by: PatientDataAccess, description: string): Promise<number>;
  };
  /**
   * Nodes that share a database purge the shared study index and prune the shared audit trail one at a time: only
   * the holder of the lease does (this node's own shares and uploads it purges itself).
   */
  leases?: TaskLeases;
}

export class RetentionJob {
  readonly #o: RetentionJobOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(o: RetentionJobOptions) {
    this.#o = o;
  }

  /** Often enough that nothing outlives its period by more than a quarter of it, at most hourly. */
  get #every(): number {
    return this.#o.retentionDays === 0
      ? 3600_000
      : Math.max(1000, Math.min(3600_000, (this.#o.retentionDays * DAY_MS) / 4));
  }

  start(): void {
    this.#timer = setInterval(() => void this.runOnce(), this.#every);
    this.#timer.unref();
    void this.runOnce();
  }

  /** One purge pass; concurrent calls share the pass under way. */
  runOnce(now = new Date(this.#o.now?.() ?? Date.now())): Promise<void> {
    this.#running ??= this.#purge(now).finally(() => (this.#running = undefined));
    return this.#running;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  async #purge(now: Date): Promise<void> {
    const { audit, auditRetentionYears, logger } = this.#o;
    let shared: boolean;
    try {
      // Held a little over two runs: its holder renews it every run, and another takes over after it stops.
      shared = (await this.#o.leases?.take('retention', this.#every * 2.5, now)) ?? true;
    } catch (err) {
      logger.error({ err }, 'the retention lease could not be taken; trying again at the next run');
      shared = false;
    }
    if (!shared) logger.debug('another node holds the retention lease: it purges the shared studies and audit records');
    if (this.#o.retentionDays > 0) await this.#purgeStudies(now, shared);
    if (!shared) return;
    try {
      const before = new Date(now);
      before.setUTCFullYear(before.getUTCFullYear() - auditRetentionYears);
      const pruned = await audit.prune(before, `audit retention ${auditRetentionYears} years`);
      if (pruned > 0)
        logger.info({ records: pruned, before: before.toISOString() }, 'audit records past their retention pruned');
    } catch (err) {
      logger.error({ err }, 'audit retention failed; trying again at the next run');
    }
  }

  async #purgeStudies(now: Date, shared: boolean): Promise<void> {
    const { patientData, retentionDays, logger } = this.#o;
    const cutoff = new Date(now.getTime() - retentionDays * DAY_MS);
    try {
      const access = patientData.openForTask(
        'retention',
        'retention job',
        'retention',
        `store.retentionDays=${retentionDays}`,
      );
      const shares = this.#o.shares;
      const purged = shared
        ? await access.purgeReceivedBefore(
            cutoff,
            (s) => `transient copy purged after ${retentionDays} days (${s.instances} instances, ${s.bytes} bytes)`,
            (await shares?.studiesInUse()) ?? [],
          )
        : [];
      const sharesPurged = (await shares?.purgeEnded(cutoff, access, `${retentionDays} days after it ended`)) ?? 0;
      if (sharesPurged > 0) logger.info({ shares: sharesPurged }, 'ended shares purged');
      const unreviewed = (await this.#o.quarantine?.purgeBefore(cutoff)) ?? 0;
      if (unreviewed > 0) logger.info({ studies: unreviewed }, 'uploads not reviewed in time purged from quarantine');
      for (const s of purged) {
        logger.info(
          {
            studyInstanceUid: s.studyInstanceUid,
            instances: s.instances,
            bytes: s.bytes,
            receivedBefore: cutoff.toISOString(),
          },
          'purged',
        );
      }
      const bsns = [...new Set(purged.flatMap((s) => (s.patient.bsn !== undefined ? [s.patient.bsn] : [])))];
      if (bsns.length > 0) await this.#o.onPurged?.(bsns);
    } catch (err) {
      logger.error({ err }, 'retention purge failed; trying again at the next run');
    }
  }
}
