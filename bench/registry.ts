// npm run bench:registry [-- --store postgres] — the registry at the scale of the Dutch population. 18 million
// patients (BENCH_PATIENTS to scale down), each known at one to three of 80 hospitals and most with a consent, are
// loaded through the registry's own store: into its SQLite file (the default), or with `--store postgres` into a
// PostgreSQL server of Debian's that the benchmark starts, tuned as PostgreSQL's documentation advises for the memory
// given. The registry then runs as its own process (`beeldbrug registry start`), and a separate load process asks
// localization questions over HTTPS with mutual TLS on loopback: real pseudonyms (the network key's HMAC of valid
// BSNs), nine in ten of patients the registry knows. Prints the rate, p50 and p99 latency, and the peak memory of the
// registry's processes and (on PostgreSQL) the server's: `registry_qps=X p99_ms=Y rss_mb=Z`. The same load process
// measures, in turns with the registry, its floor (bench/registry-floor.ts: node's HTTPS with mutual TLS answering one
// fixed Bundle, the transport's ceiling on this machine); the last line is the registry's rate over the floor's,
// `registry_ratio_vs_floor=R`.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createTestCa, issueNodeCertificate } from '../src/auth/index.ts';
import type { PostgresSettings } from '../src/database/index.ts';
import {
  type NewConsent,
  PostgresRegistryStore,
  type RegistryStore,
  SqliteRegistryStore,
} from '../src/registry/index.ts';
import { queryAsOwner, startPostgresServer, type PostgresServer } from '../test/support/postgres.ts';
import { peakRssMb } from './peers.ts';
import type { FloorOptions } from './registry-floor.ts';
import type { LoadOptions, LoadResult } from './registry-load.ts';
import { HOSPITALS, PSEUDONYM_BYTES, profileOf, pseudonymOrder, pseudonymsOf } from './registry-population.ts';

const PATIENTS = Number(process.env['BENCH_PATIENTS'] ?? 18_000_000);
const SAMPLE = Number(process.env['BENCH_SAMPLE'] ?? 1_000_000);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
const WARMUP_SECONDS = Number(process.env['BENCH_WARMUP_SECONDS'] ?? 5);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 25);
/** The registry and the floor are loaded in turn, this many times each. */
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const WORKERS = Number(process.env['BENCH_WORKERS'] ?? 2);
const CACHE_MB = Number(process.env['BENCH_CACHE_MB'] ?? 4096);
// On PostgreSQL its shared_buffers (BENCH_PG_SHARED_BUFFERS_MB) take the place of the per-worker cache.
const { values: flags } = parseArgs({ options: { store: { type: 'string', default: 'sqlite' } } });
if (flags.store !== 'sqlite' && flags.store !== 'postgres')
  throw new Error(`--store is sqlite (the default) or postgres, not ${flags.store}`);
const ON_POSTGRES = flags.store === 'postgres';
/**
 * PostgreSQL tuned as its documentation advises ("Resource Consumption", "WAL Configuration"): shared_buffers a
 * quarter of the memory the registry and its database may use together (4 GiB), the rest left to the OS page cache
 * (effective_cache_size tells the planner); SSD costs; JIT off for statements of a few index reads; checkpoints far
 * apart while loading. Commits stay durable (fsync on).
 */
const POSTGRES_SETTINGS = {
  shared_buffers: `${Number(process.env['BENCH_PG_SHARED_BUFFERS_MB'] ?? 1024)}MB`,
  effective_cache_size: '3GB',
  random_page_cost: 1.1,
  jit: 'off',
  max_wal_size: '16GB',
  checkpoint_timeout: '30min',
  max_connections: 100,
};
/** Patients per transaction while loading. */
const BATCH = 50_000;
/** Hospitals whose certificates the load process presents, in turn per connection. */
const REQUESTERS = [0, 20, 40, 60].map((k) => HOSPITALS[k] ?? { name: '?', ura: '?' });
const REGISTRY = { name: 'Landelijke registry', ura: '39999999' };

const root = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'beeldbrug-bench-registry-'));
const children = new Set<ChildProcess>();

