import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { Serial } from './serial.ts';
import { inPostgresTransaction, type PostgresClient, type PostgresPool } from './postgres.ts';

export type SqlValue = string | number | null | Uint8Array;
export type SqlRow = Record<string, unknown>;

/**
 * How a store runs one statement, the same on SQLite and PostgreSQL: SQL written once with `?` placeholders, in the
 * subset both understand (RETURNING, ON CONFLICT, string_agg, coalesce), so a store's logic is written once.
 */
export interface Statements {
  one<T = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  all<T = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Resolves to the number of rows the statement changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

/**
 * A store's database, whichever kind: statements in transactions. Every read and write of a store goes through one
 * of these two, so on SQLite's single connection nothing runs inside another's open transaction.
 */
export interface SqlDatabase {
  /** All of `work` or none; `durable`: on disk when it resolves, even where commits are otherwise relaxed. */
  write<T>(work: (q: Statements) => Promise<T>, o?: { durable?: boolean }): Promise<T>;
  /** Reads; on SQLite one snapshot, on PostgreSQL each statement its own (on any free connection). */
  read<T>(work: (q: Statements) => Promise<T>): Promise<T>;
  /**
   * One statement that is its own transaction, for a store's most frequent write: on PostgreSQL a single round trip,
   * prepared once per connection, without BEGIN and COMMIT around it. `sql` is fixed text (never built from values).
   */
  writeOne<T = SqlRow>(sql: string, params: readonly SqlValue[]): Promise<T | undefined>;
  close(): Promise<void>;
}

/** `?` placeholders as PostgreSQL's `$1`, `$2`... (the statements hold no `?` in literals). */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${(n += 1)}`);
}

const preparedNames = new Map<string, string>();

/** A server-side prepared statement's name per SQL text: the same name always means the same text on a connection. */
function preparedName(sql: string): string {
  let name = preparedNames.get(sql);
  if (name === undefined) {
    name = `beeldbrug_${preparedNames.size + 1}`;
    preparedNames.set(sql, name);
  }
  return name;
}

/** Statements on a pool (any free connection) or on the one connection of a transaction. */
export function postgresStatements(db: PostgresPool | PostgresClient): Statements {
  const rows = async <T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> =>
    (await db.query(numbered(sql), [...params])).rows as T[];
  return {
    one: async <T>(sql: string, params?: readonly SqlValue[]) => (await rows<T>(sql, params))[0],
    all: rows,
    run: async (sql, params = []) => (await db.query(numbered(sql), [...params])).rowCount ?? 0,
  };
}

/**
 * A store's database on a PostgreSQL pool. `retryConflicts`: a write that lost a race for a new unique row (another
 * node added it first) runs again, and finds it. `ownsPool`: close() ends the pool.
 */
export class PostgresDatabase implements SqlDatabase {
  readonly #pool: PostgresPool;
  readonly #reads: Statements;
  readonly #o: { ownsPool: boolean; retryConflicts?: number };

  constructor(pool: PostgresPool, o: { ownsPool: boolean; retryConflicts?: number }) {
    this.#pool = pool;
    this.#reads = postgresStatements(pool);
    this.#o = o;
  }

  // Every commit is durable on the server (synchronous_commit), so `durable` asks nothing more.
  write<T>(work: (q: Statements) => Promise<T>): Promise<T> {
    return inPostgresTransaction(this.#pool, (client) => work(postgresStatements(client)), {
      retryConflicts: this.#o.retryConflicts ?? 0,
    });
  }

  read<T>(work: (q: Statements) => Promise<T>): Promise<T> {
    return work(this.#reads);
  }

  async writeOne<T>(sql: string, params: readonly SqlValue[]): Promise<T | undefined> {
    const result = await this.#pool.query({ name: preparedName(sql), text: numbered(sql), values: [...params] });
    return result.rows[0] as T | undefined;
  }

  async close(): Promise<void> {
    if (this.#o.ownsPool && !this.#pool.ended) await this.#pool.end();
  }
}

/**
 * One SQLite connection whose transactions run one after another (the queue), each given Statements that run
 * synchronously underneath. Statements are prepared once per SQL text: a store's shapes repeat with other values.
 */
export class SqliteQueue implements SqlDatabase {
  readonly #db: DatabaseSync;
  readonly #serial = new Serial();
  readonly #prepared = new Map<string, StatementSync>();
  readonly #relaxed: boolean;
  readonly statements: Statements;

  /** `durability`: what the connection was opened with (openSqliteDatabase); `normal` lets write() ask for more. */
  constructor(db: DatabaseSync, o: { durability?: 'full' | 'normal' } = {}) {
    this.#db = db;
    this.#relaxed = o.durability === 'normal';
    this.statements = {
      one: async <T>(sql: string, params: readonly SqlValue[] = []) =>
        this.#prepare(sql).get(...params) as T | undefined,
      all: async <T>(sql: string, params: readonly SqlValue[] = []) => this.#prepare(sql).all(...params) as T[],
      run: async (sql, params = []) => Number(this.#prepare(sql).run(...params).changes),
    };
  }

  get db(): DatabaseSync {
    return this.#db;
  }

  /**
   * A write transaction, taken at its start: all of `work` is committed, or none. `durable`: on disk when it
   * resolves, on a connection whose commits are otherwise relaxed (what no other record can redo).
   */
  write<T>(work: (q: Statements) => Promise<T>, o?: { durable?: boolean }): Promise<T> {
    return this.#serial.run(async () => {
      const raise = o?.durable === true && this.#relaxed;
      // Set between transactions: it applies to the commits that follow on this connection.
      if (raise) this.#db.exec('PRAGMA synchronous = FULL');
      try {
        this.#db.exec('BEGIN IMMEDIATE');
        try {
          const result = await work(this.statements);
          this.#db.exec('COMMIT');
          return result;
        } catch (err) {
          // SQLite may already have rolled back (a full disk, an interrupted statement).
          if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
          throw err;
        }
      } finally {
        if (raise) this.#db.exec('PRAGMA synchronous = NORMAL');
      }
    });
  }

  /** Reads on one snapshot, never in the middle of another's write transaction. */
  read<T>(work: (q: Statements) => Promise<T>): Promise<T> {
    return this.#serial.run(async () => {
      this.#db.exec('BEGIN');
      try {
        return await work(this.statements);
      } finally {
        if (this.#db.isTransaction) this.#db.exec('COMMIT');
      }
    });
  }

  writeOne<T>(sql: string, params: readonly SqlValue[]): Promise<T | undefined> {
    return this.write((q) => q.one<T>(sql, params));
  }

  /** Waits for the transactions before it; closing twice is harmless. */
  close(): Promise<void> {
    return this.#serial.run(async () => {
      if (this.#db.isOpen) this.#db.close();
    });
  }

  #prepare(sql: string): StatementSync {
    let stmt = this.#prepared.get(sql);
    if (stmt === undefined) {
      // Query shapes are bounded, but a store that builds them (C-FIND) must not keep every one it ever saw.
      if (this.#prepared.size > 200) this.#prepared.clear();
      stmt = this.#db.prepare(sql);
      this.#prepared.set(sql, stmt);
    }
    return stmt;
  }
}
