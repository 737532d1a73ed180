import { AccountError, AccountStore, OidcSignIn, totpSealingKey } from '../auth/index.ts';
import type { Config, OidcConfig } from '../config/index.ts';
import { openPostgresPool, type TableToCopy } from '../database/index.ts';
import { BeeldbrugError, throwDatabaseProblem } from '../errors/index.ts';
import { readEncryptionKeyFile, StoreError } from '../store/index.ts';
import { openKept } from './node-store.ts';
import { privateDataFolder } from './private-files.ts';
import { readConfiguredFile } from './tls-files.ts';

export const ACCOUNTS_FILE = 'accounts.sqlite';

/** The accounts' tables: what `beeldbrug migrate` copies and a start on the server checks was copied. */
export const ACCOUNT_TABLES = [
  { table: 'account', key: ['id'] },
  { table: 'session', key: ['token_hash'] },
  { table: 'ssh_key', key: ['fingerprint'] },
] as const satisfies readonly TableToCopy[];

/**
 * The node's local accounts and sessions: in its data folder, or on the database server its configuration names,
 * shared by the nodes there; the running node and `beeldbrug user` open the same. TOTP
 * secrets are sealed under a key derived from the store key: one key file fewer to back up, and the accounts database
 * alone (a backup, a copy) makes no codes.
 */
export async function openAccounts(config: Readonly<Config>): Promise<AccountStore> {
  const a = config.auth;
  let storeKey: Buffer;
  try {
    storeKey = readEncryptionKeyFile(config.store.encryptionKeyFile);
  } catch (cause) {
    const why = cause instanceof StoreError ? `${cause.code}: ${cause.message}` : String(cause);
    throw new BeeldbrugError(
      'KEY_FILE_PROBLEM',
      `the store key, which also seals the TOTP secrets of the accounts, cannot be used (${why})`,
      { cause },
    );
  }
  privateDataFolder(config.dataDir);
  const options = {
    sessionIdleMinutes: a.sessionIdleMinutes,
    sessionMaxHours: a.sessionMaxHours,
    lockoutAttempts: a.lockout.attempts,
    lockoutMinutes: a.lockout.minutes,
    partnerPasswordDays: a.partnerPasswordDays,
    totpKey: totpSealingKey(storeKey),
  };
  const database = config.database;
  try {
    return await openKept(config.dataDir, 'the accounts', {
      file: ACCOUNTS_FILE,
      tables: ACCOUNT_TABLES,
      sqlite: (path) => AccountStore.openFile(path, options),
      server:
        database.kind === 'postgresql'
          ? {
              // A pool of its own: the CLI opens the accounts without the node's other stores, and closing them ends it.
              pool: () => openPostgresPool(database),
              open: (pool) => AccountStore.openPostgres(pool, options, { ownsPool: true }),
              problem: (cause) => {
                if (!(cause instanceof AccountError)) throwDatabaseProblem(database, cause);
                return cause;
              },
            }
          : undefined,
    });
  } catch (cause) {
    if (cause instanceof AccountError && cause.code === 'SECRETS_KEY_MISMATCH') {
      throw new BeeldbrugError(
        'KEY_FILE_PROBLEM',
        `${cause.message} (${config.store.encryptionKeyFile}); put back the store key the node had, from its backup`,
        { cause },
      );
    }
    throw cause;
  }
}

/** Sign-in through the identity provider; the client secret and CA are read now, so a missing file stops the start. */
export function openOidc(c: Readonly<OidcConfig>): OidcSignIn {
  const clientSecret = readConfiguredFile('OpenID Connect client secret', c.clientSecretFile).toString('utf8').trim();
  if (clientSecret === '')
    throw new BeeldbrugError(
      'KEY_FILE_PROBLEM',
      `the OpenID Connect client secret file ${c.clientSecretFile} is empty`,
    );
  return new OidcSignIn({
    issuer: c.issuer,
    clientId: c.clientId,
    clientSecret,
    redirectUri: c.redirectUri,
    ...(c.caFile !== undefined ? { ca: readConfiguredFile('identity provider CA certificate', c.caFile) } : {}),
    scopes: c.scopes,
    claims: c.claims,
    roles: c.roles,
    twoFactorAmr: c.twoFactorAmr,
  });
}
