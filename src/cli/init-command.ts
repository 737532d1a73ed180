import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigInvalidError, configTemplate, parseConfig, type TemplateValues } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { generateEncryptionKey } from '../store/index.ts';
import { CONFIG_FILE_NAME } from './command-line.ts';

export interface InitResult {
  configPath: string;
  keyPath: string;
  auditKeyPath: string;
}

/**
 * Writes a working, commented configuration, a fresh store key and a fresh audit key into `dir`. Every value is
 * checked before anything is written, and a write that fails half-way removes what it wrote: an administrator who
 * mistyped an AE title corrects it and runs init again, and does not find a half node that init then refuses to
 * overwrite. Refuses to overwrite an existing node: a new key would make the stored images unreadable.
 */
export function initNode(dir: string, values: TemplateValues): InitResult {
  const configPath = join(dir, CONFIG_FILE_NAME);
  const keyPath = join(dir, 'keys', 'store.key');
  const auditKeyPath = join(dir, 'keys', 'audit.key');
  const text = configTemplate(values);
  checkInitValues(text, configPath, values);
  const existing = [configPath, keyPath, auditKeyPath].find((p) => existsSync(p));
  if (existing !== undefined) {
    throw new BeeldbrugError(
      'CONFIG_INVALID',
      `${dir} already holds a Beeldbrug node (${existing}); not overwriting it. Choose another folder, or remove that node first if it was never used`,
    );
  }
  const created: string[] = [];
  const makeDir = (path: string): void => {
    // mkdirSync returns the first folder it had to create; everything below it is new too.
    const first = mkdirSync(path, { recursive: true, mode: 0o700 });
    if (first !== undefined) created.push(first);
  };
  const writeNew = (path: string, content: string, mode: number): void => {
    writeFileSync(path, content, { mode, flag: 'wx' });
    created.push(path);
  };
  try {
    makeDir(join(dir, 'keys'));
    makeDir(join(dir, 'data'));
    writeNew(keyPath, generateEncryptionKey() + '\n', 0o600);
    writeNew(auditKeyPath, generateEncryptionKey() + '\n', 0o600);
    writeNew(configPath, text, 0o600);
  } catch (cause) {
    for (const path of created.reverse()) rmSync(path, { recursive: true, force: true });
    throw new BeeldbrugError(
      'CONFIG_INVALID',
      `cannot write the node into ${dir}: ${(cause as Error).message}; nothing was left behind`,
      { cause },
    );
  }
  return { configPath, keyPath, auditKeyPath };
}

/** The option each value of the template came from, so a refusal names what to type differently. */
function optionOf(path: string, values: TemplateValues): string {
  const peer = /^dimse\.peers\[(\d+)\]/.exec(path);
  if (peer !== null) {
    const p = values.peers[Number(peer[1])];
    return p === undefined ? '--peer' : `--peer ${p.aeTitle}@${p.host}${p.port !== undefined ? `:${p.port}` : ''}`;
  }
  const options: Record<string, string> = {
    'node.name': '--name',
    'node.organization.name': '--organization',
    'node.organization.ura': '--ura',
    'dimse.aeTitle': '--ae-title',
    'dimse.listeners[0].port': '--port',
  };
  return options[path] ?? path;
}

/** Validates the configuration init would write, as start will, and names the options that make it invalid. */
function checkInitValues(text: string, configPath: string, values: TemplateValues): void {
  try {
    parseConfig(parseYaml(text), configPath);
  } catch (err) {
    if (!(err instanceof ConfigInvalidError)) throw err;
    const lines = err.issues.map((i) => `  - ${optionOf(i.path, values)}: ${i.message}`);
    throw new BeeldbrugError(
      'COMMAND_LINE_INVALID',
      `init wrote nothing; these values are not valid:\n${lines.join('\n')}`,
    );
  }
}
