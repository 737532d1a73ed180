// npm run bench:registry — the registry at the scale of the Dutch population. 18 million patients (BENCH_PATIENTS to
// scale down), each known at one to three of 80 hospitals and most with a consent, are loaded into the registry's
// SQLite file through its own store; the registry then runs as its own process (`beeldbrug registry start`), and a
// separate load process asks localization questions over HTTPS with mutual TLS on loopback: real pseudonyms (the
// network key's HMAC of valid BSNs), nine in ten of patients the registry knows. Prints the rate, p50 and p99 latency,
// and the registry's peak resident memory; the last line is `registry_qps=X p99_ms=Y rss_mb=Z`.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
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
import { createTestCa, issueNodeCertificate } from '../src/auth/index.ts';
import { type NewConsent, SqliteRegistryStore } from '../src/registry/index.ts';
import { peakRssMb } from './peers.ts';
import type { LoadOptions, LoadResult } from './registry-load.ts';
import { HOSPITALS, PSEUDONYM_BYTES, profileOf, pseudonymOrder, pseudonymsOf } from './registry-population.ts';

const PATIENTS = Number(process.env['BENCH_PATIENTS'] ?? 18_000_000);
const SAMPLE = Number(process.env['BENCH_SAMPLE'] ?? 1_000_000);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
const WARMUP_SECONDS = Number(process.env['BENCH_WARMUP_SECONDS'] ?? 5);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 25);
const WORKERS = Number(process.env['BENCH_WORKERS'] ?? 2);
const CACHE_MB = Number(process.env['BENCH_CACHE_MB'] ?? 4096);
/** Patients per transaction while loading. */
const BATCH = 50_000;
/** Hospitals whose certificates the load process presents, in turn per connection. */
const REQUESTERS = [0, 20, 40, 60].map((k) => HOSPITALS[k] ?? { name: '?', ura: '?' });
const REGISTRY = { name: 'Landelijke registry', ura: '39999999' };

const root = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'beeldbrug-bench-registry-'));
const children = new Set<ChildProcess>();

function cleanUp(): void {
  for (const c of children) c.kill('SIGKILL');
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
  dbFile: string,
): Promise<{ locations: number; consents: number }> {
  const store = new SqliteRegistryStore(dbFile);
  const at = Date.now();
  const totals = { locations: 0, consents: 0 };
  try {
    for (let start = 0; start < order.length; start += BATCH) {
      const locations: { pseudonym: Buffer; ura: string; category: 'imaging' }[] = [];
      const consents: NewConsent[] = [];
      for (let k = start; k < Math.min(order.length, start + BATCH); k++) {
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
      const added = await store.load({ locations, consents }, at);
      totals.locations += added.locations;
      totals.consents += added.consents;
      if ((start / BATCH) % 40 === 39)
        process.stdout.write(`  ${(start + BATCH).toLocaleString('en')} patients loaded\n`);
    }
  } finally {
    await store.close();
  }
  return totals;
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

function runLoad(o: LoadOptions): Promise<LoadResult> {
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
      else resolve(JSON.parse(out) as LoadResult);
    });
  });
}

/** Peak resident memory of the registry: the process and, with workers, each of them. */
function registryPeakRssMb(pid: number): number {
  const kids = readdirSync(`/proc/${pid}/task`).flatMap((t) =>
    readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8')
      .split(' ')
      .filter((s) => s.trim() !== '')
      .map(Number),
  );
  return peakRssMb(pid) + kids.reduce((sum, k) => sum + peakRssMb(k), 0);
}

