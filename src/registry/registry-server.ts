import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RegistryConfig } from '../config/index.ts';
import { BeeldbrugError, throwDatabaseProblem } from '../errors/index.ts';
import { startHttpsServer, type RouteAccess } from '../http/index.ts';
import type { Logger } from '../log/index.ts';
import { RateLimiter } from './rate-limiter.ts';
import { registerRegistryRoutes } from './registry-routes.ts';
import { REGISTRY_FILE, refuseRegistryLeftBehind } from './migrate-registry.ts';
import { PostgresRegistryStore } from './postgres-registry-store.ts';
import { SqliteRegistryStore } from './sqlite-registry-store.ts';
import type { RegistryStore } from './types.ts';

export interface RunningRegistry {
  port: number;
  routes: readonly { method: string; url: string; access: RouteAccess }[];
  store: RegistryStore;
  close(): Promise<void>;
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new BeeldbrugError(
      'KEY_FILE_PROBLEM',
      `the registry's ${what} ${path} cannot be read: ${(cause as Error).message}`,
      { cause },
    );
  }
}

/**
 * Opens (and, on a first start or an upgrade, creates or migrates) the registry's database: its SQLite file, or its
 * tables on the PostgreSQL server the configuration names. The primary of a registry with several workers calls it
 * once before forking, so that no worker waits on another's migration.
 */
export async function openRegistryStore(config: Readonly<RegistryConfig>): Promise<RegistryStore> {
  const database = config.database;
  if (database.kind === 'embedded') {
    mkdirSync(config.dataDir, { recursive: true });
    return new SqliteRegistryStore(join(config.dataDir, REGISTRY_FILE), { cacheMb: config.cache.sizeMb });
  }
  let store;
  try {
    store = await PostgresRegistryStore.connect(database);
  } catch (cause) {
    throwDatabaseProblem(database, cause);
    throw cause;
  }
  try {
    await refuseRegistryLeftBehind(config.dataDir, database);
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

/**
 * The localization and consent registry: its own process, HTTPS with mutual TLS against the same CA as the nodes, only
 * the organizations on its client list, a rate limit per organization, and a log line for every question.
 */
export async function startRegistry(
  config: Readonly<RegistryConfig>,
  logger: Logger,
  o: { store?: RegistryStore } = {},
): Promise<RunningRegistry> {
  const store = o.store ?? (await openRegistryStore(config));
  try {
    if (config.cache.warm) {
      const started = performance.now();
      const counted = await store.warm();
      logger.info({ ...counted, ms: Math.round(performance.now() - started) }, 'page cache warmed');
    }
    const tls = {
      cert: readFile(config.tls.certFile, 'certificate'),
      key: readFile(config.tls.keyFile, 'key'),
      ca: readFile(config.tls.caFile, 'CA'),
    };
    const server = await startHttpsServer({
      host: config.listen.host,
      port: config.listen.port,
      tls,
      partners: config.clients.map((c) => ({ ura: c.ura, name: c.name })),
      ownUra: config.registry.organization.ura,
      logger: logger.child({ part: 'https' }),
      routes: (app) => {
        app.addContentTypeParser(
          'application/fhir+json',
          { parseAs: 'string' },
          app.getDefaultJsonParser('error', 'ignore'),
        );
        app.get('/health', { config: { access: 'public' } }, async () => ({ status: 'ok' }));
        registerRegistryRoutes(app, {
          store,
          clients: config.clients,
          limiter: new RateLimiter(config.rateLimit),
          queryLog: logger.child({ part: 'queries' }),
        });
      },
    });
    logger.info({ host: config.listen.host, port: server.port, clients: config.clients.length }, 'registry listening');
    return {
      port: server.port,
      routes: server.routes,
      store,
      close: async () => {
        await server.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
