import { join } from 'node:path';
import {
  EmbeddedTrailLeftBehind,
  openPostgresAuditTrail,
  openSqliteAuditTrail,
  type ChainedAuditTrail,
} from '../audit/index.ts';
import type { Config } from '../config/index.ts';
import { openPostgresPool } from '../database/index.ts';
import { BeeldbrugError, throwDatabaseProblem } from '../errors/index.ts';
import { readEncryptionKeyFile, StoreError } from '../store/index.ts';

export const AUDIT_FILE = 'audit.sqlite';

export function readAuditKey(config: Readonly<Config>): Buffer {
  try {
    return readEncryptionKeyFile(config.audit.keyFile, 'audit key');
  } catch (cause) {
    const why = cause instanceof StoreError ? `${cause.code}: ${cause.message}` : String(cause);
    throw new BeeldbrugError(
      'KEY_FILE_PROBLEM',
      `the audit key cannot be used (${why}); \`beeldbrug init\` writes a fresh one for a new node`,
      { cause },
    );
  }
}

/** Where the witness of the trail's newest record lives when the configuration does not say. */
export function auditWitnessFile(config: Readonly<Config>): string {
  return config.audit.witnessFile ?? join(config.dataDir, 'audit-witness.json');
}

/** Where the trail's records are kept, as an administrator looks for them. */
export function auditTrailLocation(config: Readonly<Config>): string {
  return config.database.kind === 'postgresql' ? databaseLocation(config) : `in ${join(config.dataDir, AUDIT_FILE)}`;
}

/** The database server the configuration names, as an administrator looks for it. */
export function databaseLocation(config: Readonly<Config>): string {
  const d = config.database;
  return d.kind === 'postgresql'
    ? `on the PostgreSQL server ${d.host}:${d.port}, database ${d.name}`
    : 'in the data folder';
}

/**
 * The node's audit trail, keyed with audit.keyFile: in its data folder, or on the PostgreSQL server the configuration
 * names (database). The running node, the CLI commands and `beeldbrug audit verify` all open it here, so they extend
 * and check the one chain. A trail that does not reach the witness of its newest record (records cut off its end, the
 * file emptied or replaced) is refused with AUDIT_TRAIL_BROKEN, so nothing records into it and the node does not start;
 * `forVerify` opens it anyway, for `beeldbrug audit verify` to say where it breaks.
 */
export async function openAuditTrail(
  config: Readonly<Config>,
  o: { forVerify?: boolean } = {},
): Promise<ChainedAuditTrail> {
  const key = readAuditKey(config);
  const witnessFile = auditWitnessFile(config);
  const options = { key, organizationUra: config.node.organization.ura, witnessFile };
  const database = config.database;
  let trail: ChainedAuditTrail;
  try {
    trail =
      database.kind === 'postgresql'
        ? await openPostgresAuditTrail(openPostgresPool(database), {
            ...options,
            witnessMayBeNew: true,
            embeddedFile: join(config.dataDir, AUDIT_FILE),
          })
        : await openSqliteAuditTrail(join(config.dataDir, AUDIT_FILE), options);
  } catch (cause) {
    if (cause instanceof EmbeddedTrailLeftBehind)
      throw new BeeldbrugError(
        'DATA_NOT_MIGRATED',
        `${cause.message}: stop the node and run \`beeldbrug migrate --config FILE\`, which copies it (resumable, verified); the node does not start a second trail beside it`,
        { cause },
      );
    if (database.kind === 'postgresql') throwDatabaseProblem(database, cause);
    const path = (cause as NodeJS.ErrnoException).path;
    // The witness, its temporary file, or a folder on its way.
    if (path === undefined || !(path.startsWith(witnessFile) || witnessFile.startsWith(`${path}/`))) throw cause;
    throw new BeeldbrugError(
      'CONFIG_INVALID',
      `audit.witnessFile: ${witnessFile} cannot be written (${(cause as Error).message}); name a place the node can write`,
      { cause },
    );
  }
  const problem = trail.witnessProblem;
  if (problem !== undefined && o.forVerify !== true) {
    await trail.close();
    throw new BeeldbrugError(
      'AUDIT_TRAIL_BROKEN',
      `${problem}. Nothing is recorded and no patient data is served until this is resolved: run \`beeldbrug audit verify\`, restore the audit file, and if the restored copy is older than the witness, \`beeldbrug audit accept-head --reason ...\` (recorded)`,
    );
  }
  return trail;
}
