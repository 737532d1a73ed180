// Starts a real hospital node in the test process from a configuration written by `beeldbrug init`, so the
// integration tests exercise the same start-up path an administrator uses.
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initNode } from '../../src/cli/init-command.ts';
import { parseConfig, type TemplateValues } from '../../src/config/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { type RunningNode, startNode } from '../../src/node/index.ts';
import { freePort } from './net.ts';
import { tempDir } from './tmp.ts';

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
  writeFileSync(configPath, stringifyYaml(raw));
  const config = parseConfig(raw, configPath);
  const logFile = join(dir, 'node.log');
  const node = await startNode(config, createLogger({ level: 'debug', destination: createWriteStream(logFile) }));
  t.after(() => node.close());
  return { node, aeTitle, port: node.dimsePorts[0] ?? port, dir, logFile, configPath };
}

/** The node's log lines as objects, for asserting that a refusal was logged. */
export function logLines(n: TestNode): Record<string, unknown>[] {
  return readFileSync(n.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
