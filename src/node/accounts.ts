import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AccountStore } from '../auth/index.ts';
import type { Config } from '../config/index.ts';

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
