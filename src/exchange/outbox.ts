import { randomUUID } from 'node:crypto';
import {
  addMissingColumns,
  openPostgresStore,
  openSqliteStore,
  type PostgresPool,
  type SqlDatabase,
  type SqlValue,
} from '../database/index.ts';
import type { Purpose } from './manifest.ts';

/**
 * queued: waiting for its (next) attempt; sending: an attempt runs; delivered: the partner's signed receipt is kept;
 * failed: given up, with the reason; cancelled: a person stopped it. A transfer found 'sending' at start-up was cut off
 * by a stop and is queued again. A failed or cancelled transfer can be queued again by a person (retry).
 */
export type OutgoingState = 'queued' | 'sending' | 'delivered' | 'failed' | 'cancelled';

export const OUTGOING_STATES: readonly OutgoingState[] = ['queued', 'sending', 'delivered', 'failed', 'cancelled'];

/** What a user asked to send; kept as asked, so every retry sends the same manifest under the same transfer id. */
export interface OutgoingRequest {
  studyInstanceUid: string;
  /** The partner's URA; its address is looked up in the configuration at each attempt. */
  partnerUra: string;
  purpose: Purpose;
  urgency: 'routine' | 'urgent';
  reason: string;
  /** The person who asked (signed in, or named by a system's verified assertion); a system acting alone is named here itself. */
  user: { id: string; name: string; roleCode?: string };
  /** The system of ours that asked for `user` (with the identity provider's assertion of them); absent when the person asked. */
  system?: { id: string; name: string };
  consentReference?: string;
  /** Whose study it is, as found when it was queued: what the audit trail names for every later look at the transfer. */
  patient?: { bsn?: string; patientId?: string };
}

export interface OutgoingTransfer {
  transferId: string;
  request: OutgoingRequest;
  state: OutgoingState;
  attempts: number;
  nextAttemptAt: string;
  lastError: string | null;
  /** Since when the worker's give-up time counts: when it was queued, or when a person last retried it. */
  triesSince: string;
  instances: number | null;
  /** Of those, the ones the partner still lacked at the start of the last attempt. */
  needed: number | null;
  sent: number;
  bytesSent: number;
  receipt: string | null;
  /**
   * What became of a delivered study at the receiver, as last asked: still there (held for a person's decision, or
   * being forwarded), imported into its PACS, rejected by a person there (with their reason), or failed to forward.
   */
  atReceiver: { state: ReceiverState; reason: string | null; checkedAt: string } | null;
  createdAt: string;
  updatedAt: string;
}

/** The receiver's states of a delivered transfer (its inbox, docs/exchange-protocol.md). */
export const RECEIVER_STATES = ['delivered', 'imported', 'rejected', 'failed'] as const;
export type ReceiverState = (typeof RECEIVER_STATES)[number];

interface Row {
  transfer_id: string;
  request_json: string;
  state: OutgoingState;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  tries_since: string | null;
  instances: number | null;
  needed: number | null;
  sent: number;
  bytes_sent: number;
  receipt: string | null;
  receiver_state: ReceiverState | null;
  receiver_reason: string | null;
  receiver_checked_at: string | null;
  created_at: string;
  updated_at: string;
}

