import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BeeldbrugError } from '../errors/index.ts';
import { type ConfigIssue, describeConfigIssues } from './config-issues.ts';
import { registryConfigSchema, type RegistryConfig } from './registry-schema.ts';
import { configSchema, type Config, type TlsFilesConfig } from './schema.ts';

/** CONFIG_INVALID with each problem by key path, so a caller (`init`, `--json`) can point at what to change. */
export class ConfigInvalidError extends BeeldbrugError {
  readonly issues: readonly ConfigIssue[];
  constructor(what: string, origin: string, issues: readonly ConfigIssue[]) {
    super('CONFIG_INVALID', `invalid ${what} ${origin}:\n${issues.map((i) => `  - ${i.path === '' ? '(top level)' : i.path}: ${i.message}`).join('\n')}`);
    this.issues = issues;
  }
}

/** Reads, validates and freezes a node's configuration file (YAML or JSON). Relative paths are relative to the file. */
export function loadConfig(path: string): Readonly<Config> {
  return parseConfig(readYaml(path), path);
}

/** Reads, validates and freezes a registry's configuration file, as `loadConfig` does a node's. */
export function loadRegistryConfig(path: string): Readonly<RegistryConfig> {
  return parseRegistryConfig(readYaml(path), path);
}

export function parseRegistryConfig(raw: unknown, origin: string): Readonly<RegistryConfig> {
  const result = registryConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigInvalidError('registry configuration', origin, describeConfigIssues(registryConfigSchema, raw, result.error.issues));
  }
  const base = dirname(resolve(origin));
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const c = result.data;
  return deepFreeze({ ...c, dataDir: at(c.dataDir), tls: { certFile: at(c.tls.certFile), keyFile: at(c.tls.keyFile), caFile: at(c.tls.caFile) } });
}

function readYaml(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new BeeldbrugError('CONFIG_NOT_FOUND', `cannot read configuration ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    return parseYaml(text);
  } catch (cause) {
    throw new BeeldbrugError('CONFIG_INVALID', `${path} is not valid YAML or JSON: ${(cause as Error).message}`, { cause });
  }
}

/** Validates an already parsed configuration; `origin` names the file in messages and anchors relative paths. */
export function parseConfig(raw: unknown, origin: string): Readonly<Config> {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigInvalidError('configuration', origin, describeConfigIssues(configSchema, raw, result.error.issues));
  }
  return deepFreeze(resolvePaths(result.data, dirname(resolve(origin))));
}

function resolvePaths(config: Config, base: string): Config {
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const tls = (t: TlsFilesConfig): TlsFilesConfig => ({ certFile: at(t.certFile), keyFile: at(t.keyFile), caFile: at(t.caFile) });
  const { tlsClient, ...dimse } = config.dimse;
  const { exchange, registry, auth, ...rest } = config;
  const { oidc, ...localAuth } = auth;
  return {
    ...rest,
    auth: { ...localAuth, ...(oidc !== undefined ? { oidc: { ...oidc, clientSecretFile: at(oidc.clientSecretFile), ...(oidc.caFile !== undefined ? { caFile: at(oidc.caFile) } : {}) } } : {}) },
    ...(registry !== undefined ? { registry: { ...registry, networkKeyFile: at(registry.networkKeyFile) } } : {}),
    ...(exchange !== undefined ? { exchange: { ...exchange, tls: tls(exchange.tls) } } : {}),
    dataDir: at(config.dataDir),
    store: { ...config.store, encryptionKeyFile: at(config.store.encryptionKeyFile) },
    audit: { ...config.audit, keyFile: at(config.audit.keyFile), ...(config.audit.atna !== undefined ? { atna: { ...config.audit.atna, tls: tls(config.audit.atna.tls) } } : {}) },
    dimse: {
      ...dimse,
      listeners: dimse.listeners.map(({ tls: t, ...l }) => (t !== undefined ? { ...l, tls: tls(t) } : l)),
      ...(tlsClient !== undefined ? { tlsClient: tls(tlsClient) } : {}),
    },
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
