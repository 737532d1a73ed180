import { readFileSync } from 'node:fs';
import pg from 'pg';

/** How to reach the PostgreSQL server; secrets come from files, never from the configuration itself. */
export interface PostgresSettings {
  host: string;
  port: number;
  /** The database. */
  name: string;
  user: string;
  /** The password alone in a file (trailing newline ignored); none for trust, peer or certificate authentication. */
  passwordFile?: string | undefined;
  /** Verify the server's certificate against this CA and, with certFile and keyFile, present ours. */
  tls?: { caFile: string; certFile?: string | undefined; keyFile?: string | undefined } | undefined;
  poolSize?: number | undefined;
}

export type PostgresPool = pg.Pool;
export type PostgresClient = pg.PoolClient;

/** int8 (sequences, counts) as a number: the values the node keeps stay far below 2^53. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** A schema name the node chooses itself (never from input), checked so it can stand unquoted in SQL. */
function schemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`not a schema name: ${schema}`);
  return schema;
}

/** A setting's name or value the code chooses itself, checked so it can stand unquoted in the startup options. */
function settingName(word: string): string {
  if (!/^[a-z_][a-z0-9_.]*$/.test(word)) throw new Error(`not a setting: ${word}`);
  return word;
}

/**
 * A connection pool to the server. Nothing is connected until first used. `schema`: every connection of the pool
 * works in that schema (its search path), so two components with tables of the same names keep them apart.
 * `session`: settings (name → value) each connection starts with.
 */
export function openPostgresPool(
  s: PostgresSettings,
  o: { schema?: string | undefined; session?: Readonly<Record<string, string>> } = {},
): PostgresPool {
  const password =
    s.passwordFile !== undefined ? readFileSync(s.passwordFile, 'utf8').replace(/\r?\n$/, '') : undefined;
  // Set for every connection at its start: the schema to work in, and settings of the component's own choosing.
  const options = [
    ...(o.schema !== undefined ? [`-c search_path=${schemaName(o.schema)}`] : []),
    ...Object.entries(o.session ?? {}).map(([k, v]) => `-c ${settingName(k)}=${settingName(v)}`),
  ];
  const pool = new pg.Pool({
    host: s.host,
    port: s.port,
    database: s.name,
    user: s.user,
    ...(password !== undefined ? { password } : {}),
    ...(s.tls !== undefined
      ? {
          ssl: {
            ca: readFileSync(s.tls.caFile),
            ...(s.tls.certFile !== undefined ? { cert: readFileSync(s.tls.certFile) } : {}),
            ...(s.tls.keyFile !== undefined ? { key: readFileSync(s.tls.keyFile) } : {}),
          },
        }
      : {}),
    max: s.poolSize ?? 10,
    types,
    ...(options.length > 0 ? { options: options.join(' ') } : {}),
    application_name: 'beeldbrug',
  });
  // An idle connection the server drops (a restart, a failover) must not take the node down; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
}

export type Isolation = 'read committed' | 'repeatable read' | 'serializable';

/** Two transactions that wanted the same new row, or could not both be serialized: running one again succeeds. */
const CONFLICTS = new Set(['23505', '40001', '40P01']);

/**
 * Runs `work` as one transaction on one connection of the pool: committed when it resolves, rolled back when it
 * throws. `lock`: a transaction-level advisory lock taken first, so every writer of the same thing, in this process
 * or on another node, takes its turn. `retryConflicts`: how often to run `work` again, from its start, when another
 * transaction inserted the same unique value first (or a serialization failure or deadlock ended it); the next
 * attempt sees what the other committed.
 */
export async function inPostgresTransaction<T>(
  pool: PostgresPool,
  work: (client: PostgresClient) => Promise<T>,
  o: { isolation?: Isolation; readOnly?: boolean; lock?: string; retryConflicts?: number } = {},
): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await once(pool, work, o);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= (o.retryConflicts ?? 0) || typeof code !== 'string' || !CONFLICTS.has(code)) throw err;
    }
  }
}

async function once<T>(
  pool: PostgresPool,
  work: (client: PostgresClient) => Promise<T>,
  o: { isolation?: Isolation; readOnly?: boolean; lock?: string },
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(
      `BEGIN ISOLATION LEVEL ${(o.isolation ?? 'read committed').toUpperCase()}${o.readOnly === true ? ' READ ONLY' : ''}`,
    );
    try {
      if (o.lock !== undefined) await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [o.lock]);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  } finally {
    client.release();
  }
}

/**
 * Brings a component's tables up to its newest schema: each migration (SQL, in order) applied once, in a transaction
 * of its own, and noted in `schema_migration`. Several nodes starting at once take turns (an advisory lock), so each
 * migration runs exactly once. A database newer than this code (a migration it does not know) is refused: an older
 * node must not write into tables it does not understand.
 */
export async function migratePostgres(
  pool: PostgresPool,
  component: string,
  migrations: readonly string[],
  o: { schema?: string | undefined } = {},
): Promise<void> {
  await inPostgresTransaction(
    pool,
    async (client) => {
      // The pool's connections work in this schema (openPostgresPool); it exists before anything is made in it.
      if (o.schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schemaName(o.schema)}`);
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migration (component TEXT NOT NULL, version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (component, version))',
      );
      const done = await client.query<{ v: number | null }>(
        'SELECT MAX(version) AS v FROM schema_migration WHERE component = $1',
        [component],
      );
      const at = done.rows[0]?.v ?? 0;
      if (at > migrations.length)
        throw new Error(
          `the ${component} tables are at schema version ${at}, newer than this Beeldbrug knows (${migrations.length}): upgrade this node`,
        );
      for (let v = at + 1; v <= migrations.length; v += 1) {
        await client.query(migrations[v - 1]!);
        await client.query('INSERT INTO schema_migration (component, version) VALUES ($1, $2)', [component, v]);
      }
    },
    { lock: 'beeldbrug schema migration' },
  );
}

/** What a node hears of changes other connections (its own, and other nodes') announced on a channel. */
export interface PostgresListener {
  close(): Promise<void>;
}

/**
 * Listens on `channel` (a NOTIFY, which PostgreSQL delivers when the announcing transaction commits) on a connection
 * of its own, taken from the pool for as long as it listens. A lost connection is taken again after `retryMs`.
 * `listening` runs each time the LISTEN is in place, the first time too: what was announced before was not heard.
 */
export function listenPostgres(
  pool: PostgresPool,
  channel: string,
  o: { message: (payload: string) => void; listening: () => void; retryMs?: number },
): PostgresListener {
  let closed = false;
  let client: PostgresClient | undefined;
  let retry: NodeJS.Timeout | undefined;
  const connect = async (): Promise<void> => {
    try {
      const c = await pool.connect();
      if (closed) return c.release();
      client = c;
      c.on('notification', (n) => {
        if (n.channel === channel) o.message(n.payload ?? '');
      });
      c.on('error', () => {
        if (client !== c) return;
        client = undefined;
        c.release(true);
        schedule();
      });
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      o.listening();
    } catch {
      const c = client;
      client = undefined;
      c?.release(true);
      schedule();
    }
  };
  const schedule = (): void => {
    if (closed) return;
    retry = setTimeout(() => void connect(), o.retryMs ?? 1000);
    retry.unref();
  };
  void connect();
  return {
    close: async () => {
      closed = true;
      clearTimeout(retry);
      const c = client;
      client = undefined;
      if (c === undefined) return;
      await c.query(`UNLISTEN ${pg.escapeIdentifier(channel)}`).catch(() => undefined);
      c.release();
    },
  };
}