function transferOf(r: Row): OutgoingTransfer {
  return {
    transferId: r.transfer_id,
    request: JSON.parse(r.request_json) as OutgoingRequest,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
    triesSince: r.tries_since ?? r.created_at,
    instances: r.instances,
    needed: r.needed,
    sent: r.sent,
    bytesSent: r.bytes_sent,
    receipt: r.receipt,
    atReceiver:
      r.receiver_state !== null
        ? { state: r.receiver_state, reason: r.receiver_reason, checkedAt: r.receiver_checked_at ?? r.updated_at }
        : null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/**
 * How the sender asks the receiver what became of a delivered study (held, imported, rejected): soon after delivery,
 * then ever less often (each question is a record in the receiver's audit trail), for as long as the receiver keeps its
 * transient copy (7 days after delivery) and a little more.
 */
export const RECEIVER_CHECKS = { firstDelayMs: 5_000, maxDelayMs: 2 * 3600_000, askForMs: 9 * 24 * 3600_000 };

/**
 * The outbox's table on PostgreSQL, shared by the nodes of a hospital: the embedded schema below as it stands today.
 * Never edit a shipped migration: append one.
 */
const POSTGRES_MIGRATIONS = [
  `CREATE TABLE outgoing_transfer (
     transfer_id TEXT PRIMARY KEY,
     request_json TEXT NOT NULL,
     state TEXT NOT NULL,
     urgent INTEGER NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at TEXT NOT NULL,
     last_error TEXT,
     instances INTEGER,
     needed INTEGER,
     sent INTEGER NOT NULL DEFAULT 0,
     bytes_sent BIGINT NOT NULL DEFAULT 0,
     receipt TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     tries_since TEXT,
     receiver_state TEXT,
     receiver_reason TEXT,
     receiver_checked_at TEXT,
     receiver_checks INTEGER NOT NULL DEFAULT 0,
     next_check_at TEXT
   );
   CREATE INDEX outgoing_due ON outgoing_transfer (state, next_attempt_at);
   CREATE INDEX outgoing_check ON outgoing_transfer (next_check_at);`,
  `ALTER TABLE outgoing_transfer ADD COLUMN claimed_by TEXT;
   ALTER TABLE outgoing_transfer ADD COLUMN lease_until TEXT;`,
];

/**
 * Who takes transfers from this outbox, and for how long a claim holds without being renewed. Several nodes share
 * one outbox on a database server: a transfer being sent is leased to one of them, and a node that dies mid-way
 * leaves it to the others once its lease runs out. `holder` stays the same across restarts of one node, so a node
 * that comes back takes up its own cut-off transfers at once.
 */
export interface OutboxLease {
  holder: string;
  leaseMs: number;
}

const DEFAULT_LEASE_MS = 30_000;

/** The outbox in the node's exchange database (the embedded default). */
export function openSqliteOutbox(path: string, lease?: Partial<OutboxLease>): Outbox {
  const sql = openSqliteStore(path, (db) => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS outgoing_transfer (
        transfer_id TEXT PRIMARY KEY,
        request_json TEXT NOT NULL,
        state TEXT NOT NULL,
        urgent INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        instances INTEGER,
        needed INTEGER,
        sent INTEGER NOT NULL DEFAULT 0,
        bytes_sent INTEGER NOT NULL DEFAULT 0,
        receipt TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS outgoing_due ON outgoing_transfer (state, next_attempt_at);`);
    // Added with retry by a person; outboxes written before it count from created_at.
    addMissingColumns(db, 'outgoing_transfer', [
      'tries_since TEXT',
      // Added with asking the receiver what became of a delivered study; older deliveries are not asked about.
      'receiver_state TEXT',
      'receiver_reason TEXT',
      'receiver_checked_at TEXT',
      'receiver_checks INTEGER NOT NULL DEFAULT 0',
      'next_check_at TEXT',
      // Added with several nodes sharing an outbox (leases).
      'claimed_by TEXT',
      'lease_until TEXT',
    ]);
    db.exec('CREATE INDEX IF NOT EXISTS outgoing_check ON outgoing_transfer (next_check_at)');
  });
  return new Outbox(sql, lease);
}

/** The outbox on PostgreSQL, migrated to its newest schema; `ownsPool`: closing it ends the pool. */
export async function openPostgresOutbox(
  pool: PostgresPool,
  o: { ownsPool: boolean; lease?: Partial<OutboxLease> | undefined },
): Promise<Outbox> {
  return new Outbox(await openPostgresStore(pool, 'outbox', POSTGRES_MIGRATIONS, { ownsPool: o.ownsPool }), o.lease);
}

const SELECT = 'SELECT * FROM outgoing_transfer';

/**
 * The sending side's durable queue of transfers, in the node's exchange database. Every change is committed before it
 * is acted on, so a stop at any moment loses no request: what was queued or being sent is sent after the restart, under
 * the same transfer id, and the partner's resume answer keeps it from moving bytes twice. Its SQL is the same on
 * SQLite and PostgreSQL.
 */
export class Outbox {
  readonly #db: SqlDatabase;
  readonly #lease: OutboxLease;

  constructor(db: SqlDatabase, lease: Partial<OutboxLease> = {}) {
    this.#db = db;
    this.#lease = { holder: lease.holder ?? randomUUID(), leaseMs: lease.leaseMs ?? DEFAULT_LEASE_MS };
  }

  get lease(): Readonly<OutboxLease> {
    return this.#lease;
  }

  #until(now: Date): string {
    return new Date(now.getTime() + this.#lease.leaseMs).toISOString();
  }

  async enqueue(request: OutgoingRequest, now = new Date()): Promise<OutgoingTransfer> {
    const transferId = randomUUID();
    const at = now.toISOString();
    const r = await this.#db.write((q) =>
      q.one<Row>(
        'INSERT INTO outgoing_transfer (transfer_id, request_json, state, urgent, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *',
        [transferId, JSON.stringify(request), 'queued', request.urgency === 'urgent' ? 1 : 0, at, at, at],
      ),
    );
    return transferOf(r!);
  }

  async get(transferId: string): Promise<OutgoingTransfer | undefined> {
    const r = await this.#db.read((q) => q.one<Row>(`${SELECT} WHERE transfer_id = ?`, [transferId]));
    return r === undefined ? undefined : transferOf(r);
  }

  /** Newest first. */
  async list(o: { state?: OutgoingState; limit?: number } = {}): Promise<OutgoingTransfer[]> {
    const limit = Math.min(Math.max(o.limit ?? 100, 1), 1000);
    const rows = await this.#db.read((q) =>
      o.state === undefined
        ? q.all<Row>(`${SELECT} ORDER BY created_at DESC LIMIT ?`, [limit])
        : q.all<Row>(`${SELECT} WHERE state = ? ORDER BY created_at DESC LIMIT ?`, [o.state, limit]),
    );
    return rows.map(transferOf);
  }

  /** Queued transfers whose time has come: urgent ones first, then oldest first. */
  async due(now = new Date(), limit = 10): Promise<OutgoingTransfer[]> {
    const rows = await this.#db.read((q) =>
      q.all<Row>(`${SELECT} WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY urgent DESC, created_at LIMIT ?`, [
        now.toISOString(),
        limit,
      ]),
    );
    return rows.map(transferOf);
  }

  /** Takes a queued transfer for an attempt, leased; false when another worker (of this node or another) took it first. */
  async claim(transferId: string, now = new Date()): Promise<boolean> {
    const changed = await this.#change(
      "UPDATE outgoing_transfer SET state = 'sending', attempts = attempts + 1, updated_at = ?, claimed_by = ?, lease_until = ? WHERE transfer_id = ? AND state = 'queued'",
      [now.toISOString(), this.#lease.holder, this.#until(now), transferId],
    );
    return changed === 1;
  }

  /** Keeps the claims on transfers still being sent; answers how many this holder still has. */
  async renew(transferIds: readonly string[], now = new Date()): Promise<number> {
    if (transferIds.length === 0) return 0;
    return this.#change(
      `UPDATE outgoing_transfer SET lease_until = ? WHERE state = 'sending' AND claimed_by = ? AND transfer_id IN (${transferIds.map(() => '?').join(', ')})`,
      [this.#until(now), this.#lease.holder, ...transferIds],
    );
  }

  async progress(
    transferId: string,
    p: { instances: number; needed: number; sent: number; bytesSent: number },
    now = new Date(),
  ): Promise<void> {
    await this.#change(
      "UPDATE outgoing_transfer SET instances = ?, needed = ?, sent = ?, bytes_sent = ?, updated_at = ?, lease_until = ? WHERE transfer_id = ? AND state = 'sending' AND claimed_by = ?",
      [p.instances, p.needed, p.sent, p.bytesSent, now.toISOString(), this.#until(now), transferId, this.#lease.holder],
    );
  }

  /** Unconditional: a verified receipt is the truth, even when a cancel came too late to stop the transfer. */
  async delivered(
    transferId: string,
    r: { instances: number; sent: number; bytesSent: number; receipt: string },
    now = new Date(),
  ): Promise<void> {
    await this.#change(
      "UPDATE outgoing_transfer SET state = 'delivered', instances = ?, sent = ?, bytes_sent = ?, receipt = ?, last_error = NULL, updated_at = ?, receiver_state = 'delivered', receiver_checked_at = ?, receiver_checks = 0, next_check_at = ? WHERE transfer_id = ?",
      [
        r.instances,
        r.sent,
        r.bytesSent,
        r.receipt,
        now.toISOString(),
        now.toISOString(),
        new Date(now.getTime() + RECEIVER_CHECKS.firstDelayMs).toISOString(),
        transferId,
      ],
    );
  }

  /** Delivered transfers whose receiver is due to be asked again what became of the study. */
  async dueChecks(now = new Date(), limit = 10): Promise<OutgoingTransfer[]> {
    const rows = await this.#db.read((q) =>
      q.all<Row>(
        `${SELECT} WHERE next_check_at IS NOT NULL AND next_check_at <= ? AND state = 'delivered' ORDER BY next_check_at LIMIT ?`,
        [now.toISOString(), limit],
      ),
    );
    return rows.map(transferOf);
  }

  /**
   * What the receiver answered (or undefined when it could not be asked). A final state ends the asking; otherwise the
   * next question waits twice as long as the last, and none is asked once the receiver has purged its copy.
   */
  async receiverAnswered(
    transferId: string,
    answer: { state: ReceiverState; reason: string | null } | undefined,
    now = new Date(),
  ): Promise<void> {
    await this.#db.write(async (q) => {
      const t = await q.one<{ receiver_checks: number; created_at: string }>(
        'SELECT receiver_checks, created_at FROM outgoing_transfer WHERE transfer_id = ?',
        [transferId],
      );
      if (t === undefined) return;
      const delay = Math.min(RECEIVER_CHECKS.firstDelayMs * 2 ** (t.receiver_checks + 1), RECEIVER_CHECKS.maxDelayMs);
      const next = new Date(now.getTime() + delay);
      const final = answer !== undefined && answer.state !== 'delivered';
      const gone = next.getTime() > Date.parse(t.created_at) + RECEIVER_CHECKS.askForMs;
      const at = now.toISOString();
      const checks = 'receiver_checks = receiver_checks + 1, next_check_at = ?';
      if (answer === undefined)
        await q.run(`UPDATE outgoing_transfer SET ${checks} WHERE transfer_id = ?`, [
          gone ? null : next.toISOString(),
          transferId,
        ]);
      else
        // A change of state is a change of the transfer: whoever waits on it (GET …?after=) hears of it.
        await q.run(
          `UPDATE outgoing_transfer SET ${checks}, receiver_state = ?, receiver_reason = ?, receiver_checked_at = ?, updated_at = CASE WHEN receiver_state IS NOT DISTINCT FROM ? THEN updated_at ELSE ? END WHERE transfer_id = ?`,
          [final || gone ? null : next.toISOString(), answer.state, answer.reason, at, answer.state, at, transferId],
        );
    });
  }

  async retryAt(transferId: string, error: string, at: Date, now = new Date()): Promise<void> {
    await this.#change(
      "UPDATE outgoing_transfer SET state = 'queued', last_error = ?, next_attempt_at = ?, updated_at = ?, claimed_by = NULL WHERE transfer_id = ? AND state = 'sending' AND claimed_by = ?",
      [error, at.toISOString(), now.toISOString(), transferId, this.#lease.holder],
    );
  }

  async failed(transferId: string, error: string, now = new Date()): Promise<void> {
    await this.#change(
      "UPDATE outgoing_transfer SET state = 'failed', last_error = ?, updated_at = ?, claimed_by = NULL WHERE transfer_id = ? AND state = 'sending' AND claimed_by = ?",
      [error, now.toISOString(), transferId, this.#lease.holder],
    );
  }

  /**
   * A person queues a failed or cancelled transfer again: due at once, with a fresh give-up time. Answers the transfer
   * as it is afterwards; unchanged when its state allows no retry.
   */
  async retry(
    transferId: string,
    now = new Date(),
  ): Promise<{ retried: boolean; transfer: OutgoingTransfer | undefined }> {
    const at = now.toISOString();
    const changed = await this.#change(
      "UPDATE outgoing_transfer SET state = 'queued', attempts = 0, next_attempt_at = ?, tries_since = ?, updated_at = ? WHERE transfer_id = ? AND state IN ('failed', 'cancelled')",
      [at, at, at, transferId],
    );
    return { retried: changed === 1, transfer: await this.get(transferId) };
  }

  /**
   * A person stops a transfer that is not yet delivered. One being sent stops at its next batch (the worker is told);
   * should its receipt arrive first, the transfer is delivered after all, and shown so.
   */
  async cancel(
    transferId: string,
    reason: string,
    now = new Date(),
  ): Promise<{ cancelled: boolean; transfer: OutgoingTransfer | undefined }> {
    const changed = await this.#change(
      "UPDATE outgoing_transfer SET state = 'cancelled', last_error = ?, updated_at = ? WHERE transfer_id = ? AND state IN ('queued', 'sending', 'failed')",
      [reason, now.toISOString(), transferId],
    );
    return { cancelled: changed === 1, transfer: await this.get(transferId) };
  }

  /**
   * Attempts that were cut off go back in the queue, due at once: this holder's own (a stop, at start-up), and any
   * whose lease ran out (a node that died, or lost its database connection, mid-way).
   */
  requeueInterrupted(now = new Date()): Promise<number> {
    const at = now.toISOString();
    return this.#change(
      "UPDATE outgoing_transfer SET state = 'queued', next_attempt_at = ?, updated_at = ?, claimed_by = NULL WHERE state = 'sending' AND (claimed_by IS NULL OR claimed_by = ? OR lease_until < ?)",
      [at, at, this.#lease.holder, at],
    );
  }

  /** Only the transfers other holders let lapse: what a running node takes over from one that died. */
  requeueLapsed(now = new Date()): Promise<number> {
    const at = now.toISOString();
    return this.#change(
      "UPDATE outgoing_transfer SET state = 'queued', next_attempt_at = ?, updated_at = ?, claimed_by = NULL WHERE state = 'sending' AND claimed_by <> ? AND lease_until < ?",
      [at, at, this.#lease.holder, at],
    );
  }

  /** How many transfers are in each state (for metrics). */
  async countByState(): Promise<Record<string, number>> {
    const rows = await this.#db.read((q) =>
      q.all<{ state: string; n: number }>('SELECT state, COUNT(*) AS n FROM outgoing_transfer GROUP BY state'),
    );
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  #change(sql: string, params: readonly SqlValue[]): Promise<number> {
    return this.#db.write((q) => q.run(sql, params));
  }
}
