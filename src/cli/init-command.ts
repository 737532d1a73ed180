import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configTemplate, type TemplateValues } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { generateEncryptionKey } from '../store/index.ts';

export const CONFIG_FILE_NAME = 'beeldbrug.yaml';

/**
 * Writes a working, commented configuration, a fresh store key and a fresh audit key into `dir`. Refuses to overwrite an existing
 * configuration: a new key would make the stored images unreadable.
 */
export function initNode(dir: string, values: TemplateValues): { configPath: string; keyPath: string; auditKeyPath: string } {
  const configPath = join(dir, CONFIG_FILE_NAME);
  const keyPath = join(dir, 'keys', 'store.key');
  const auditKeyPath = join(dir, 'keys', 'audit.key');
  const existing = [configPath, keyPath, auditKeyPath].find((p) => existsSync(p));
  if (existing !== undefined) {
    throw new BeeldbrugError('CONFIG_INVALID', `${dir} already holds a Beeldbrug node (${existing}); not overwriting it`);
  }
  mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  writeFileSync(keyPath, generateEncryptionKey() + '\n', { mode: 0o600, flag: 'wx' });
  writeFileSync(auditKeyPath, generateEncryptionKey() + '\n', { mode: 0o600, flag: 'wx' });
  writeFileSync(configPath, configTemplate(values), { mode: 0o600, flag: 'wx' });
  return { configPath, keyPath, auditKeyPath };
}

/** `AE@host:port` or `AE@host` on the command line. */
export function parsePeerOption(text: string): TemplateValues['peers'][number] {
  const m = /^([^@]{1,16})@([^:]+)(?::(\d{1,5}))?$/.exec(text);
  if (m === null || m[1] === undefined || m[2] === undefined) {
    throw new BeeldbrugError('CONFIG_INVALID', `--peer wants AE@host or AE@host:port, got ${JSON.stringify(text)}`);
  }
  return { aeTitle: m[1], host: m[2], ...(m[3] !== undefined ? { port: Number(m[3]) } : {}), description: 'added by beeldbrug init' };
}
