import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import type { RegistryConfig } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { migrateRegistry, openRegistryStore, startRegistry } from '../registry/index.ts';
import { printJson } from './cli-output.ts';
import { REGISTRY_CONFIG_FILE_NAME } from './command-line.ts';
import { tableCopyLine } from './migrate-command.ts';
import { untilSignal } from './signals.ts';

/** A fresh network key for BSN pseudonyms: 32 random bytes, base64. Every node of the network gets a copy; the registry none. */
export function writeNetworkKey(path: string): void {
  if (existsSync(path))
    throw new BeeldbrugError(
      'CONFIG_INVALID',
      `${path} exists; a new network key would change every pseudonym, not overwriting it`,
    );
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
}

export interface RegistryInitValues {
  name: string;
  organization: { name: string; ura: string };
  host: string;
  port: number;
  clients: { ura: string; name: string; type?: 'hospital' | 'general-practice' | 'pharmacy' }[];
}

/**
 * Writes a registry configuration into `dir`. Its certificate goes in `dir/pki` (node.crt, node.key and the network's
 * ca.crt, as `beeldbrug pki node --out DIR/pki` writes them).
 */
export function initRegistry(dir: string, v: RegistryInitValues): string {
  const path = join(dir, REGISTRY_CONFIG_FILE_NAME);
  if (existsSync(path)) throw new BeeldbrugError('CONFIG_INVALID', `${path} exists; not overwriting it`);
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  const config = {
    registry: { name: v.name, organization: v.organization },
    dataDir: 'data',
    listen: { host: v.host, port: v.port },
    tls: { certFile: 'pki/node.crt', keyFile: 'pki/node.key', caFile: 'pki/ca.crt' },
    clients: v.clients.map((c) => ({ ura: c.ura, name: c.name, type: c.type ?? 'hospital' })),
    rateLimit: { perSecond: 500, burst: 2000 },
    log: { level: 'info' },
  };
  const header = [
    '# Beeldbrug localization and consent registry (beeldbrug registry start --config this-file).',
    '# It holds BSN pseudonyms (HMAC with the network key, which only the nodes have), the organizations that know',
    '# each patient, and consents shaped as FHIR R4 Consent. Never a BSN, a name or an image.',
    '# tls: the registry certificate and the CA the nodes chain to; clients: the only organizations (URA in their',
    '# certificate) that may call it; rateLimit: requests per second per organization.',
    "# Care providers record only the patient's choices about themselves; the patients' own channel records the rest:",
    '# add it as { ura, name, role: patient-portal, commonName: <CN of its certificate> } (docs/registry.md, "Who may change what").',
    '# At national scale add `workers: 2` (processes on the one port) and `cache: { sizeMb: 4096, warm: true }`',
    '# (a page cache per worker that holds the localizations and consent terms); see docs/registry.md.',
    '# Several registry machines share one PostgreSQL database with',
    '# `database: { kind: postgresql, host, name, user, passwordFile }` (docs/registry.md, "On PostgreSQL").',
    '',
  ].join('\n');
  writeFileSync(path, header + stringify(config), { mode: 0o640, flag: 'wx' });
  return path;
}

/**
 * Runs the registry until SIGINT or SIGTERM. With `workers` > 1 this process forks that many workers (node:cluster)
 * that serve the one port together, each with the SQLite file open (WAL lets readers run side by side) or its own
 * connections to PostgreSQL, and only hands
 * out connections and stops them; a worker that dies on its own stops the whole registry, since half a registry that
 * looks healthy is worse than none.
 */
export async function serveRegistry(config: RegistryConfig, logger: Logger): Promise<void> {
  if (config.workers > 1 && cluster.isPrimary) {
    await (await openRegistryStore(config)).close();
    await superviseWorkers(config.workers, logger);
    return;
  }
  // Connections are spread evenly over the workers, so each enforces its share of a client's rate limit.
  const share = cluster.isWorker ? config.workers : 1;
  const rateLimit = {
    perSecond: config.rateLimit.perSecond / share,
    burst: Math.max(1, Math.ceil(config.rateLimit.burst / share)),
  };
  const running = await startRegistry({ ...config, rateLimit }, logger);
  const worker = cluster.worker;
  if (worker === undefined) {
    process.stdout.write(`READY registry https=${running.port}\n`);
    await untilSignal();
  } else {
    worker.send({ ready: running.port });
    // Ctrl-C reaches the whole process group; the primary decides and sends SIGTERM, so a worker waits for that.
    process.on('SIGINT', () => undefined);
    await new Promise((done) => process.once('SIGTERM', done));
  }
  logger.info('stopping');
  await running.close();
  // The channel to the primary would keep a worker's event loop alive after its server has closed.
  worker?.disconnect();
}

async function superviseWorkers(count: number, logger: Logger): Promise<void> {
  const workers: Worker[] = Array.from({ length: count }, () => cluster.fork());
  let stopping = false;
  const exited = workers.map((w) => new Promise<void>((done) => w.once('exit', () => done())));
  const failed = new Promise<'worker-exited'>((done) => {
    for (const w of workers) {
      w.once('exit', (code, signal) => {
        if (stopping) return;
        logger.error({ worker: w.id, code, signal }, 'a registry worker stopped on its own; stopping the registry');
        process.exitCode = 1;
        done('worker-exited');
      });
    }
  });
  const ready = workers.map(
    (w) =>
      new Promise<number>((done) =>
        w.on('message', (m: { ready?: unknown }) => typeof m.ready === 'number' && done(m.ready)),
      ),
  );
  const ports = await Promise.race([Promise.all(ready), failed]);
  if (ports !== 'worker-exited') {
    process.stdout.write(`READY registry https=${ports[0] ?? 0} workers=${count}\n`);
    await Promise.race([untilSignal(), failed]);
  }
  stopping = true;
  logger.info('stopping');
  for (const w of workers) if (w.isConnected()) w.process.kill('SIGTERM');
  await Promise.all(exited);
}

/**
 * `beeldbrug registry migrate`: with the registry stopped, copies its embedded file to the PostgreSQL server its
 * configuration names and says what was verified. Run it again after an interruption: it goes on where it stopped.
 */
export async function migrateRegistryFromCli(
  config: Readonly<RegistryConfig>,
  out: NodeJS.WritableStream = process.stdout,
  json = false,
): Promise<number> {
  const report = await migrateRegistry(config, (table, copied) => {
    if (!json && copied % 1_000_000 === 0) out.write(`${table}: ${copied} copied so far\n`);
  });
  if (json) {
    printJson(report, out);
    return 0;
  }
  for (const c of report.tables) out.write(tableCopyLine(report.from, c));
  out.write(
    `start the registry with this configuration; keep ${report.from} with the registry's backups (the database holds its records now)\n`,
  );
  return 0;
}
