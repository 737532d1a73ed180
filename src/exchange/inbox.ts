import { createHash } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { addMissingColumns, inTransaction, openSqliteDatabase } from '../database/index.ts';
import type { Manifest } from './manifest.ts';

/**
 * open: instances arriving; delivered: complete, verified, receipt given, held for a person unless a routing rule
 * forwards it; imported: also in the local PACS; rejected: a person refused the held study and its copy was removed.
 */
export type TransferState = 'open' | 'delivered' | 'imported' | 'failed' | 'rejected';

export const TRANSFER_STATES: readonly TransferState[] = ['open', 'delivered', 'imported', 'failed', 'rejected'];

/** Who refused a held study, when, and why (shown in the inbox and kept after the copy is gone). */
export interface Rejection {
  by: { id: string; name: string };
  at: string;
  reason: string;
}

export interface IncomingTransfer {
  transferId: string;
  senderUra: string;
  state: TransferState;
  manifest: Manifest;
  rejection?: Rejection;
}

export type OpenOutcome =
  { outcome: 'created' | 'existing'; transfer: IncomingTransfer } | { outcome: 'conflict'; detail: string };

interface Row {
  transfer_id: string;
  sender_ura: string;
  state: TransferState;
  manifest_json: string;
  opened_at: string;
  delivered_at: string | null;
  rejection_json: string | null;
}

function transferOf(r: Row): IncomingTransfer {
  return {
    transferId: r.transfer_id,
    senderUra: r.sender_ura,
    state: r.state,
    manifest: JSON.parse(r.manifest_json) as Manifest,
    ...(r.rejection_json !== null ? { rejection: JSON.parse(r.rejection_json) as Rejection } : {}),
  };
}

