import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import {
  openPostgresPool,
  PostgresDatabase,
  openPostgresTaskLeases,
  rowsInWords,
  rowsLeftBehind,
  SOLE_NODE,
  type PostgresPool,
  type TaskLeases,
  type TableToCopy,
} from '../database/index.ts';
import { BeeldbrugError, throwDatabaseProblem } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import {
  openPostgresInbox,
  openPostgresOutbox,
  openSqliteInbox,
  openSqliteOutbox,
  type Inbox,
  type Outbox,
} from '../exchange/index.ts';
import {
  openPostgresShareStore,
  openPostgresUploadStore,
  openSqliteShareStore,
  openSqliteUploadStore,
  type ShareStore,
  type UploadStore,
} from '../share/index.ts';
import { openStudyStore, StoreError, type Store } from '../store/index.ts';
import {
  openPostgresPrefetchDeliveries,
  openSqlitePrefetchDeliveries,
  type PrefetchDeliveries,
} from './prefetch-deliveries.ts';
import { privateDatabaseFile } from './private-files.ts';
import { fileExportCursor, openPostgresExportCursor, type ExportCursor } from './atna-export.ts';

export const EXCHANGE_FILE = 'exchange.sqlite';
export const SHARE_FILE = 'share.sqlite';
export const PREFETCH_FILE = 'prefetch.sqlite';
export const QUARANTINE_SCHEMA = 'quarantine';
export const UPLOADS_FILE = join(QUARANTINE_SCHEMA, 'uploads.sqlite');
const ATNA_CURSOR_FILE = 'atna-cursor';

/** The exchange's records, each kept by one store: what a migration copies and a start checks was copied. */
export const EXCHANGE_TABLES = {
  outbox: [{ table: 'outgoing_transfer', key: ['transfer_id'] }],
  inbox: [
    { table: 'incoming_transfer', key: ['transfer_id'] },
    { table: 'incoming_instance', key: ['transfer_id', 'sop_instance_uid'] },
    { table: 'transfer_claim', key: ['transfer_id'] },
  ],
} as const satisfies Record<string, readonly TableToCopy[]>;
export const PREFETCH_TABLES = [
  { table: 'prefetch_delivery', key: ['transfer_id'] },
] as const satisfies readonly TableToCopy[];
export const SHARE_TABLES = [
  { table: 'share', key: ['share_id'] },
  { table: 'share_session', key: ['token_hash'] },
] as const satisfies readonly TableToCopy[];
export const UPLOAD_TABLES = [
  { table: 'upload', key: ['upload_id'] },
  { table: 'quarantined_study', key: ['study_instance_uid'] },
] as const satisfies readonly TableToCopy[];

/**
 * Where the node keeps its records, chosen from the configuration in this one place: the embedded files in its data
 * folder, or the PostgreSQL server `database` names. On the server the stores share one connection pool per schema
 * (the quarantine's tables are in a schema of their own), ended by close(). A node switched to the server before its
 * embedded records were copied refuses to start (DATA_NOT_MIGRATED) rather than lose sight of them.
 */
export class NodeRecords {
  readonly #config: Readonly<Config>;
  readonly #logger: Logger;
  readonly #pools = new Map<string, PostgresPool>();
  #leases: Promise<TaskLeases> | undefined;

  constructor(config: Readonly<Config>, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
  }

  /**
   * A study store: the node's own (in its data folder) or the quarantine's (`schema` on the server, and its files
   * under a prefix of its own in the bucket).
   */
  async store(o: { dataDir: string; encryptionKey: Buffer; schema?: string }): Promise<Store> {
    const objects = this.#config.store.objects;
    try {
      return await openStudyStore({
        dataDir: o.dataDir,
        encryptionKey: o.encryptionKey,
        ...(this.#onServer ? { postgres: { pool: this.#pool(o.schema), schema: o.schema } } : {}),
        ...(objects !== undefined
          ? {
              objects: {
                settings: objects,
                prefix: `${o.schema ?? 'blobs'}/`,
                cacheBytes: objects.cacheGb * 1e9,
                onUploadFailed: (blobId, err) =>
                  this.#logger.warn({ blobId, err }, 'an instance file could not be uploaded; trying again'),
              },
            }
          : {}),
      });
    } catch (cause) {
      if (cause instanceof StoreError && cause.code === 'INDEX_NOT_MIGRATED')
        throw new BeeldbrugError(
          'DATA_NOT_MIGRATED',
          `${cause.message}: stop the node and run \`beeldbrug migrate --config FILE\`, which copies it (resumable, verified); the node does not start a second index beside it`,
          { cause },
        );
      throw this.#problem(cause);
    }
  }

  /** The exchange's outbox: in the node's exchange database, or on the server, shared by the nodes there. */
  outbox(): Promise<Outbox> {
    return this.#kept('the outbox', {
      file: EXCHANGE_FILE,
      sqlite: (path) => openSqliteOutbox(path, this.#lease),
      postgres: (pool) => openPostgresOutbox(pool, { ownsPool: false, lease: this.#lease }),
      tables: EXCHANGE_TABLES.outbox,
    });
  }

  /** The exchange's inbox, where the outbox is. */
  inbox(): Promise<Inbox> {
    return this.#kept('the inbox', {
      file: EXCHANGE_FILE,
      sqlite: openSqliteInbox,
      postgres: (pool) => openPostgresInbox(pool, { ownsPool: false }),
      tables: EXCHANGE_TABLES.inbox,
    });
  }

