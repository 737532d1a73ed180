import type { DatabaseSync } from 'node:sqlite';
import { openSqliteDatabase } from '../database/index.ts';
import { privateDatabaseFile } from './private-files.ts';

/** A prior a prefetch asked for, to go into the PACS as it arrives. */
export interface PendingDelivery {
  transferId: string;
  destination: string;
}

/**
 * The priors a prefetch has asked for and not yet put into the PACS. A node that stops while one comes picks it up at
 * its next start (the source keeps sending; what already arrived is forwarded then), so a prefetch is not lost to a
 * restart and the routing rules do not take the transfer for a study nobody asked for.
 */
export interface PrefetchDeliveries {
  add(d: PendingDelivery): Promise<void>;
  finish(transferId: string): Promise<void>;
  pending(): Promise<PendingDelivery[]>;
  close(): void;
}

/** The embedded store of PrefetchDeliveries: one SQLite table in its own file. */
export class SqlitePrefetchDeliveries implements PrefetchDeliveries {
  readonly #db: DatabaseSync;

  constructor(path: string) {
    privateDatabaseFile(path);
    this.#db = openSqliteDatabase(path);
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS prefetch_delivery (
        transfer_id TEXT PRIMARY KEY,
        destination TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        finished_at TEXT
      );`);
  }

  async add(d: PendingDelivery): Promise<void> {
    this.#db
      .prepare(
        'INSERT INTO prefetch_delivery (transfer_id, destination, requested_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      )
      .run(d.transferId, d.destination, new Date().toISOString());
  }

  async finish(transferId: string): Promise<void> {
    this.#db
      .prepare('UPDATE prefetch_delivery SET finished_at = ? WHERE transfer_id = ?')
      .run(new Date().toISOString(), transferId);
  }

  async pending(): Promise<PendingDelivery[]> {
    return (
      this.#db
        .prepare(
          'SELECT transfer_id, destination FROM prefetch_delivery WHERE finished_at IS NULL ORDER BY requested_at',
        )
        .all() as { transfer_id: string; destination: string }[]
    ).map((r) => ({ transferId: r.transfer_id, destination: r.destination }));
  }

  close(): void {
    this.#db.close();
  }
}
