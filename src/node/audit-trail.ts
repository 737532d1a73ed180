import { join } from 'node:path';
import { SqliteAuditTrail } from '../audit/index.ts';
import type { Config } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { readEncryptionKeyFile, StoreError } from '../store/index.ts';

/**
 * The node's audit trail, in its data folder, keyed with audit.keyFile. The running node, the CLI commands and
 * `beeldbrug audit verify` all open it here, so they extend and check the one chain.
 */
export function openAuditTrail(config: Readonly<Config>): SqliteAuditTrail {
  let key: Buffer;
  try {
    key = readEncryptionKeyFile(config.audit.keyFile, 'audit key');
  } catch (cause) {
    const why = cause instanceof StoreError ? `${cause.code}: ${cause.message}` : String(cause);
    throw new BeeldbrugError('KEY_FILE_PROBLEM', `the audit key cannot be used (${why}); \`beeldbrug init\` writes a fresh one for a new node`, { cause });
  }
  return new SqliteAuditTrail(join(config.dataDir, 'audit.sqlite'), { key, organizationUra: config.node.organization.ura });
}
