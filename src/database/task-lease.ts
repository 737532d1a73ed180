import { migratePostgres, type PostgresPool } from './postgres.ts';
import { PostgresDatabase, type SqlDatabase } from './statements.ts';

/**
 * Work that one node of a hospital does for all of them (purging the shared study index, pruning the shared audit
 * trail) is leased: the node that holds a task renews it each time it runs it; another takes it over only once the
 * lease has run out (its holder died or stopped). A node alone on its data folder holds every task.
 */
export interface TaskLeases {
  /** Whether this node may run `task` now; true renews its lease for `forMs`. */
  take(task: string, forMs: number, now?: Date): Promise<boolean>;
  close(): Promise<void>;
}

/** The one node of an embedded installation: nobody to share with. */
export const SOLE_NODE: TaskLeases = { take: async () => true, close: async () => undefined };

const MIGRATIONS = [`CREATE TABLE task_lease (task TEXT PRIMARY KEY, holder TEXT NOT NULL, lease_until TEXT NOT NULL)`];

/** Leases in the shared database; `holder` names this node the same across its restarts. */
export async function openPostgresTaskLeases(pool: PostgresPool, holder: string): Promise<TaskLeases> {
  await migratePostgres(pool, 'task leases', MIGRATIONS);
  return new SqlTaskLeases(new PostgresDatabase(pool, { ownsPool: false }), holder);
}

export class SqlTaskLeases implements TaskLeases {
  readonly #db: SqlDatabase;
  readonly #holder: string;

  constructor(db: SqlDatabase, holder: string) {
    this.#db = db;
    this.#holder = holder;
  }

  async take(task: string, forMs: number, now = new Date()): Promise<boolean> {
    const until = new Date(now.getTime() + forMs).toISOString();
    // One statement: a new lease, this holder's renewal, or a lapsed one taken over; anything else changes nothing.
    const changed = await this.#db.write((q) =>
      q.run(
        `INSERT INTO task_lease (task, holder, lease_until) VALUES (?, ?, ?)
         ON CONFLICT (task) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until
         WHERE task_lease.holder = excluded.holder OR task_lease.lease_until < ?`,
        [task, this.#holder, until, now.toISOString()],
      ),
    );
    return changed === 1;
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}
