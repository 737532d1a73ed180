import { createHash, randomUUID } from 'node:crypto';
import {
  addMissingColumns,
  listenPostgres,
  openPostgresStore,
  openSqliteStore,
  type PostgresListener,
  type PostgresPool,
  type SqlDatabase,
  type Statements,
} from '../database/index.ts';
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
  /** A C-MOVE or prefetch on one of the hospital's nodes waits for it and delivers it itself (TransferWatch). */
  claimed: boolean;
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
  claimed: number;
}

/** A transfer's row with whether it is claimed (1 or 0 on either database). */
const TRANSFER_ROWS = `SELECT t.*, CASE WHEN c.transfer_id IS NULL THEN 0 ELSE 1 END AS claimed
  FROM incoming_transfer t LEFT JOIN transfer_claim c ON c.transfer_id = t.transfer_id`;

function transferOf(r: Row): IncomingTransfer {
  return {
    transferId: r.transfer_id,
    senderUra: r.sender_ura,
    state: r.state,
    manifest: JSON.parse(r.manifest_json) as Manifest,
    ...(r.rejection_json !== null ? { rejection: JSON.parse(r.rejection_json) as Rejection } : {}),
    claimed: Number(r.claimed) === 1,
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
  /** Notes that a node of this hospital waits for the transfer and delivers it itself; it may not be opened yet. */
  claim(transferId: string, now?: Date): Promise<void>;
  /**
   * Calls `listener` with the id of each transfer that was opened, received instances or changed state on another node
   * that shares this inbox, once committed (a node hears its own changes itself); with `undefined` when changes may have
   * gone unheard (before it started to listen, or while its connection to the database was lost). An inbox no other
   * node shares never calls it.
   */
  onChange(listener: (transferId: string | undefined) => void): () => void;
  countByState(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/** Claims come before their transfer is opened (the source may open it after answering), so they have a table of their own. */
const TRANSFER_CLAIM_TABLE = `CREATE TABLE IF NOT EXISTS transfer_claim (
  transfer_id TEXT PRIMARY KEY,
  claimed_at TEXT NOT NULL
);`;

/** The inbox's tables on PostgreSQL: the embedded schema below as it stands today. Append, never edit. */
const POSTGRES_MIGRATIONS = [
  `CREATE TABLE incoming_transfer (
     transfer_id TEXT PRIMARY KEY,
     sender_ura TEXT NOT NULL,
     manifest_sha256 TEXT NOT NULL,
     manifest_json TEXT NOT NULL,
     state TEXT NOT NULL,
     opened_at TEXT NOT NULL,
     delivered_at TEXT,
     receipt TEXT,
     rejection_json TEXT
   );
   CREATE TABLE incoming_instance (
     transfer_id TEXT NOT NULL REFERENCES incoming_transfer (transfer_id),
     sop_instance_uid TEXT NOT NULL,
     received_at TEXT NOT NULL,
     PRIMARY KEY (transfer_id, sop_instance_uid)
   );`,
  TRANSFER_CLAIM_TABLE,
];

/** The inbox in its own SQLite file beside the study index (the embedded default). */
export function openSqliteInbox(path: string): Inbox {
  const sql = openSqliteStore(path, (db) => {
    db.exec(`
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
    db.exec(TRANSFER_CLAIM_TABLE);
    // Added with rejection by a person; inboxes written before it have no rejected transfers.
    addMissingColumns(db, 'incoming_transfer', ['rejection_json TEXT']);
  });
  return new SqlInbox(sql, NOT_SHARED);
}

/** The embedded inbox is its node's alone: nothing to announce, nothing to hear. */
const NOT_SHARED: Announcements = {
  announce: async () => undefined,
  onChange: () => () => undefined,
  close: async () => undefined,
};

/** The inbox on PostgreSQL, migrated to its newest schema; `ownsPool`: closing it ends the pool. */
export async function openPostgresInbox(pool: PostgresPool, o: { ownsPool: boolean }): Promise<Inbox> {
  const db = await openPostgresStore(pool, 'inbox', POSTGRES_MIGRATIONS, o);
  // Per schema: nodes of another hospital on the same server hear nothing of these transfers.
  const schema = (await db.read((q) => q.one<{ s: string }>('SELECT current_schema() AS s')))?.s ?? 'public';
  const channel = `beeldbrug_inbox.${schema}`;
  const listeners = new Set<(transferId: string | undefined) => void>();
  const tell = (id: string | undefined): void => {
    for (const l of listeners) l(id);
  };
  // A node tells its own watches of its changes in-process; from the channel it needs the other nodes' only. A payload
  // without an origin (a node of an earlier release) is another node's.
  const origin = randomUUID();
  const hear = (payload: string): void => {
    const space = payload.indexOf(' ');
    if (space < 0) return tell(payload);
    if (payload.slice(0, space) !== origin) tell(payload.slice(space + 1));
  };
  let listening: PostgresListener | undefined;
  return new SqlInbox(db, {
    announce: async (q, transferId) =>
      void (await q.one('SELECT pg_notify(?, ?)', [channel, `${origin} ${transferId}`])),
    onChange: (listener) => {
      listeners.add(listener);
      listening ??= listenPostgres(pool, channel, { message: hear, listening: () => tell(undefined) });
      return () => listeners.delete(listener);
    },
    close: async () => listening?.close(),
  });
}

/** How an inbox tells the other nodes sharing it of a change (inside the changing transaction), and hears theirs. */
interface Announcements {
  announce(q: Statements, transferId: string): Promise<void>;
  onChange(listener: (transferId: string | undefined) => void): () => void;
  close(): Promise<void>;
}

/**
 * The receiving side's record of transfers (docs/exchange-protocol.md): which manifest each sender opened and which of
 * its instances arrived verified. It survives restarts, so a sender that re-posts its manifest resumes where it
 * stopped. Its SQL is the same on SQLite and PostgreSQL.
 */
class SqlInbox implements Inbox {
  readonly #db: SqlDatabase;
  readonly #shared: Announcements;

  constructor(db: SqlDatabase, shared: Announcements) {
    this.#db = db;
    this.#shared = shared;
  }

  /**
   * Opens a transfer, or finds the one this sender opened with the same id and manifest. The same id from another
   * sender, or with another manifest, is a conflict: ids are the sender's idempotency keys, not ours to merge.
   */
  async open(manifest: Manifest, senderUra: string, now = new Date()): Promise<OpenOutcome> {
    const json = JSON.stringify(manifest);
    const digest = createHash('sha256').update(json).digest('hex');
    // A sender that posts the same manifest twice at once (a retry over a slow link) opens it once: the second insert
    // waits for the first and then finds it.
    const created = await this.#db.write(async (q) => {
      const n = await q.run(
        'INSERT INTO incoming_transfer (transfer_id, sender_ura, manifest_sha256, manifest_json, state, opened_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (transfer_id) DO NOTHING',
        [manifest.transferId, senderUra, digest, json, 'open', now.toISOString()],
      );
      if (n !== 1) return undefined;
      await this.#shared.announce(q, manifest.transferId);
      const claim = await q.one('SELECT 1 AS claimed FROM transfer_claim WHERE transfer_id = ?', [manifest.transferId]);
      return {
        transferId: manifest.transferId,
        senderUra,
        state: 'open' as const,
        manifest,
        claimed: claim !== undefined,
      };
    });
    if (created !== undefined) return { outcome: 'created', transfer: created };
    const row = await this.#db.read((q) =>
      q.one<{ sender_ura: string; manifest_sha256: string }>(
        'SELECT sender_ura, manifest_sha256 FROM incoming_transfer WHERE transfer_id = ?',
        [manifest.transferId],
      ),
    );
    if (row === undefined || row.sender_ura !== senderUra || row.manifest_sha256 !== digest)
      return { outcome: 'conflict', detail: `transfer ${manifest.transferId} was opened with another manifest` };
    const existing = await this.get(manifest.transferId, senderUra);
    if (existing === undefined) return { outcome: 'conflict', detail: 'transfer vanished' };
    return { outcome: 'existing', transfer: existing };
  }

  /** A transfer as its sender sees it; another organization's transfer is not found. */
  async get(transferId: string, senderUra: string): Promise<IncomingTransfer | undefined> {
    const row = await this.#db.read((q) =>
      q.one<Row>(`${TRANSFER_ROWS} WHERE t.transfer_id = ? AND t.sender_ura = ?`, [transferId, senderUra]),
    );
    return row === undefined ? undefined : transferOf(row);
  }

  /** Records that every instance arrived verified, with the receipt given to the sender (answered again on a retry). */
  async markDelivered(transferId: string, receipt: string, now = new Date()): Promise<void> {
    await this.#db.write(async (q) => {
      await q.run(
        "UPDATE incoming_transfer SET state = 'delivered', delivered_at = ?, receipt = ? WHERE transfer_id = ? AND state = 'open'",
        [now.toISOString(), receipt, transferId],
      );
      await this.#shared.announce(q, transferId);
    });
  }

  /** Newest first; what the hospital's own systems see of arrived and arriving studies. */
  async list(
    o: { state?: TransferState; limit?: number } = {},
  ): Promise<(IncomingTransfer & { openedAt: string; deliveredAt: string | null })[]> {
    const limit = Math.min(Math.max(o.limit ?? 100, 1), 1000);
    const rows = await this.#db.read((q) =>
      o.state === undefined
        ? q.all<Row>(`${TRANSFER_ROWS} ORDER BY t.opened_at DESC LIMIT ?`, [limit])
        : q.all<Row>(`${TRANSFER_ROWS} WHERE t.state = ? ORDER BY t.opened_at DESC LIMIT ?`, [o.state, limit]),
    );
    return rows.map((r) => ({ ...transferOf(r), openedAt: r.opened_at, deliveredAt: r.delivered_at }));
  }

  /** A transfer by id, whoever sent it (for this hospital's own users). */
  async find(transferId: string): Promise<IncomingTransfer | undefined> {
    const row = await this.#db.read((q) => q.one<Row>(`${TRANSFER_ROWS} WHERE t.transfer_id = ?`, [transferId]));
    return row === undefined ? undefined : transferOf(row);
  }

  async markImported(transferId: string): Promise<void> {
    await this.#db.write(async (q) => {
      await q.run("UPDATE incoming_transfer SET state = 'imported' WHERE transfer_id = ? AND state = 'delivered'", [
        transferId,
      ]);
      await this.#shared.announce(q, transferId);
    });
  }

  /** A person refused a held study; false when it is no longer held (accepted, or rejected by someone else first). */
  async reject(transferId: string, rejection: Rejection): Promise<boolean> {
    return this.#db.write(async (q) => {
      const changed = await q.run(
        "UPDATE incoming_transfer SET state = 'rejected', rejection_json = ? WHERE transfer_id = ? AND state = 'delivered'",
        [JSON.stringify(rejection), transferId],
      );
      if (changed === 1) await this.#shared.announce(q, transferId);
      return changed === 1;
    });
  }

  async receiptOf(transferId: string): Promise<string | undefined> {
    const row = await this.#db.read((q) =>
      q.one<{ receipt: string | null }>('SELECT receipt FROM incoming_transfer WHERE transfer_id = ?', [transferId]),
    );
    return row?.receipt ?? undefined;
  }

  /**
   * Notes instances of a transfer as received, in one transaction (one fsync for a batch, not one per instance). The
   * notes only spare work: an instance stored but not noted (a stop in between) is still found held, by its digest.
   */
  async markReceived(transferId: string, sopInstanceUids: readonly string[], now = new Date()): Promise<void> {
    if (sopInstanceUids.length === 0) return;
    await this.#db.write(async (q) => {
      for (const uid of sopInstanceUids)
        await q.run(
          'INSERT INTO incoming_instance (transfer_id, sop_instance_uid, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
          [transferId, uid, now.toISOString()],
        );
      await this.#shared.announce(q, transferId);
    });
  }

  async received(transferId: string): Promise<Set<string>> {
    const rows = await this.#db.read((q) =>
      q.all<{ sop_instance_uid: string }>('SELECT sop_instance_uid FROM incoming_instance WHERE transfer_id = ?', [
        transferId,
      ]),
    );
    return new Set(rows.map((r) => r.sop_instance_uid));
  }

  async claim(transferId: string, now = new Date()): Promise<void> {
    await this.#db.write((q) =>
      q.run('INSERT INTO transfer_claim (transfer_id, claimed_at) VALUES (?, ?) ON CONFLICT DO NOTHING', [
        transferId,
        now.toISOString(),
      ]),
    );
  }

  onChange(listener: (transferId: string | undefined) => void): () => void {
    return this.#shared.onChange(listener);
  }

  /** How many transfers are in each state (for metrics). */
  async countByState(): Promise<Record<string, number>> {
    const rows = await this.#db.read((q) =>
      q.all<{ state: string; n: number }>('SELECT state, COUNT(*) AS n FROM incoming_transfer GROUP BY state'),
    );
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  async close(): Promise<void> {
    await this.#shared.close();
    await this.#db.close();
  }
}