/** Where the node keeps incoming transfers: what arrived from whom, verified, delivered, held or refused. */
export interface Inbox {
  open(manifest: Manifest, senderUra: string, now?: Date): Promise<OpenOutcome>;
  get(transferId: string, senderUra: string): Promise<IncomingTransfer | undefined>;
  markDelivered(transferId: string, receipt: string, now?: Date): Promise<void>;
  list(o?: {
    state?: TransferState;
    limit?: number;
  }): Promise<(IncomingTransfer & { openedAt: string; deliveredAt: string | null })[]>;
  find(transferId: string): Promise<IncomingTransfer | undefined>;
  markImported(transferId: string): Promise<void>;
  reject(transferId: string, rejection: Rejection): Promise<boolean>;
  receiptOf(transferId: string): Promise<string | undefined>;
  markReceived(transferId: string, sopInstanceUids: readonly string[], now?: Date): Promise<void>;
  received(transferId: string): Promise<Set<string>>;
  countByState(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/**
 * The receiving side's record of transfers (docs/exchange-protocol.md), in its own SQLite file beside the study index:
 * which manifest each sender opened and which of its instances arrived verified. It survives restarts, so a sender that
 * re-posts its manifest resumes where it stopped.
 */
export class SqliteInbox implements Inbox {
  readonly #db: DatabaseSync;

  constructor(path: string) {
    this.#db = openSqliteDatabase(path);
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS incoming_transfer (
        transfer_id TEXT PRIMARY KEY,
        sender_ura TEXT NOT NULL,
        manifest_sha256 TEXT NOT NULL,
        manifest_json TEXT NOT NULL,
        state TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        delivered_at TEXT,
        receipt TEXT
      );
      CREATE TABLE IF NOT EXISTS incoming_instance (
        transfer_id TEXT NOT NULL REFERENCES incoming_transfer(transfer_id),
        sop_instance_uid TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (transfer_id, sop_instance_uid)
      );`);
    // Added with rejection by a person; inboxes written before it have no rejected transfers.
    addMissingColumns(this.#db, 'incoming_transfer', ['rejection_json TEXT']);
  }

  /**
   * Opens a transfer, or finds the one this sender opened with the same id and manifest. The same id from another
   * sender, or with another manifest, is a conflict: ids are the sender's idempotency keys, not ours to merge.
   */
  async open(manifest: Manifest, senderUra: string, now = new Date()): Promise<OpenOutcome> {
    const json = JSON.stringify(manifest);
    const digest = createHash('sha256').update(json).digest('hex');
    const row = this.#db
      .prepare('SELECT sender_ura, manifest_sha256 FROM incoming_transfer WHERE transfer_id = ?')
      .get(manifest.transferId) as { sender_ura: string; manifest_sha256: string } | undefined;
    if (row !== undefined) {
      if (row.sender_ura !== senderUra || row.manifest_sha256 !== digest) {
        return { outcome: 'conflict', detail: `transfer ${manifest.transferId} was opened with another manifest` };
      }
      const existing = await this.get(manifest.transferId, senderUra);
      if (existing === undefined) return { outcome: 'conflict', detail: 'transfer vanished' };
      return { outcome: 'existing', transfer: existing };
    }
    this.#db
      .prepare(
        'INSERT INTO incoming_transfer (transfer_id, sender_ura, manifest_sha256, manifest_json, state, opened_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(manifest.transferId, senderUra, digest, json, 'open', now.toISOString());
    return { outcome: 'created', transfer: { transferId: manifest.transferId, senderUra, state: 'open', manifest } };
  }

  /** A transfer as its sender sees it; another organization's transfer is not found. */
  async get(transferId: string, senderUra: string): Promise<IncomingTransfer | undefined> {
    const row = this.#db
      .prepare('SELECT * FROM incoming_transfer WHERE transfer_id = ? AND sender_ura = ?')
      .get(transferId, senderUra) as Row | undefined;
    return row === undefined ? undefined : transferOf(row);
  }

  /** Records that every instance arrived verified, with the receipt given to the sender (answered again on a retry). */
  async markDelivered(transferId: string, receipt: string, now = new Date()): Promise<void> {
    this.#db
      .prepare(
        "UPDATE incoming_transfer SET state = 'delivered', delivered_at = ?, receipt = ? WHERE transfer_id = ? AND state = 'open'",
      )
      .run(now.toISOString(), receipt, transferId);
  }

  /** Newest first; what the hospital's own systems see of arrived and arriving studies. */
  async list(
    o: { state?: TransferState; limit?: number } = {},
  ): Promise<(IncomingTransfer & { openedAt: string; deliveredAt: string | null })[]> {
    const limit = Math.min(Math.max(o.limit ?? 100, 1), 1000);
    const rows = (o.state === undefined
      ? this.#db.prepare('SELECT * FROM incoming_transfer ORDER BY opened_at DESC LIMIT ?').all(limit)
      : this.#db
          .prepare('SELECT * FROM incoming_transfer WHERE state = ? ORDER BY opened_at DESC LIMIT ?')
          .all(o.state, limit)) as unknown as Row[];
    return rows.map((r) => ({ ...transferOf(r), openedAt: r.opened_at, deliveredAt: r.delivered_at }));
  }

  /** A transfer by id, whoever sent it (for this hospital's own users). */
  async find(transferId: string): Promise<IncomingTransfer | undefined> {
    const row = this.#db.prepare('SELECT sender_ura FROM incoming_transfer WHERE transfer_id = ?').get(transferId) as
      { sender_ura: string } | undefined;
    return row === undefined ? undefined : this.get(transferId, row.sender_ura);
  }

  async markImported(transferId: string): Promise<void> {
    this.#db
      .prepare("UPDATE incoming_transfer SET state = 'imported' WHERE transfer_id = ? AND state = 'delivered'")
      .run(transferId);
  }

  /** A person refused a held study; false when it is no longer held (accepted, or rejected by someone else first). */
  async reject(transferId: string, rejection: Rejection): Promise<boolean> {
    const r = this.#db
      .prepare(
        "UPDATE incoming_transfer SET state = 'rejected', rejection_json = ? WHERE transfer_id = ? AND state = 'delivered'",
      )
      .run(JSON.stringify(rejection), transferId);
    return r.changes === 1;
  }

  async receiptOf(transferId: string): Promise<string | undefined> {
    const row = this.#db.prepare('SELECT receipt FROM incoming_transfer WHERE transfer_id = ?').get(transferId) as
      { receipt: string | null } | undefined;
    return row?.receipt ?? undefined;
  }

  /**
   * Notes instances of a transfer as received, in one transaction (one fsync for a batch, not one per instance). The
   * notes only spare work: an instance stored but not noted (a stop in between) is still found held, by its digest.
   */
  async markReceived(transferId: string, sopInstanceUids: readonly string[], now = new Date()): Promise<void> {
    if (sopInstanceUids.length === 0) return;
    const insert = this.#db.prepare(
      'INSERT OR IGNORE INTO incoming_instance (transfer_id, sop_instance_uid, received_at) VALUES (?, ?, ?)',
    );
    inTransaction(this.#db, () => {
      for (const uid of sopInstanceUids) insert.run(transferId, uid, now.toISOString());
    });
  }

  async received(transferId: string): Promise<Set<string>> {
    const rows = this.#db
      .prepare('SELECT sop_instance_uid FROM incoming_instance WHERE transfer_id = ?')
      .all(transferId) as { sop_instance_uid: string }[];
    return new Set(rows.map((r) => r.sop_instance_uid));
  }

  /** How many transfers are in each state (for metrics). */
  async countByState(): Promise<Record<string, number>> {
    const rows = this.#db.prepare('SELECT state, COUNT(*) AS n FROM incoming_transfer GROUP BY state').all() as {
      state: string;
      n: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
