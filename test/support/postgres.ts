// A real PostgreSQL server (Debian's) for the tests that claim PostgreSQL: a fresh cluster in a temporary folder, on a
// free port of 127.0.0.1, with password (SCRAM) authentication as a hospital's server would have.
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, globSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import pg from 'pg';
import type { PostgresSettings } from '../../src/database/index.ts';
import { freePort } from './net.ts';
import { run } from './processes.ts';
import { tempDir } from './tmp.ts';
import { requireUnpacked } from './tools.ts';

export interface TestPostgres {
  /** Settings for a database of its own on the server, as a node's configuration names them. */
  database(name: string): Promise<PostgresSettings>;
}

/** Debian installs PostgreSQL's programs under /usr/lib/postgresql/<major>/bin; the newest there is used. */
function binDir(): string | undefined {
  const found = globSync('/usr/lib/postgresql/*/bin/initdb').sort(
    (a, b) => Number(b.split('/')[4]) - Number(a.split('/')[4]),
  );
  return found[0]?.replace(/\/initdb$/, '');
}

/** A PostgreSQL cluster of its own, started by a test or a benchmark. */
export interface PostgresServer {
  /** Settings for the server's `postgres` database, with the password in a file. */
  base: Omit<PostgresSettings, 'name'>;
  /** Creates a database and answers the settings that name it. */
  database(name: string): Promise<PostgresSettings>;
  /** The server's main process (its children are the backends and helpers). */
  pid(): number;
  /** `immediate`: no shutdown checkpoint, for a server whose data is thrown away. */
  stop(o?: { immediate?: boolean }): Promise<void>;
}

/**
 * initdb (unless `dir`/data holds a cluster already) and pg_ctl start, on a free port of 127.0.0.1, password (SCRAM)
 * authentication as a hospital's server would have. `settings`: server parameters (`-c name=value`). initdb refuses
 * to run as root, so as root the cluster belongs to Debian's `postgres` user.
 */
export async function startPostgresServer(
  dir: string,
  o: { settings?: Record<string, string | number>; noSync?: boolean } = {},
): Promise<PostgresServer> {
  const bin = binDir();
  if (bin === undefined) throw new Error('PostgreSQL is not installed (scripts/install-debian-packages.sh)');
  const data = join(dir, 'data');
  const sockets = join(dir, 'sockets');
  mkdirSync(sockets, { recursive: true });
  const pwFile = join(dir, 'password');
  const fresh = !existsSync(data);
  if (fresh) writeFileSync(pwFile, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  const password = readFileSync(pwFile, 'utf8').trim();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const owner = await run('id', ['-u', 'postgres']);
    const group = await run('id', ['-g', 'postgres']);
    const [uid, gid] = [Number(owner.stdout), Number(group.stdout)];
    for (const p of [dir, sockets, pwFile]) chownSync(p, uid, gid);
    chmodSync(dir, 0o700);
  }
  const as = (program: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', `${bin}/${program}`, ...args]) : run(`${bin}/${program}`, args);
  if (fresh) {
    const init = await as('initdb', [
      '-D',
      data,
      '-U',
      'beeldbrug',
      '--auth=scram-sha-256',
      `--pwfile=${pwFile}`,
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
      ...(o.noSync === true ? ['--no-sync'] : []),
    ]);
    if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  }
  const port = await freePort();
  const parameters = Object.entries(o.settings ?? {}).map(([k, v]) => `-c ${k}=${v}`);
  const options = [`-p ${port} -k ${sockets} -c listen_addresses=127.0.0.1`, ...parameters].join(' ');
  const start = await as('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', options, '-w', 'start']);
  if (start.code !== 0) throw new Error(`PostgreSQL did not start: ${start.stdout}${start.stderr}`);
  const clientPwFile = join(dir, 'client-password');
  writeFileSync(clientPwFile, `${password}\n`, { mode: 0o600 });
  const base = { host: '127.0.0.1', port, user: 'beeldbrug', passwordFile: clientPwFile };
  return {
    base,
    async database(name) {
      const admin = new pg.Client({ host: base.host, port, user: base.user, password, database: 'postgres' });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
      } finally {
        await admin.end();
      }
      return { ...base, name };
    },
    pid: () => Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]),
    async stop(so = {}) {
      await as('pg_ctl', ['-D', data, '-m', so.immediate === true ? 'immediate' : 'fast', '-w', 'stop']);
    },
  };
}

/**
 * Starts a server for this test (stopped when it ends), or skips (a developer machine without PostgreSQL) / fails
 * (CI).
 */
export async function startPostgres(t: TestContext): Promise<TestPostgres | undefined> {
  const bin = binDir();
  if (
    requireUnpacked(
      t,
      bin !== undefined ? `${bin}/initdb` : '/usr/lib/postgresql/*/bin/initdb',
      'scripts/install-debian-packages.sh',
    ) === undefined
  )
    return undefined;
  // fsync off: these tests prove behaviour, not durability of the test server's own disk writes.
  const server = await startPostgresServer(tempDir(t, 'beeldbrug-pg-'), {
    settings: { fsync: 'off', max_connections: 200 },
    noSync: true,
  });
  t.after(() => server.stop({ immediate: true }));
  return server;
}

/** A fresh, empty store of the kind under test, closed when `t` ends. */
export type OpenStore<T> = (t: TestContext) => Promise<T>;
export type StoreCase<T> = readonly [name: string, body: (t: TestContext, open: OpenStore<T>) => Promise<void>];

/**
 * The same cases on a store's embedded SQLite implementation and on PostgreSQL, so its rules are proven where they
 * run. PostgreSQL is one real server for all the cases, a database of its own for each.
 */
export function onBothDatabases<T extends { close(): Promise<void> }>(
  what: string,
  open: { sqlite: (dir: string) => T | Promise<T>; postgres: (settings: PostgresSettings) => Promise<T> },
  cases: readonly StoreCase<T>[],
): void {
  const closing = (tt: TestContext, store: T): T => {
    tt.after(() => store.close());
    return store;
  };
  test(`${what}, on the embedded SQLite database`, async (t) => {
    for (const [name, body] of cases)
      await t.test(name, (tt) => body(tt, async (ttt) => closing(ttt, await open.sqlite(tempDir(ttt)))));
  });
  test(`${what}, on PostgreSQL`, async (t) => {
    const server = await startPostgres(t);
    if (server === undefined) return;
    let databases = 0;
    for (const [name, body] of cases)
      await t.test(name, (tt) =>
        body(tt, async (ttt) => closing(ttt, await open.postgres(await server.database(`store_${(databases += 1)}`)))),
      );
  });
}

/** One statement as the database's owner (the user the settings name), on a connection of its own. */
export async function queryAsOwner<T extends pg.QueryResultRow>(s: PostgresSettings, sql: string): Promise<T[]> {
  const client = await connectAsOwner(s);
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function connectAsOwner(s: PostgresSettings): Promise<pg.Client> {
  const client = new pg.Client({
    host: s.host,
    port: s.port,
    user: s.user,
    database: s.name,
    password: readFileSync(s.passwordFile!, 'utf8').trim(),
  });
  await client.connect();
  return client;
}

/** A connection as the database's owner, the way an administrator looks into (or edits) the node's tables; ended with `t`. */
export async function asOwner(t: TestContext, s: PostgresSettings): Promise<pg.Client> {
  const client = await connectAsOwner(s);
  t.after(() => client.end());
  return client;
}
