// `beeldbrug registry start` as its own process, configured the way an administrator does it: `registry init`, a
// certificate from the network's CA, and a few lines added to the YAML file.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { stringify } from 'yaml';
import { midden, noord } from './exchange.ts';
import { beeldbrug, networkCertificates } from './pki-cli.ts';
import { beeldbrugCli } from './processes.ts';

export interface RegistryProcess {
  child: ChildProcess;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

export type RegistryCertificates = ReturnType<typeof networkCertificates<'registry' | 'noord' | 'midden'>>;

/**
 * A registry's home folder with noord and midden as clients; `extra`: settings added to registry.yaml (workers,
 * database). Resolves to the configuration file.
 */
export function registryHome(
  t: TestContext,
  extra: Record<string, unknown> = {},
): { configFile: string; certs: RegistryCertificates } {
  const certs = networkCertificates(t, { registry: { name: 'Regio', ura: '10000099' }, noord, midden });
  const dir = join(certs.dir, 'registry-home');
  beeldbrug([
    'registry',
    'init',
    dir,
    '--ura',
    '10000099',
    '--port',
    '0',
    '--client',
    `${noord.ura}:${noord.name}`,
    '--client',
    `${midden.ura}:${midden.name}`,
  ]);
  const configFile = join(dir, 'registry.yaml');
  if (Object.keys(extra).length > 0)
    writeFileSync(configFile, `${readFileSync(configFile, 'utf8')}${stringify(extra)}`);
  beeldbrug([
    'pki',
    'node',
    '--ca',
    join(certs.dir, 'ca'),
    '--out',
    join(dir, 'pki'),
    '--name',
    'registry.test',
    '--organization',
    'Regio',
    '--ura',
    '10000099',
    '--host',
    '127.0.0.1',
  ]);
  return { configFile, certs };
}

/** Starts `beeldbrug registry start --config FILE` (killed when the test ends) and waits for its READY line. */
export async function startRegistryProcess(t: TestContext, configFile: string): Promise<RegistryProcess> {
  const child = spawn(process.execPath, [...beeldbrugCli, 'registry', 'start', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      const ready = /^READY registry https=(\d+)/m.exec(stdout);
      if (ready !== null) resolve(Number(ready[1]));
    });
    void exited.then(() => reject(new Error(`the registry stopped before it was ready:\n${stdout}\n${stderr}`)));
  });
  return { child, port, exited, stderr: () => stderr };
}
