import { openPostgresStore, openSqliteStore, type PostgresPool, type SqlDatabase } from '../database/index.ts';

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
  close(): Promise<void>;
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS prefetch_delivery (
  transfer_id TEXT PRIMARY KEY,
  destination TEXT NOT NULL,
  requested_at TEXT NOT NULL,
  finished_at TEXT
)`;

/** The embedded store: one table in a file of its own (`prefetch.sqlite`). */
export function openSqlitePrefetchDeliveries(path: string): PrefetchDeliveries {
  return new SqlPrefetchDeliveries(openSqliteStore(path, (db) => db.exec(SCHEMA)));
}

/** The same table on PostgreSQL, migrated; `ownsPool`: closing ends the pool. */
export async function openPostgresPrefetchDeliveries(
  pool: PostgresPool,
  o: { ownsPool: boolean },
): Promise<PrefetchDeliveries> {
  return new SqlPrefetchDeliveries(await openPostgresStore(pool, 'prefetch', [SCHEMA], o));
}

class SqlPrefetchDeliveries implements PrefetchDeliveries {
  readonly #db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  async add(d: PendingDelivery): Promise<void> {
    await this.#db.write((q) =>
      q.run(
        'INSERT INTO prefetch_delivery (transfer_id, destination, requested_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
        [d.transferId, d.destination, new Date().toISOString()],
      ),
    );
  }

  async finish(transferId: string): Promise<void> {
    await this.#db.write((q) =>
      q.run('UPDATE prefetch_delivery SET finished_at = ? WHERE transfer_id = ?', [
        new Date().toISOString(),
        transferId,
      ]),
    );
  }

  async pending(): Promise<PendingDelivery[]> {
    const rows = await this.#db.read((q) =>
      q.all<{ transfer_id: string; destination: string }>(
        'SELECT transfer_id, destination FROM prefetch_delivery WHERE finished_at IS NULL ORDER BY requested_at, transfer_id',
      ),
    );
    return rows.map((r) => ({ transferId: r.transfer_id, destination: r.destination }));
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}