/** The PostgreSQL server of a `--store postgres` run, stopped at the end (or on Ctrl-C). */
let postgres: PostgresServer | undefined;

function cleanUp(): void {
  for (const c of children) c.kill('SIGKILL');
  // SIGINT is PostgreSQL's fast shutdown; a kept cluster starts again next time.
  if (postgres !== undefined) process.kill(postgres.pid(), 'SIGINT');
  rmSync(work, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanUp();
    process.exit(130);
  });
}

const seconds = (since: number): string => ((performance.now() - since) / 1000).toFixed(1);

function certificates(): {
  caFile: string;
  registry: { certFile: string; keyFile: string };
  clients: { certFile: string; keyFile: string }[];
} {
  const dir = join(work, 'pki');
  mkdirSync(dir);
  const ca = createTestCa({ commonName: 'bench:registry CA' });
  const write = (name: string, o: { name: string; ura: string }): { certFile: string; keyFile: string } => {
    const issued = issueNodeCertificate(ca, { commonName: `${o.ura}.bench`, organization: o, hosts: ['127.0.0.1'] });
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    writeFileSync(certFile, issued.certPem);
    writeFileSync(keyFile, issued.keyPem);
    return { certFile, keyFile };
  };
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  return {
    caFile: join(dir, 'ca.crt'),
    registry: write('registry', REGISTRY),
    clients: REQUESTERS.map((h) => write(h.ura, h)),
  };
}

/** Every patient's localizations and consents, in pseudonym order, through the registry's own store. */
async function load(
  pseudonyms: Buffer,
  order: Uint32Array,
  store: RegistryStore,
): Promise<{ locations: number; consents: number }> {
  const at = Date.now();
  const totals = { locations: 0, consents: 0 };
  let batches = 0;
  // PostgreSQL writes each stream's batches with a backend of its own: two ranges of the order, one per core.
  const streams = ON_POSTGRES ? 2 : 1;
  const share = Math.ceil(order.length / streams);
  await Promise.all(
    Array.from({ length: streams }, (_, s) => loadRange(s * share, Math.min(order.length, (s + 1) * share))),
  );
  return totals;

  async function loadRange(from: number, to: number): Promise<void> {
    let previous: Promise<void> = Promise.resolve();
    for (let start = from; start < to; start += BATCH) {
      const locations: { pseudonym: Buffer; ura: string; category: 'imaging' }[] = [];
      const consents: NewConsent[] = [];
      for (let k = start; k < Math.min(to, start + BATCH); k++) {
        const i = order[k] ?? 0;
        const pseudonym = pseudonyms.subarray(i * PSEUDONYM_BYTES, (i + 1) * PSEUDONYM_BYTES);
        const profile = profileOf(i);
        const known = profile.hospitals.map((h) => HOSPITALS[h]?.ura ?? '');
        for (const ura of known) locations.push({ pseudonym, ura, category: 'imaging' });
        if (profile.consent === 'none') continue;
        const recorded = {
          recordedAt: at,
          recordedBy: { ura: known[0] ?? '', id: '', name: 'patient' },
          channel: 'patient-portal' as const,
          period: { start: at - 86_400_000 },
        };
        consents.push({
          pseudonym,
          decision: 'permit',
          category: 'imaging',
          actor: { role: 'holder', organization: { type: 'hospital' } },
          ...recorded,
        });
        if (profile.consent === 'permit-but-deny-one') {
          consents.push({
            pseudonym,
            decision: 'deny',
            category: 'imaging',
            actor: { role: 'holder', organization: { ura: known[0] ?? '' } },
            ...recorded,
          });
        }
      }
      // One batch is written while the next is made: the database and this process each on a core of their own.
      await previous;
      previous = store.load({ locations, consents }, at).then((added) => {
        totals.locations += added.locations;
        totals.consents += added.consents;
        batches += 1;
        if (batches % 40 === 0) process.stdout.write(`  ${(batches * BATCH).toLocaleString('en')} patients loaded\n`);
      });
    }
    await previous;
  }
}