  /** The priors a prefetch asked for and not yet put into the PACS. */
  prefetchDeliveries(): Promise<PrefetchDeliveries> {
    return this.#kept('the prefetches', {
      file: PREFETCH_FILE,
      sqlite: openSqlitePrefetchDeliveries,
      postgres: (pool) => openPostgresPrefetchDeliveries(pool, { ownsPool: false }),
      tables: PREFETCH_TABLES,
    });
  }

  /** The shares made to patients and partners, with their recipients' sessions. */
  shares(): Promise<ShareStore> {
    return this.#kept('the shares', {
      file: SHARE_FILE,
      sqlite: openSqliteShareStore,
      postgres: (pool) => openPostgresShareStore(pool, { ownsPool: false }),
      tables: SHARE_TABLES,
    });
  }

  /** The quarantine's uploads and the studies they brought: beside the quarantine's index (its schema on the server). */
  uploads(): Promise<UploadStore> {
    return this.#kept('the uploads', {
      file: UPLOADS_FILE,
      schema: QUARANTINE_SCHEMA,
      sqlite: openSqliteUploadStore,
      postgres: (pool) => openPostgresUploadStore(pool, { ownsPool: false, schema: QUARANTINE_SCHEMA }),
      tables: UPLOAD_TABLES,
    });
  }

  /** The leases of work one node does for all that share the database; alone on its data folder, it holds them all. */
  taskLeases(): Promise<TaskLeases> {
    if (!this.#onServer) return Promise.resolve(SOLE_NODE);
    // One for the node's tasks (retention, the audit export): its table is migrated once, at the first ask.
    this.#leases ??= openPostgresTaskLeases(this.#pool(), this.#lease.holder).catch((cause: unknown) => {
      this.#leases = undefined;
      throw this.#problem(cause);
    });
    return this.#leases;
  }

  /**
   * Where the export to the audit repository (`host:port`) got to: a file in the data folder, or a row on the server
   * that every node of the hospital reads when it takes the export over.
   */
  async exportCursor(repository: string): Promise<ExportCursor> {
    const embeddedFile = join(this.#config.dataDir, ATNA_CURSOR_FILE);
    if (!this.#onServer) return fileExportCursor(embeddedFile);
    try {
      return await openPostgresExportCursor(this.#pool(), repository, { embeddedFile });
    } catch (cause) {
      throw this.#problem(cause);
    }
  }

  /** Ends the pools, after the stores that use them are closed. */
  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.end()));
  }

  /** This node, the same across its restarts: the host and the data folder (two nodes never share one). */
  get #lease(): { holder: string } {
    return { holder: `${hostname()}:${this.#config.dataDir}` };
  }

  get #onServer(): boolean {
    return this.#config.database.kind === 'postgresql';
  }

  #pool(schema?: string): PostgresPool {
    const database = this.#config.database;
    if (database.kind !== 'postgresql') throw new Error('the node keeps its records in its data folder');
    let pool = this.#pools.get(schema ?? '');
    if (pool === undefined) {
      pool = openPostgresPool(database, { schema });
      this.#pools.set(schema ?? '', pool);
    }
    return pool;
  }

  /** A server that cannot be used, in an administrator's words (throwDatabaseProblem); anything else as it came. */
  #problem(cause: unknown): unknown {
    const database = this.#config.database;
    if (database.kind === 'postgresql') throwDatabaseProblem(database, cause);
    return cause;
  }

  /** One of the node's stores (see openKept), on this node's pools. */
  #kept<T extends { close(): Promise<void> }>(
    what: string,
    o: {
      file: string;
      schema?: string;
      sqlite: (path: string) => T;
      postgres: (pool: PostgresPool) => Promise<T>;
      tables: readonly TableToCopy[];
    },
  ): Promise<T> {
    return openKept(this.#config.dataDir, what, {
      ...o,
      server: this.#onServer
        ? { pool: () => this.#pool(o.schema), open: o.postgres, problem: (cause) => this.#problem(cause) }
        : undefined,
    });
  }
}

/**
 * One of the node's stores: its embedded `file` under the data folder (made private), or on the database server, where
 * it is refused (DATA_NOT_MIGRATED) while the file still holds records the server lacks: the node would otherwise lose
 * sight of them, or start a second set beside them. `server.problem` words a failure to open it there.
 */
export async function openKept<T extends { close(): Promise<void> }>(
  dataDir: string,
  what: string,
  o: {
    file: string;
    tables: readonly TableToCopy[];
    sqlite: (path: string) => T | Promise<T>;
    server?:
      | { pool: () => PostgresPool; open: (pool: PostgresPool) => Promise<T>; problem: (cause: unknown) => unknown }
      | undefined;
  },
): Promise<T> {
  const embedded = join(dataDir, o.file);
  if (o.server === undefined) {
    privateDatabaseFile(embedded);
    return o.sqlite(embedded);
  }
  let pool: PostgresPool;
  let store: T;
  try {
    pool = o.server.pool();
    store = await o.server.open(pool);
  } catch (cause) {
    throw o.server.problem(cause);
  }
  try {
    const server = new PostgresDatabase(pool, { ownsPool: false });
    for (const table of o.tables) {
      const left = await rowsLeftBehind(embedded, server, table);
      if (left !== undefined)
        throw new BeeldbrugError(
          'DATA_NOT_MIGRATED',
          `${what} in ${embedded} (${rowsInWords(left)} of ${table.table}) is not in the database: stop the node and run \`beeldbrug migrate --config FILE\`, which copies it (resumable, verified)`,
        );
    }
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
