import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { BeeldbrugError } from '../errors/index.ts';

export const REGISTRY_CONFIG_FILE_NAME = 'registry.yaml';

/** A fresh network key for BSN pseudonyms: 32 random bytes, base64. Every node of the network gets a copy; the registry none. */
export function writeNetworkKey(path: string): void {
  if (existsSync(path)) throw new BeeldbrugError('CONFIG_INVALID', `${path} exists; a new network key would change every pseudonym, not overwriting it`);
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
    '',
  ].join('\n');
  writeFileSync(path, header + stringify(config), { mode: 0o640, flag: 'wx' });
  return path;
}
