import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BeeldbrugError } from '../errors/index.ts';
import { type ConfigIssue, describeConfigIssues } from './config-issues.ts';
import { registryConfigSchema, type RegistryConfig } from './registry-schema.ts';
import { configSchema, type Config, type DatabaseConfig, type TlsFilesConfig } from './schema.ts';

/** CONFIG_INVALID with each problem by key path, so a caller (`init`, `--json`) can point at what to change. */
export class ConfigInvalidError extends BeeldbrugError {
  readonly issues: readonly ConfigIssue[];
  constructor(what: string, origin: string, issues: readonly ConfigIssue[]) {
    super(
      'CONFIG_INVALID',
      `invalid ${what} ${origin}:\n${issues.map((i) => `  - ${i.path === '' ? '(top level)' : i.path}: ${i.message}`).join('\n')}`,
    );
    this.issues = issues;
  }
}

/** Reads, validates and freezes a node's configuration file (YAML or JSON). Relative paths are relative to the file. */
export function loadConfig(path: string): Readonly<Config> {
  return parseConfig(readYaml(path, NODE), path);
}

/** Reads, validates and freezes a registry's configuration file, as `loadConfig` does a node's. */
export function loadRegistryConfig(path: string): Readonly<RegistryConfig> {
  return parseRegistryConfig(readYaml(path, REGISTRY), path);
}

export function parseRegistryConfig(raw: unknown, origin: string): Readonly<RegistryConfig> {
  refuseTheOtherKind(raw, origin, REGISTRY);
  const result = registryConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigInvalidError(
      'registry configuration',
      origin,
      describeConfigIssues(registryConfigSchema, raw, result.error.issues),
    );
  }
  const base = dirname(resolve(origin));
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const c = result.data;
  return deepFreeze({
    ...c,
    dataDir: at(c.dataDir),
    database: resolveDatabase(c.database, at),
    tls: { certFile: at(c.tls.certFile), keyFile: at(c.tls.keyFile), caFile: at(c.tls.caFile) },
  });
}

/** The two kinds of configuration file, for messages that point a mix-up out. */
interface ConfigKind {
  what: string;
  fileName: string;
  /** A top-level key only this kind has. */
  marker: string;
  start: string;
  init: string;
}
const NODE: ConfigKind = {
  what: "a node's configuration",
  fileName: 'beeldbrug.yaml',
  marker: 'dimse',
  start: 'beeldbrug start --config',
  init: 'beeldbrug init DIR',
};
const REGISTRY: ConfigKind = {
  what: "the registry's configuration",
  fileName: 'registry.yaml',
  marker: 'clients',
  start: 'beeldbrug registry start --config',
  init: 'beeldbrug registry init DIR --client URA:name',
};

