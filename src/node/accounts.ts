import { join } from 'node:path';
import { AccountError, AccountStore, OidcSignIn, totpSealingKey } from '../auth/index.ts';
import type { Config, OidcConfig } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { readEncryptionKeyFile, StoreError } from '../store/index.ts';
import { privateDatabaseFile, privateDataFolder } from './private-files.ts';
import { readConfiguredFile } from './tls-files.ts';

/**
 * The node's local accounts and sessions, in its data folder; the running node and `beeldbrug user` share it. TOTP
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
  const path = join(config.dataDir, 'accounts.sqlite');
  privateDatabaseFile(path);
  try {
    return await AccountStore.openFile(path, {
      sessionIdleMinutes: a.sessionIdleMinutes,
      sessionMaxHours: a.sessionMaxHours,
      lockoutAttempts: a.lockout.attempts,
      lockoutMinutes: a.lockout.minutes,
      partnerPasswordDays: a.partnerPasswordDays,
      totpKey: totpSealingKey(storeKey),
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
