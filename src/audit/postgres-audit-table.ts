import {
  inPostgresTransaction,
  migratePostgres,
  postgresStatements,
  type PostgresClient,
  type PostgresPool,
} from '../database/index.ts';
import {
  COLUMNS,
  listRecords,
  sharedOperations,
  type AuditReader,
  type AuditTable,
  type AuditWriter,
} from './audit-table.ts';
import type { Row, UntrustedRow } from './chain-form.ts';
import type { AuditFilter } from './types.ts';

/**
 * The schema, one migration per entry. `time` is the ISO text the chain hashes, not a timestamp the server would
 * render its own way. The triggers keep the table append-only for everyone but the owner who drops them; the chain
 * and the witness catch what such an owner changes.
 */
const MIGRATIONS = [
  `CREATE TABLE audit_record (
     sequence BIGINT PRIMARY KEY,
     time TEXT NOT NULL,
     action TEXT NOT NULL,
     bsn TEXT,
     user_id TEXT NOT NULL,
     event_json TEXT NOT NULL,
     hash TEXT NOT NULL
   );
   CREATE INDEX audit_by_bsn ON audit_record (bsn, sequence);
   CREATE INDEX audit_by_user ON audit_record (user_id, sequence);
   CREATE INDEX audit_by_time ON audit_record (time);
   CREATE TABLE audit_head (one INTEGER PRIMARY KEY CHECK (one = 1), sequence BIGINT NOT NULL, hash TEXT NOT NULL, mac TEXT NOT NULL);
   CREATE TABLE audit_pruned (sequence BIGINT PRIMARY KEY, hash TEXT NOT NULL, mac TEXT NOT NULL, time TEXT NOT NULL);
   CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN RAISE EXCEPTION '%', TG_ARGV[0]; END $$;
   CREATE FUNCTION audit_refuse_unpruned_delete() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF OLD.sequence > COALESCE((SELECT MAX(sequence) FROM audit_pruned), 0) THEN
         RAISE EXCEPTION 'the audit trail is append-only; only records past their retention are pruned';
       END IF;
       RETURN OLD;
     END $$;
   CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_record
     FOR EACH ROW EXECUTE FUNCTION audit_refuse('the audit trail is append-only');
   CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_record
     FOR EACH ROW EXECUTE FUNCTION audit_refuse_unpruned_delete();
   CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_record
     FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse('the audit trail is append-only');
   CREATE TRIGGER audit_pruned_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_pruned
     FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse('prune anchors are append-only');`,
];

/** Every appending node takes this lock for its transaction: the chain is one strict sequence across nodes. */
const APPEND_LOCK = 'beeldbrug audit append';
/** Rows read per round trip while verify walks the whole trail. */
const VERIFY_BATCH = 5000;

/**
 * The audit table on PostgreSQL, shared by every node of a hospital. Appends take one advisory lock, so two nodes
 * never give out the same sequence or chain onto the same head; verify reads one repeatable-read snapshot.
 */
export class PostgresAuditTable implements AuditTable {
  readonly #pool: PostgresPool;
  readonly #ownsPool: boolean;

  private constructor(pool: PostgresPool, ownsPool: boolean) {
    this.#pool = pool;
    this.#ownsPool = ownsPool;
  }

  /** Applies the schema's migrations, then the table is ready. `ownsPool`: close() ends the pool too. */
  static async open(pool: PostgresPool, o: { ownsPool: boolean }): Promise<PostgresAuditTable> {
    try {
      await migratePostgres(pool, 'audit', MIGRATIONS);
    } catch (err) {
      // A pool the table would own must not outlive a table that never opened (a CLI command would not exit).
      if (o.ownsPool) await pool.end();
      throw err;
    }
    return new PostgresAuditTable(pool, o.ownsPool);
  }

  write<T>(work: (w: AuditWriter) => Promise<T>): Promise<T> {
    return inPostgresTransaction(this.#pool, (client) => work(operations(client)), { lock: APPEND_LOCK });
  }

  read<T>(work: (r: AuditReader) => Promise<T>): Promise<T> {
    return inPostgresTransaction(this.#pool, (client) => work(operations(client)), {
      isolation: 'repeatable read',
      readOnly: true,
    });
  }

  list(filter: AuditFilter, limit: number): Promise<Row[]> {
    return listRecords(postgresStatements(this.#pool), filter, limit);
  }

  async close(): Promise<void> {
    if (this.#ownsPool && !this.#pool.ended) await this.#pool.end();
  }
}

function operations(client: PostgresClient): AuditWriter {
  return {
    ...sharedOperations(postgresStatements(client)),
    rowsAt: async (sequences) =>
      (await client.query(`SELECT ${COLUMNS} FROM audit_record WHERE sequence = ANY($1::bigint[])`, [sequences]))
        .rows as UntrustedRow[],
    rows: () => batches(client),
    structureProblem: async () => {
      // A view in the place of a table could answer a filtered query otherwise than the full scan verify makes.
      const tables = await client.query<{ n: number }>(
        `SELECT COUNT(*)::int AS n FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
           AND table_name IN ('audit_record', 'audit_head', 'audit_pruned')`,
      );
      return tables.rows[0]?.n === 3 ? undefined : 'the audit tables were replaced (by views, or removed)';
    },
  };
}

/** Every row in sequence order, a batch per round trip (keyset, so each batch is an index range read). */
async function* batches(client: PostgresClient): AsyncIterable<UntrustedRow> {
  let after: number | undefined;
  for (;;) {
    const { rows } = await client.query<UntrustedRow & { sequence: number }>(
      after === undefined
        ? `SELECT ${COLUMNS} FROM audit_record ORDER BY sequence LIMIT ${VERIFY_BATCH}`
        : `SELECT ${COLUMNS} FROM audit_record WHERE sequence > $1 ORDER BY sequence LIMIT ${VERIFY_BATCH}`,
      after === undefined ? [] : [after],
    );
    yield* rows;
    if (rows.length < VERIFY_BATCH) return;
    after = rows[rows.length - 1]!.sequence;
  }
}
