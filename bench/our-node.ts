// Runs our node as its own process, the way `beeldbrug start` runs in a hospital, for benchmarks and kill tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initNode } from '../src/cli/init-command.ts';
import { openStudyStore, readEncryptionKeyFile } from '../src/store/index.ts';
import type { TemplateValues } from '../src/config/index.ts';
import { ensureAdmin } from '../test/support/node.ts';

const root = new URL('..', import.meta.url).pathname;

export interface NodeProcess {
  aeTitle: string;
  port: number;
  dir: string;
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function spawnNode(o: {
  aeTitle: string;
  port: number;
  peers: TemplateValues['peers'];
  dir?: string;
  logLevel?: string;
  edit?: (raw: Record<string, unknown>) => void;
  /** A command prefix the node runs under, e.g. `ip netns exec NS`. */
  wrap?: readonly string[];
  /** Runs once the node's folder, keys and config exist, before it starts (e.g. to fill its index). */
  prepare?: (dir: string, configPath: string) => Promise<void>;
}): Promise<NodeProcess> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'beeldbrug-bench-node-'));
  const { configPath } = initNode(dir, {
    nodeName: `bench ${o.aeTitle}`,
    organizationName: 'Benchmark',
    ura: '12345678',
    aeTitle: o.aeTitle,
    dimsePort: o.port,
    peers: o.peers,
  });
  const raw = parseYaml(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  raw['log'] = { level: o.logLevel ?? 'warn' };
  o.edit?.(raw);
  writeFileSync(configPath, stringifyYaml(raw));
  await ensureAdmin(raw, configPath);
  await o.prepare?.(dir, configPath);
  return startNodeProcess(o.aeTitle, o.port, dir, configPath, o.wrap);
}

/** Starts (or restarts) the node of `dir` and waits for its READY line. */
export function startNodeProcess(
  aeTitle: string,
  port: number,
  dir: string,
  configPath: string,
  wrap: readonly string[] = [],
): Promise<NodeProcess> {
  // Through the launcher a hospital runs, with its Node flags.
  const command = [...wrap, join(root, 'bin/beeldbrug'), 'start', '--config', configPath];
  const [file, ...args] = command as [string, ...string[]];
  const child = spawn(file, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`node did not start within 30 s\n${stderr}`)), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) {
        clearTimeout(timer);
        resolve({
          aeTitle,
          port,
          dir,
          child,
          stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code} before it was ready\n${stderr}`));
    });
  });
}

/** A benchmark counts only what was really stored: reopen the (stopped) node's store and count. */
export async function verifyStored(dir: string, expected: number): Promise<void> {
  const store = await openStudyStore({
    dataDir: join(dir, 'data'),
    encryptionKey: readEncryptionKeyFile(join(dir, 'keys', 'store.key')),
  });
  try {
    const { instances } = await store.index.stats();
    if (instances !== expected) throw new Error(`the node in ${dir} stored ${instances} of ${expected} instances`);
  } finally {
    await store.close();
  }
}

/** A benchmark hospital's node: its name and organization, and its node-to-node listener with the partners it trusts. */
export function exchangeSection(
  raw: Record<string, unknown>,
  o: {
    organization: { name: string; ura: string };
    listen: { host: string; port: number };
    tls: { certPath: string; keyPath: string; caPath: string };
    partners: readonly Record<string, unknown>[];
  },
): void {
  raw['node'] = { name: `${o.organization.name} (benchmark)`, organization: o.organization };
  raw['exchange'] = {
    listen: o.listen,
    tls: { certFile: o.tls.certPath, keyFile: o.tls.keyPath, caFile: o.tls.caPath },
    partners: o.partners,
  };
}
