// Starts a real hospital node in the test process from a configuration written by `beeldbrug init`, so the
// integration tests exercise the same start-up path an administrator uses.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initNode } from '../../src/cli/init-command.ts';
import { parseConfig, type TemplateValues } from '../../src/config/index.ts';
import { BeeldbrugError } from '../../src/errors/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { openAccounts, type RunningNode, startNode } from '../../src/node/index.ts';
import { freePort } from './net.ts';
import { tempDir } from './tmp.ts';
import { syncLogFile } from './log-file.ts';

export interface TestNode {
  node: RunningNode;
  aeTitle: string;
  port: number;
  dir: string;
  logFile: string;
  configPath: string;
}

export interface TestNodeOptions {
  aeTitle?: string;
  peers?: TemplateValues['peers'];
  /** Edits the parsed YAML before start, e.g. to add a TLS listener. */
  edit?: (raw: Record<string, unknown>) => void;
  /** Leave out the first admin account a node with an HTTPS listener needs, to see the node refuse to start. */
  noAdmin?: boolean;
  /** The clock of the sign-in rate limit, to let its window pass without waiting. */
  now?: () => number;
}

/** The first admin's password in test and benchmark nodes. */
export const TEST_ADMIN_PASSWORD = 'correct horse battery staple';

/**
 * Creates the first admin of a node whose configuration turns the HTTPS listener on (the node refuses to start
 * without one), as `beeldbrug user add --role admin` does on a real node.
 */
export async function ensureAdmin(raw: Record<string, unknown>, configPath: string): Promise<void> {
  if (raw['exchange'] === undefined) return;
  const accounts = await openAccounts(parseConfig(raw, configPath));
  try {
    if ((await accounts.count('admin')) === 0)
      await accounts.createLocal({
        username: 'admin',
        name: 'Test admin',
        role: 'admin',
        password: TEST_ADMIN_PASSWORD,
      });
  } finally {
    await accounts.close();
  }
}

export async function startTestNode(t: TestContext, o: TestNodeOptions = {}): Promise<TestNode> {
  const dir = tempDir(t, 'beeldbrug-node-');
  const aeTitle = o.aeTitle ?? 'BB_TEST';
  const port = await freePort();
  const { configPath } = initNode(dir, {
    nodeName: `test node ${aeTitle}`,
    organizationName: 'Testziekenhuis',
    ura: '12345678',
    aeTitle,
    dimsePort: port,
    peers: o.peers ?? [],
  });
  const raw = parseYaml(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  raw['log'] = { level: 'debug' };
  o.edit?.(raw);
  if (o.noAdmin !== true) await ensureAdmin(raw, configPath);
  const logFile = join(dir, 'node.log');
  let node: RunningNode | undefined;
  // A port that was free a moment ago may have been taken by a test running beside this one (freePort cannot hold it);
  // the DIMSE port is ours to choose, so try another.
  for (let attempt = 1; node === undefined; attempt++) {
    writeFileSync(configPath, stringifyYaml(raw));
    try {
      node = await startNode(
        parseConfig(raw, configPath),
        createLogger({ level: 'debug', destination: syncLogFile(logFile) }),
        o.now !== undefined ? { now: o.now } : {},
      );
    } catch (err) {
      if (
        attempt >= 3 ||
        !(err instanceof BeeldbrugError && err.code === 'LISTEN_FAILED' && err.message.includes('DICOM'))
      )
        throw err;
      const listeners = (raw['dimse'] as { listeners: { port: number }[] }).listeners;
      if (listeners[0] !== undefined) listeners[0].port = await freePort();
    }
  }
  const running = node;
  t.after(() => running.close());
  return { node, aeTitle, port: node.dimsePorts[0] ?? port, dir, logFile, configPath };
}

/** Stops a test node and starts it again from the same configuration and data folder, as an operator's restart does. */
export async function restartTestNode(t: TestContext, n: TestNode): Promise<TestNode> {
  await n.node.close();
  const config = parseConfig(parseYaml(readFileSync(n.configPath, 'utf8')) as Record<string, unknown>, n.configPath);
  const node = await startNode(config, createLogger({ level: 'debug', destination: syncLogFile(n.logFile) }));
  t.after(() => node.close());
  return { ...n, node, port: node.dimsePorts[0] ?? n.port };
}

/** The node's log lines as objects, for asserting that a refusal was logged. */
export function logLines(n: TestNode): Record<string, unknown>[] {
  return readFileSync(n.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * The files in a node's data folder besides its index databases and the one empty temp file the store keeps open for
 * its next write: what a refused or cut-off write must not leave behind.
 */
export function filesBesidesSpare(dataDir: string, under: 'blobs' | 'tmp' | '' = ''): string[] {
  const files = readdirSync(join(dataDir, under), { recursive: true, withFileTypes: true }).filter(
    (e) => e.isFile() && !e.name.endsWith('.sqlite') && !/\.sqlite-(wal|shm)$/.test(e.name),
  );
  const spares = files.filter((e) => e.parentPath.endsWith('tmp') && statSync(join(e.parentPath, e.name)).size === 0);
  const rest = files.filter((e) => !spares.includes(e));
  // More than one empty temp file would be a leak of its own.
  return [...rest, ...spares.slice(1)].map((e) => e.name);
}
