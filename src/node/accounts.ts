import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AccountStore, OidcSignIn } from '../auth/index.ts';
import type { Config, OidcConfig } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { readConfiguredFile } from './tls-files.ts';

/** The node's local accounts and sessions, in its data folder; the running node and `beeldbrug user` share it. */
export function openAccounts(config: Readonly<Config>): AccountStore {
  const a = config.auth;
  mkdirSync(config.dataDir, { recursive: true });
  return new AccountStore(join(config.dataDir, 'accounts.sqlite'), {
    sessionIdleMinutes: a.sessionIdleMinutes,
    sessionMaxHours: a.sessionMaxHours,
    lockoutAttempts: a.lockout.attempts,
    lockoutMinutes: a.lockout.minutes,
  });
}

/** Sign-in through the identity provider; the client secret and CA are read now, so a missing file stops the start. */
export function openOidc(c: Readonly<OidcConfig>): OidcSignIn {
  const clientSecret = readConfiguredFile('OpenID Connect client secret', c.clientSecretFile).toString('utf8').trim();
  if (clientSecret === '') throw new BeeldbrugError('KEY_FILE_PROBLEM', `the OpenID Connect client secret file ${c.clientSecretFile} is empty`);
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
