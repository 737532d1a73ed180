import type { Config } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { openStudyStore, StoreError, type Store } from '../store/index.ts';
import { throwDatabaseProblem } from './audit-trail.ts';

/**
 * A study store of the node where its configuration keeps records: the index in the data folder, or on the PostgreSQL
 * server `database` names (a second store, the quarantine, in a schema of its own there). The one place that chooses.
 */
export async function openNodeStore(
  config: Readonly<Config>,
  o: { dataDir: string; encryptionKey: Buffer; schema?: string },
): Promise<Store> {
  const database = config.database;
  try {
    return await openStudyStore({
      dataDir: o.dataDir,
      encryptionKey: o.encryptionKey,
      ...(database.kind === 'postgresql' ? { postgres: { settings: database, schema: o.schema } } : {}),
    });
  } catch (cause) {
    if (cause instanceof StoreError && cause.code === 'INDEX_NOT_MIGRATED')
      throw new BeeldbrugError(
        'DATA_NOT_MIGRATED',
        `${cause.message}: stop the node and run \`beeldbrug migrate --config FILE\`, which copies it (resumable, verified); the node does not start a second index beside it`,
        { cause },
      );
    if (database.kind === 'postgresql') throwDatabaseProblem(database, cause);
    throw cause;
  }
}