try {
  const pki = certificates();
  // BENCH_KEEP_DATA=DIR keeps the loaded database (and the network key its pseudonyms were made with) in DIR, so that
  // a later run with the same BENCH_PATIENTS measures again without loading for minutes.
  const kept = process.env['BENCH_KEEP_DATA'];
  const dataDir = kept ?? join(work, 'data');
  mkdirSync(dataDir, { recursive: true });
  const dbFile = join(dataDir, 'registry.sqlite');
  const populationFile = join(dataDir, 'population.json');
  const previous = existsSync(populationFile)
    ? (JSON.parse(readFileSync(populationFile, 'utf8')) as { patients: number; networkKey: string })
    : undefined;
  const reuse = previous?.patients === PATIENTS;
  const networkKey = reuse ? Buffer.from(previous.networkKey, 'base64') : randomBytes(32);
  if (!reuse) for (const f of readdirSync(dataDir)) if (f.startsWith('registry.sqlite')) rmSync(join(dataDir, f));

  console.log(
    `${reuse ? 'reusing' : 'loading'} ${PATIENTS.toLocaleString('en')} patients (${HOSPITALS.length} hospitals) ${reuse ? 'in' : 'into'} the registry's SQLite file${reuse ? ` ${dbFile}` : ''}`,
  );
  const loadStarted = performance.now();
  const pseudonyms = await pseudonymsOf(networkKey, PATIENTS);
  console.log(`  pseudonyms (HMAC-SHA256 of valid BSNs) in ${seconds(loadStarted)} s`);
  if (!reuse) {
    const sortStarted = performance.now();
    const order = pseudonymOrder(pseudonyms);
    console.log(`  sorted by pseudonym in ${seconds(sortStarted)} s`);
    const insertStarted = performance.now();
    const rows = await load(pseudonyms, order, dbFile);
    console.log(
      `  ${rows.locations.toLocaleString('en')} localizations and ${rows.consents.toLocaleString('en')} consents inserted in ${seconds(insertStarted)} s`,
    );
    // The load's dirty pages would otherwise be written back by the kernel during the measurement.
    const db = openSync(dbFile, 'r+');
    fsyncSync(db);
    closeSync(db);
    if (kept !== undefined)
      writeFileSync(populationFile, JSON.stringify({ patients: PATIENTS, networkKey: networkKey.toString('base64') }));
  }
  const dbBytes = readdirSync(dataDir).reduce(
    (sum, f) => sum + (f.startsWith('registry.sqlite') ? statSync(join(dataDir, f)).size : 0),
    0,
  );
  console.log(`load: ${seconds(loadStarted)} s in all, database ${(dbBytes / 2 ** 30).toFixed(2)} GiB`);

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
  console.log(
    `load process: ${CONNECTIONS} keep-alive connections as ${REQUESTERS.length} hospitals, one query in flight each, ${WARMUP_SECONDS} s warm-up, ${SECONDS} s measured`,
  );
  const result = await runLoad({
    port: registry.port,
    caFile: pki.caFile,
    clients: pki.clients,
    sampleFile,
    connections: CONNECTIONS,
    warmupSeconds: WARMUP_SECONDS,
    seconds: SECONDS,
  });
  const rss = registry.child.pid !== undefined ? registryPeakRssMb(registry.child.pid) : Number.NaN;
  registry.child.kill('SIGTERM');
  await registry.exited;
  children.delete(registry.child);
  const registryLog = readFileSync(logFile, 'utf8');
  const logged = registryLog.split('"msg":"localization query"').length - 1;
  const warmed = [...registryLog.matchAll(/"ms":(\d+),"msg":"page cache warmed"/g)].map(
    (m) => `${(Number(m[1]) / 1000).toFixed(1)} s`,
  );
  console.log(
    `page cache per worker (${CACHE_MB.toLocaleString('en')} MiB) warmed at start: ${warmed.join('; ') || 'no'}`,
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
  console.log(`registry_qps=${result.qps.toFixed(0)} p99_ms=${result.p99Ms.toFixed(2)} rss_mb=${rss.toFixed(0)}`);
} catch (err) {
  process.exitCode = 1;
  console.error(err instanceof Error ? err.message : err);
} finally {
  cleanUp();
}