function readYaml(path: string, kind: ConfigKind): unknown {
  let text: string;
  try {
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory() === true) {
      const inside = join(path, kind.fileName);
      throw new BeeldbrugError(
        'CONFIG_NOT_FOUND',
        `${path} is a folder; --config wants the configuration file${existsSync(inside) ? `: ${inside}` : ` (${kind.fileName}, which \`${kind.init}\` writes)`}`,
      );
    }
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    if (cause instanceof BeeldbrugError) throw cause;
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    const why = missing ? `there is no such file (\`${kind.init}\` writes one)` : (cause as Error).message;
    throw new BeeldbrugError('CONFIG_NOT_FOUND', `cannot read configuration ${path}: ${why}`, { cause });
  }
  if (text.trim() === '')
    throw new BeeldbrugError(
      'CONFIG_INVALID',
      `${path} is empty; \`${kind.init}\` writes a working, commented configuration`,
    );
  try {
    return parseYaml(text);
  } catch (cause) {
    throw new BeeldbrugError('CONFIG_INVALID', `${path} is not valid YAML or JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
}

/** A node's file given to the registry (or the other way round) would otherwise get a dozen "unknown key" lines. */
function refuseTheOtherKind(raw: unknown, origin: string, kind: ConfigKind): void {
  const other = kind === NODE ? REGISTRY : NODE;
  if (raw !== null && typeof raw === 'object' && other.marker in raw && !(kind.marker in raw)) {
    throw new BeeldbrugError(
      'CONFIG_INVALID',
      `${origin} is ${other.what} (\`${other.start} ${origin}\`), not ${kind.what}`,
    );
  }
}

/** Validates an already parsed configuration; `origin` names the file in messages and anchors relative paths. */
export function parseConfig(raw: unknown, origin: string): Readonly<Config> {
  refuseTheOtherKind(raw, origin, NODE);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigInvalidError('configuration', origin, describeConfigIssues(configSchema, raw, result.error.issues));
  }
  return deepFreeze(resolvePaths(result.data, dirname(resolve(origin))));
}

function resolveDatabase(d: DatabaseConfig, at: (p: string) => string): DatabaseConfig {
  if (d.kind === 'embedded') return d;
  const { passwordFile, tls, ...server } = d;
  return {
    ...server,
    ...(passwordFile !== undefined ? { passwordFile: at(passwordFile) } : {}),
    ...(tls !== undefined
      ? {
          tls: {
            caFile: at(tls.caFile),
            ...(tls.certFile !== undefined ? { certFile: at(tls.certFile) } : {}),
            ...(tls.keyFile !== undefined ? { keyFile: at(tls.keyFile) } : {}),
          },
        }
      : {}),
  };
}

function resolvePaths(config: Config, base: string): Config {
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const tls = (t: TlsFilesConfig): TlsFilesConfig => ({
    certFile: at(t.certFile),
    keyFile: at(t.keyFile),
    caFile: at(t.caFile),
  });
  const { tlsClient, ...dimse } = config.dimse;
  const { exchange, registry, auth, ...rest } = config;
  const { oidc, assertions, ...localAuth } = auth;
  return {
    ...rest,
    auth: {
      ...localAuth,
      ...(oidc !== undefined
        ? {
            oidc: {
              ...oidc,
              clientSecretFile: at(oidc.clientSecretFile),
              ...(oidc.caFile !== undefined ? { caFile: at(oidc.caFile) } : {}),
            },
          }
        : {}),
      ...(assertions !== undefined
        ? {
            assertions: {
              ...assertions,
              trustedKeys: assertions.trustedKeys.map((k) => ({
                ...k,
                ...(k.publicKeyFile !== undefined ? { publicKeyFile: at(k.publicKeyFile) } : {}),
                ...(k.caFile !== undefined ? { caFile: at(k.caFile) } : {}),
              })),
            },
          }
        : {}),
    },
    ...(registry !== undefined ? { registry: { ...registry, networkKeyFile: at(registry.networkKeyFile) } } : {}),
    ...(config.xca !== undefined
      ? {
          xca: {
            ...config.xca,
            ...(config.xca.identityProviders !== undefined
              ? {
                  identityProviders: config.xca.identityProviders.map((p) => ({
                    ...p,
                    certificateFile: at(p.certificateFile),
                  })),
                }
              : {}),
            ...(config.xca.assertionSigner !== undefined
              ? {
                  assertionSigner: {
                    ...config.xca.assertionSigner,
                    keyFile: at(config.xca.assertionSigner.keyFile),
                    certificateFile: at(config.xca.assertionSigner.certificateFile),
                  },
                }
              : {}),
          },
        }
      : {}),
    ...(config.hl7?.tls !== undefined ? { hl7: { ...config.hl7, tls: tls(config.hl7.tls) } } : {}),
    ...(exchange !== undefined ? { exchange: { ...exchange, tls: tls(exchange.tls) } } : {}),
    dataDir: at(config.dataDir),
    database: resolveDatabase(config.database, at),
    store: {
      ...config.store,
      encryptionKeyFile: at(config.store.encryptionKeyFile),
      ...(config.store.objects !== undefined
        ? {
            objects: {
              ...config.store.objects,
              accessKeyFile: at(config.store.objects.accessKeyFile),
              secretKeyFile: at(config.store.objects.secretKeyFile),
            },
          }
        : {}),
    },
    audit: {
      ...config.audit,
      keyFile: at(config.audit.keyFile),
      ...(config.audit.witnessFile !== undefined ? { witnessFile: at(config.audit.witnessFile) } : {}),
      ...(config.audit.atna !== undefined ? { atna: { ...config.audit.atna, tls: tls(config.audit.atna.tls) } } : {}),
    },
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