/** The pseudonyms the load process asks about: nine in ten known to the registry, shuffled. */
async function writeSample(pseudonyms: Buffer, networkKey: Buffer, file: string): Promise<void> {
  const size = Math.min(SAMPLE, PATIENTS);
  const unknown = await pseudonymsOf(networkKey, Math.ceil(size / 10), PATIENTS);
  const lines: string[] = [];
  for (let n = 0; n < size - Math.ceil(size / 10); n++) {
    const i = Math.floor(Math.random() * PATIENTS);
    lines.push(pseudonyms.subarray(i * PSEUDONYM_BYTES, (i + 1) * PSEUDONYM_BYTES).toString('base64url'));
  }
  for (let n = 0; n < unknown.length / PSEUDONYM_BYTES; n++)
    lines.push(unknown.subarray(n * PSEUDONYM_BYTES, (n + 1) * PSEUDONYM_BYTES).toString('base64url'));
  for (let n = lines.length - 1; n > 0; n--) {
    const m = Math.floor(Math.random() * (n + 1));
    [lines[n], lines[m]] = [lines[m] ?? '', lines[n] ?? ''];
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

/** The registry as `beeldbrug registry start` runs it; its log (one line per query) goes to a file, as in production. */
async function startRegistryProcess(
  configFile: string,
  logFile: string,
): Promise<{ child: ChildProcess; port: number; exited: Promise<number | null> }> {
  const log = openSync(logFile, 'w');
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(root, 'src/main.ts'), 'registry', 'start', '--config', configFile],
    {
      stdio: ['ignore', log, 'pipe'],
    },
  );
  closeSync(log);
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 600_000;
  for (;;) {
    const out = readFileSync(logFile, 'utf8');
    const ready = /^READY registry https=(\d+)/m.exec(out);
    if (ready?.[1] !== undefined) return { child, port: Number(ready[1]), exited };
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`the registry did not start:\n${stderr}${out.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The floor (bench/registry-floor.ts) with as many processes as the registry has workers, answering `body`. */
async function startFloor(
  pki: ReturnType<typeof certificates>,
  body: string,
): Promise<{ child: ChildProcess; port: number; exited: Promise<number | null> }> {
  const options: FloorOptions = { workers: WORKERS, caFile: pki.caFile, ...pki.registry, body };
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(root, 'bench/registry-floor.ts'), JSON.stringify(options)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.add(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const ready = /^READY floor https=(\d+)/m.exec(out);
      if (ready?.[1] !== undefined) resolve(Number(ready[1]));
    });
    void exited.then((code) => reject(new Error(`the floor exited with ${code} before it was ready: ${out}`)));
  });
  return { child, port, exited };
}

function runLoad(o: LoadOptions): Promise<LoadResult[]> {
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(root, 'bench/registry-load.ts'), JSON.stringify(o)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      children.delete(child);
      if (code !== 0) reject(new Error(`the load process exited with ${code}`));
      else resolve(JSON.parse(out) as LoadResult[]);
    });
  });
}

/** Peak resident memory of the registry: the process and, with workers, each of them. */
function registryPeakRssMb(pid: number): number {
  return peakRssMb(pid) + childrenOf(pid).reduce((sum, k) => sum + peakRssMb(k), 0);
}

/** The direct children of a process (a registry's workers, PostgreSQL's backends and helpers). */
function childrenOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
    readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8')
      .split(' ')
      .filter((s) => s.trim() !== '')
      .map(Number),
  );
}

/**
 * Proportional set size (kB → MiB) of a process and its children: shared memory (PostgreSQL's shared_buffers, which
 * every backend maps) counted once over all of them, where a sum of resident sizes would count it per backend.
 */
function pssMb(pid: number): number {
  return [pid, ...childrenOf(pid)].reduce((sum, p) => {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'));
      return sum + (m?.[1] !== undefined ? Number(m[1]) / 1024 : 0);
    } catch {
      return sum; // a backend that ended between the listing and the read
    }
  }, 0);
}

/** The loaded population, kept with BENCH_KEEP_DATA: how many patients, the network key, and in which store. */
interface Population {
  patients: number;
  networkKey: string;
  store?: string;
}

/**
 * Where the registry keeps its records in this run: the SQLite file in the data folder, or the PostgreSQL server (its
 * cluster in the data folder too, so BENCH_KEEP_DATA keeps it).
 */
async function openStore(
  dataDir: string,
  fresh: boolean,
): Promise<{
  store: RegistryStore;
  database?: PostgresSettings;
  server?: PostgresServer;
  bytes(): Promise<number>;
  settle(): Promise<void>;
}> {
  const dbFile = join(dataDir, 'registry.sqlite');
  if (!ON_POSTGRES) {
    if (fresh) for (const f of readdirSync(dataDir)) if (f.startsWith('registry.sqlite')) rmSync(join(dataDir, f));
    return {
      store: new SqliteRegistryStore(dbFile),
      bytes: async () =>
        readdirSync(dataDir).reduce(
          (sum, f) => sum + (f.startsWith('registry.sqlite') ? statSync(join(dataDir, f)).size : 0),
          0,
        ),
      // The load's dirty pages would otherwise be written back by the kernel during the measurement.
      settle: async () => {
        const db = openSync(dbFile, 'r+');
        fsyncSync(db);
        closeSync(db);
      },
    };
  }
  const clusterDir = join(dataDir, 'postgres');
  if (fresh) rmSync(clusterDir, { recursive: true, force: true });
  // As root the cluster belongs to Debian's postgres user, which must be able to pass through to it (not list).
  if (process.getuid?.() === 0) for (const d of [work, dataDir]) chmodSync(d, 0o711);
  const server = await startPostgresServer(clusterDir, { settings: POSTGRES_SETTINGS });
  const database = fresh ? await server.database('registry') : { ...server.base, name: 'registry' };
  const store = await PostgresRegistryStore.connect(database);
  const admin = <T extends pg.QueryResultRow>(sql: string): Promise<T[]> => queryAsOwner<T>(database, sql);
  return {
    store,
    database,
    server,
    bytes: async () => (await admin<{ n: number }>("SELECT pg_database_size('registry')::bigint AS n"))[0]?.n ?? 0,
    // As PostgreSQL's documentation advises after a bulk load: statistics for the planner, the visibility map set (so
    // questions read the indexes alone), and the load's dirty pages written before the measurement.
    settle: async () => {
      await admin('VACUUM (ANALYZE)');
      await admin('CHECKPOINT');
    },
  };
}

try {
  const pki = certificates();
  // BENCH_KEEP_DATA=DIR keeps the loaded database (and the network key its pseudonyms were made with) in DIR, so that
  // a later run with the same BENCH_PATIENTS and store measures again without loading for minutes.
  const kept = process.env['BENCH_KEEP_DATA'];
  const dataDir = kept ?? join(work, 'data');
  mkdirSync(dataDir, { recursive: true });
  const populationFile = join(dataDir, 'population.json');
  const previous = existsSync(populationFile)
    ? (JSON.parse(readFileSync(populationFile, 'utf8')) as Population)
    : undefined;
  const reuse = previous?.patients === PATIENTS && (previous.store ?? 'sqlite') === flags.store;
  const networkKey = reuse ? Buffer.from(previous.networkKey, 'base64') : randomBytes(32);
  const where = ON_POSTGRES ? 'PostgreSQL' : "the registry's SQLite file";

  console.log(
    `${reuse ? 'reusing' : 'loading'} ${PATIENTS.toLocaleString('en')} patients (${HOSPITALS.length} hospitals) ${reuse ? 'in' : 'into'} ${where}${reuse ? ` in ${dataDir}` : ''}`,
  );
  const loadStarted = performance.now();
  const pseudonyms = await pseudonymsOf(networkKey, PATIENTS);
  console.log(`  pseudonyms (HMAC-SHA256 of valid BSNs) in ${seconds(loadStarted)} s`);
  const opened = await openStore(dataDir, !reuse);
  postgres = opened.server;
  try {
    if (!reuse) {
      if (existsSync(populationFile)) rmSync(populationFile);
      const sortStarted = performance.now();
      const order = pseudonymOrder(pseudonyms);
      console.log(`  sorted by pseudonym in ${seconds(sortStarted)} s`);
      const insertStarted = performance.now();
      const rows = await load(pseudonyms, order, opened.store);
      console.log(
        `  ${rows.locations.toLocaleString('en')} localizations and ${rows.consents.toLocaleString('en')} consents inserted in ${seconds(insertStarted)} s`,
      );
      const settleStarted = performance.now();
      await opened.settle();
      console.log(`  settled (${ON_POSTGRES ? 'VACUUM ANALYZE, CHECKPOINT' : 'fsync'}) in ${seconds(settleStarted)} s`);
      if (kept !== undefined)
        writeFileSync(
          populationFile,
          JSON.stringify({ patients: PATIENTS, networkKey: networkKey.toString('base64'), store: flags.store }),
        );
    }
    console.log(
      `load: ${seconds(loadStarted)} s in all, database ${((await opened.bytes()) / 2 ** 30).toFixed(2)} GiB`,
    );
  } finally {
    await opened.store.close();
  }

  const sampleFile = join(work, 'sample.txt');
  await writeSample(pseudonyms, networkKey, sampleFile);

  const configFile = join(work, 'registry.json');
  // The limit is per client organization; four hospitals share this load, each far below it, so nothing is refused.
  const rateLimit = { perSecond: 1_000_000, burst: 1_000_000 };
  writeFileSync(
    configFile,
    JSON.stringify({
      registry: { name: 'bench registry', organization: REGISTRY },
      dataDir,
      ...(opened.database !== undefined ? { database: { kind: 'postgresql', ...opened.database } } : {}),
      listen: { host: '127.0.0.1', port: 0 },
      tls: { certFile: pki.registry.certFile, keyFile: pki.registry.keyFile, caFile: pki.caFile },
      clients: HOSPITALS.map((h) => ({ ...h, type: 'hospital' })),
      rateLimit,
      workers: WORKERS,
      // Each worker holds the localizations and consent terms in its own page cache, read in at start; the OS page
      // cache alone is not enough on machines that page out file pages not touched for a few seconds.
      cache: { sizeMb: CACHE_MB, warm: true },
      log: { level: 'info' },
    }),
  );
  const logFile = join(work, 'registry.log');
  const registry = await startRegistryProcess(configFile, logFile);
  console.log(
    `registry: ${WORKERS} worker process(es) on https://127.0.0.1:${registry.port}, mutual TLS, query log at info level to a file; ` +
      `rate limit ${rateLimit.perSecond.toLocaleString('en')}/s per client, so that it does not throttle this benchmark`,
  );
  const loadOptions = {
    caFile: pki.caFile,
    clients: pki.clients,
    sampleFile,
    connections: CONNECTIONS,
    warmupSeconds: WARMUP_SECONDS,
  };
  // The floor answers what the registry answers most: a Bundle naming as many organizations as the typical answer,
  // taken from a short unmeasured probe of the registry.
  const [probe] = await runLoad({ ...loadOptions, ports: [registry.port], rounds: 1, warmupSeconds: 0, seconds: 2 });
  const typical = Math.round((probe?.named ?? 0) / Math.max(1, probe?.requests ?? 0));
  const answer = probe?.answers[typical] ?? Object.values(probe?.answers ?? {})[0];
  if (answer === undefined)
    throw new Error(`the registry gave no answer to the probe: ${probe?.firstErrors.join('\n')}`);
  const floor = await startFloor(pki, answer);
  console.log(
    `floor: ${WORKERS} process(es) of node:https on https://127.0.0.1:${floor.port}, mutual TLS, answering one fixed Bundle of ${Buffer.byteLength(answer)} bytes that names ${typical} organization(s)`,
  );
  console.log(
    `load process: ${CONNECTIONS} keep-alive connections as ${REQUESTERS.length} hospitals, one query in flight each; ` +
      `${ROUNDS} rounds of registry then floor, each ${WARMUP_SECONDS} s warm-up and ${(SECONDS / ROUNDS).toFixed(1)} s measured (${SECONDS} s per server)`,
  );
  // PostgreSQL's memory is sampled while it serves: its processes come and go, and no kernel counter keeps a peak PSS.
  let postgresPeakMb = 0;
  const sampler =
    postgres !== undefined
      ? setInterval(() => {
          postgresPeakMb = Math.max(postgresPeakMb, pssMb(postgres?.pid() ?? 0));
        }, 250)
      : undefined;
  const [result, floorResult] = await runLoad({
    ...loadOptions,
    ports: [registry.port, floor.port],
    rounds: ROUNDS,
    seconds: SECONDS,
  });
  clearInterval(sampler);
  floor.child.kill('SIGTERM');
  await floor.exited;
  children.delete(floor.child);
  if (result === undefined || floorResult === undefined) throw new Error('the load process measured nothing');
  const registryMb = registry.child.pid !== undefined ? registryPeakRssMb(registry.child.pid) : Number.NaN;
  const rss = registryMb + postgresPeakMb;
  console.log(
    ON_POSTGRES
      ? `memory: registry ${registryMb.toFixed(0)} MB (peak resident, all its processes) + PostgreSQL ${postgresPeakMb.toFixed(0)} MB (peak proportional set size of all its processes, shared_buffers ${POSTGRES_SETTINGS.shared_buffers}; the rest of the database in the OS page cache)`
      : `memory: registry ${registryMb.toFixed(0)} MB (peak resident, all its processes)`,
  );
  registry.child.kill('SIGTERM');
  await registry.exited;
  children.delete(registry.child);
  const registryLog = readFileSync(logFile, 'utf8');
  const logged = registryLog.split('"msg":"localization query"').length - 1;
  const warmed = [...registryLog.matchAll(/"ms":(\d+),"msg":"page cache warmed"/g)].map(
    (m) => `${(Number(m[1]) / 1000).toFixed(1)} s`,
  );
  console.log(
    ON_POSTGRES
      ? `tables read through the caches at start: ${warmed.join('; ') || 'no'}`
      : `page cache per worker (${CACHE_MB.toLocaleString('en')} MiB) warmed at start: ${warmed.join('; ') || 'no'}`,
  );

  console.log(
    `requests: ${result.requests.toLocaleString('en')} in ${result.seconds.toFixed(1)} s, ${(result.named / Math.max(1, result.requests)).toFixed(2)} hospitals named per answer, errors: ${result.errors}`,
  );
  console.log(
    `latency ms: p50 ${result.p50Ms.toFixed(2)}  p90 ${result.p90Ms.toFixed(2)}  p99 ${result.p99Ms.toFixed(2)}  p99.9 ${result.p999Ms.toFixed(2)}  max ${result.maxMs.toFixed(2)}`,
  );
  console.log(`query log: ${logged.toLocaleString('en')} lines (warm-up included)`);
  if (result.errors > 0)
    throw new Error(
      `${result.errors} answers were not a 200 searchset Bundle, e.g.:\n${result.firstErrors.join('\n')}`,
    );
  if (logged < result.requests)
    throw new Error(`the query log has ${logged} lines for ${result.requests} answered queries`);

  if (floorResult.errors > 0)
    throw new Error(`the floor's answers were refused:\n${floorResult.firstErrors.join('\n')}`);
  console.log(
    `floor: ${floorResult.requests.toLocaleString('en')} in ${floorResult.seconds.toFixed(1)} s, ${floorResult.qps.toFixed(0)} answers/s, latency ms p50 ${floorResult.p50Ms.toFixed(2)}  p99 ${floorResult.p99Ms.toFixed(2)}`,
  );
  console.log(`registry_qps=${result.qps.toFixed(0)} p99_ms=${result.p99Ms.toFixed(2)} rss_mb=${rss.toFixed(0)}`);
  console.log(`registry_ratio_vs_floor=${(result.qps / floorResult.qps).toFixed(2)}`);
} catch (err) {
  process.exitCode = 1;
  console.error(err instanceof Error ? err.message : err);
} finally {
  await postgres?.stop();
  postgres = undefined;
  cleanUp();
}
