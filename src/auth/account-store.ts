import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  addMissingColumns,
  migratePostgres,
  openPostgresStore,
  openSqliteStore,
  type PostgresPool,
  type SqlDatabase,
  type Statements,
} from '../database/index.ts';
import { hashPassword, passwordProblem, verifyPassword } from './password.ts';
import type { Account, Role, Session } from './roles.ts';
import { ROLES } from './roles.ts';
import { acceptTotp, isSealed, newTotpSecret, openTotpSecret, sealTotpSecret } from './totp.ts';

export interface AccountPolicy {
  sessionIdleMinutes: number;
  sessionMaxHours: number;
  lockoutAttempts: number;
  lockoutMinutes: number;
  /**
   * A partner's password holds this long, then must be changed before it opens anything (default 90); staff passwords
   * do not expire (NIST SP 800-63B: rotation without cause makes passwords weaker, and staff sign in with a second
   * factor everywhere, while a partner's SFTP client signs in with the password alone).
   */
  partnerPasswordDays?: number;
}

export interface AccountStoreOptions extends AccountPolicy {
  /** The AES-256 key the TOTP secrets are sealed under (see totpSealingKey). */
  totpKey: Buffer;
}

/** A request the account store refuses, with a reason an administrator can act on. */
export class AccountError extends Error {
  readonly code: 'ACCOUNT_INVALID' | 'ACCOUNT_EXISTS' | 'ACCOUNT_NOT_FOUND' | 'SECRETS_KEY_MISMATCH' | 'SIGN_IN_FAILED';
  constructor(code: AccountError['code'], message: string) {
    super(message);
    this.name = 'AccountError';
    this.code = code;
  }
}

/**
 * The outcome of a sign-in. The caller answers every failure the same way ("sign-in failed"), so that nobody learns
 * whether a user name exists or is locked; `reason` and `account` are for the audit trail only.
 */
export type SignInResult =
  | { ok: true; token: string; session: Session }
  | {
      ok: false;
      /**
       * 'password-expired' is answered only when password and code were right: the person then sets a new password
       * (signIn with newPassword) with the same code, which was not used up.
       */
      reason: 'unknown-user' | 'wrong-password' | 'wrong-code' | 'locked' | 'disabled' | 'password-expired';
      account?: Account;
    };

type PasswordRefusal = {
  ok: false;
  reason: 'unknown-user' | 'wrong-password' | 'locked' | 'disabled';
  account?: Account;
};

/** A password checked on its own (SFTP): the account, or why not (for the audit trail only, as with SignInResult). */
export type PasswordCheck =
  { ok: true; account: Account } | PasswordRefusal | { ok: false; reason: 'password-expired'; account: Account };

/** A public key registered for SFTP, as its owner and the admin see it. */
export interface SshKey {
  /** OpenSSH's SHA256 fingerprint (SHA256:...), as `ssh-keygen -l` prints it. */
  fingerprint: string;
  type: string;
  comment: string;
  addedAt: string;
}

/** What an admin sees of an account: never a password hash or a TOTP secret. */
export interface AccountSummary extends Account {
  createdAt: string;
  /** Disabled by an admin: signs in nowhere, its sessions ended. */
  disabled: boolean;
  /** Locked after repeated failed sign-ins, until this time. */
  lockedUntil: string | null;
  /** When the password must be changed (partners), or null. */
  passwordExpiresAt: string | null;
}

interface AccountRow {
  id: string;
  username: string;
  name: string;
  role: Role;
  uzi_role_code: string | null;
  source: 'local' | 'oidc';
  password_hash: string | null;
  totp_secret: string | null;
  totp_last_step: number;
  failed_attempts: number;
  locked_until: number;
  disabled_at: number | null;
  created_at: string;
  organization: string | null;
  password_changed_at: number | null;
  created_by_json: string | null;
}

const USERNAME = /^[a-z0-9][a-z0-9._-]{1,63}$/;
const UZI_ROLE = /^\d{2}\.\d{3}$/;

const accountOf = (r: AccountRow): Account => ({
  id: r.id,
  username: r.username,
  name: r.name,
  role: r.role,
  ...(r.uzi_role_code !== null ? { uziRoleCode: r.uzi_role_code } : {}),
  source: r.source,
  ...(r.organization !== null ? { organization: r.organization } : {}),
  ...(r.created_by_json !== null ? { createdBy: JSON.parse(r.created_by_json) as { id: string; name: string } } : {}),
});

/** The SSH public key types a partner may register: what OpenSSH makes by default, and no DSA or short RSA. */
const SSH_KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'];

/** An OpenSSH public key line (`type base64 comment`), checked: the type inside the blob matches, RSA has 3072+ bits. */
function parseSshKey(line: string): { type: string; blob: Buffer; comment: string } {
  const [type = '', data = '', ...rest] = line.trim().split(/\s+/);
  const bad = (why: string): never => {
    throw new AccountError('ACCOUNT_INVALID', `not an SSH public key this node takes: ${why}`);
  };
  if (!SSH_KEY_TYPES.includes(type)) bad(`the type is one of ${SSH_KEY_TYPES.join(', ')} (the .pub file's first word)`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) bad("the key is the .pub file's second word, in base64");
  const blob = Buffer.from(data, 'base64');
  const field = (at: number): { value: Buffer; next: number } => {
    if (at + 4 > blob.length) bad('the key is cut short');
    const length = blob.readUInt32BE(at);
    if (at + 4 + length > blob.length) bad('the key is cut short');
    return { value: blob.subarray(at + 4, at + 4 + length), next: at + 4 + length };
  };
  const fields: Buffer[] = [];
  for (let at = 0; at < blob.length;) {
    const f = field(at);
    fields.push(f.value);
    at = f.next;
  }
  const inner = fields[0]?.toString('latin1');
  if (inner !== type) bad(`the key says it is ${inner ?? 'nothing'}, not ${type}`);
  // ed25519: the key (32 bytes); ECDSA: curve and point; RSA: exponent and modulus.
  if (fields.length !== (type === 'ssh-ed25519' ? 2 : 3) || (type === 'ssh-ed25519' && fields[1]?.length !== 32))
    bad('the key is cut short or has more than its parts');
  if (type === 'ssh-rsa') {
    const modulus = fields[2]!;
    const bits = (modulus.length - (modulus[0] === 0 ? 1 : 0)) * 8;
    if (bits < 3072) bad(`an RSA key has at least 3072 bits; this one has about ${bits}`);
  }
  return { type, blob, comment: rest.join(' ').slice(0, 200) };
}

const fingerprintOf = (blob: Buffer): string =>
  `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;

const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');

/**
 * The accounts' tables, as a new database gets them (PostgreSQL's first migration; an embedded file's first open; an
 * older file gets the columns added since from addMissingColumns). Times are milliseconds. No foreign keys: SQLite
 * never enforced the ones older files declare, and `beeldbrug migrate` copies their rows as they are.
 */
const TABLES = `
  CREATE TABLE IF NOT EXISTS account (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    uzi_role_code TEXT,
    source TEXT NOT NULL,
    oidc_subject TEXT UNIQUE,
    password_hash TEXT,
    totp_secret TEXT,
    totp_last_step BIGINT NOT NULL DEFAULT -1,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    disabled_at BIGINT,
    organization TEXT,
    password_changed_at BIGINT,
    created_by_json TEXT
  );
  CREATE TABLE IF NOT EXISTS session (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    two_factor INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS session_by_expiry ON session (expires_at);
  CREATE INDEX IF NOT EXISTS session_by_account ON session (account_id);
  CREATE TABLE IF NOT EXISTS ssh_key (
    fingerprint TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    type TEXT NOT NULL,
    blob BYTEA NOT NULL,
    comment TEXT NOT NULL,
    added_at TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS ssh_key_by_account ON ssh_key (account_id);`;

/** PostgreSQL's schema, each migration applied once. */
const POSTGRES_MIGRATIONS = [TABLES];

/** Brings the accounts' tables on a PostgreSQL server to their newest schema. */
export function migratePostgresAccounts(pool: PostgresPool): Promise<void> {
  return migratePostgres(pool, 'accounts', POSTGRES_MIGRATIONS);
}

/**
 * The node's local accounts (argon2id password + TOTP, both always required), lockout after repeated failures,
 * sessions that expire when idle and after a maximum age, and partners' SSH keys, on the node's database (the embedded
 * file or PostgreSQL, one SqlDatabase). Session tokens are random 256-bit values; only their SHA-256 is stored, so a
 * copy of the database signs nobody in. TOTP secrets are stored sealed (AES-256-GCM) under a key kept outside the
 * database; secrets an older version stored in plain text are sealed when the store is opened. Every statement is one
 * both databases understand; a count that must not be lost to a concurrent sign-in on another node is changed in the
 * statement that reads it.
 */
export class AccountStore {
  readonly #sql: SqlDatabase;
  readonly #policy: AccountPolicy;
  readonly #now: () => Date;
  readonly #totpKey: Buffer;
  #dummyHash: Promise<string> | undefined;

  private constructor(sql: SqlDatabase, options: AccountStoreOptions, now: () => Date) {
    const { totpKey, ...policy } = options;
    this.#sql = sql;
    this.#policy = policy;
    this.#totpKey = Buffer.from(totpKey);
    this.#now = now;
  }

  /** The accounts on a database whose tables exist (the caller migrated them); checks the sealing key against them. */
  static async open(
    sql: SqlDatabase,
    options: AccountStoreOptions,
    now: () => Date = () => new Date(),
  ): Promise<{ store: AccountStore; sealed: number }> {
    if (options.totpKey.length !== 32) throw new RangeError('the TOTP sealing key is 32 bytes');
    const store = new AccountStore(sql, options, now);
    try {
      return { store, sealed: await store.#sealPlainSecrets() };
    } catch (err) {
      await sql.close();
      throw err;
    }
  }

  /** The embedded accounts file: made, or brought up to date, and opened. */
  static async openFile(
    path: string,
    options: AccountStoreOptions,
    now: () => Date = () => new Date(),
  ): Promise<AccountStore> {
    // What is deleted or overwritten (a plain-text secret being sealed, an ended session) is zeroed, not left in free pages.
    const sql = openSqliteStore(
      path,
      (db) => {
        db.exec(TABLES);
        // Added with account administration in the workspace; accounts made before it are enabled. Partner accounts
        // came later still (their organization, their passwords' age).
        addMissingColumns(db, 'account', [
          'disabled_at INTEGER',
          'organization TEXT',
          'password_changed_at INTEGER',
          'created_by_json TEXT',
        ]);
      },
      { secureDelete: true },
    );
    const { store, sealed } = await AccountStore.open(sql, options, now);
    // The plain-text pages are in the write-ahead log until a checkpoint writes the sealed ones over them.
    if (sealed > 0) sql.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    return store;
  }

  /** The accounts on a PostgreSQL server, shared by the nodes there: tables migrated, then opened as open() does. */
  static async openPostgres(
    pool: PostgresPool,
    options: AccountStoreOptions,
    o: { ownsPool: boolean },
    now: () => Date = () => new Date(),
  ): Promise<AccountStore> {
    return (await AccountStore.open(await openPostgresStore(pool, 'accounts', POSTGRES_MIGRATIONS, o), options, now))
      .store;
  }

  /**
   * Seals the secrets an older version stored in plain text, and checks that the sealed ones open with this key: a node
   * started with another store key would otherwise refuse every sign-in without saying why. Answers how many it sealed.
   */
  async #sealPlainSecrets(): Promise<number> {
    // Read first: every open (each `beeldbrug user` command, every start) would otherwise take the write lock for nothing.
    const rows = await this.#sql.read((q) =>
      q.all<{ id: string; username: string; totp_secret: string }>(
        'SELECT id, username, totp_secret FROM account WHERE totp_secret IS NOT NULL',
      ),
    );
    const sealed = rows.find((r) => isSealed(r.totp_secret));
    if (sealed !== undefined && openTotpSecret(this.#totpKey, sealed.id, sealed.totp_secret) === undefined) {
      throw new AccountError(
        'SECRETS_KEY_MISMATCH',
        `the TOTP secret of ${sealed.username} does not open with this key: the accounts were made under another store key`,
      );
    }
    const plain = rows.filter((r) => !isSealed(r.totp_secret));
    if (plain.length === 0) return 0;
    // Only a secret still in plain text is replaced: another process sealing at the same time keeps its own.
    return this.#sql.write(async (q) => {
      let changed = 0;
      for (const r of plain)
        changed += await q.run('UPDATE account SET totp_secret = ? WHERE id = ? AND totp_secret = ?', [
          sealTotpSecret(this.#totpKey, r.id, r.totp_secret),
          r.id,
          r.totp_secret,
        ]);
      return changed;
    });
  }

  /** Creates a local account; the TOTP secret comes back once, for the user's authenticator app. */
  async createLocal(a: {
    username: string;
    name: string;
    role: Role;
    uziRoleCode?: string;
    /** A partner's organization; required for a partner, refused for anyone else. */
    organization?: string | undefined;
    password: string;
    /** Who makes the account, as the audit trail names them. */
    createdBy?: { id: string; name: string } | undefined;
  }): Promise<{ account: Account; totpSecret: string }> {
    const username = a.username.toLowerCase();
    if (!USERNAME.test(username))
      throw new AccountError(
        'ACCOUNT_INVALID',
        'a user name is 2-64 of a-z, 0-9, dot, dash or underscore, starting with a letter or digit',
      );
    if (a.name.trim().length === 0) throw new AccountError('ACCOUNT_INVALID', "the user's name is empty");
    if (!ROLES.includes(a.role)) throw new AccountError('ACCOUNT_INVALID', `the role is one of ${ROLES.join(', ')}`);
    if (a.uziRoleCode !== undefined && !UZI_ROLE.test(a.uziRoleCode))
      throw new AccountError('ACCOUNT_INVALID', 'a UZI role code looks like 01.015');
    const organization = a.organization?.trim() ?? '';
    if (a.role === 'partner' && organization === '')
      throw new AccountError('ACCOUNT_INVALID', "a partner account names the partner's organization");
    if (a.role !== 'partner' && organization !== '')
      throw new AccountError('ACCOUNT_INVALID', 'only a partner account names an organization');
    const weak = passwordProblem(a.password, username);
    if (weak !== undefined) throw new AccountError('ACCOUNT_INVALID', weak);
    const totpSecret = newTotpSecret();
    const id = randomUUID();
    const passwordHash = await hashPassword(a.password);
    const at = this.#now();
    const row = await this.#sql.write(async (q) => {
      // Taken in the same transaction, so two admins adding the same name at once get one account and one refusal.
      const added = await q.one<AccountRow>(
        `INSERT INTO account (id, username, name, role, uzi_role_code, source, password_hash, totp_secret, created_at, organization, password_changed_at, created_by_json)
         VALUES (?, ?, ?, ?, ?, 'local', ?, ?, ?, ?, ?, ?) ON CONFLICT (username) DO NOTHING RETURNING *`,
        [
          id,
          username,
          a.name.trim(),
          a.role,
          a.uziRoleCode ?? null,
          passwordHash,
          sealTotpSecret(this.#totpKey, id, totpSecret),
          at.toISOString(),
          organization === '' ? null : organization,
          at.getTime(),
          a.createdBy !== undefined ? JSON.stringify({ id: a.createdBy.id, name: a.createdBy.name }) : null,
        ],
      );
      if (added === undefined) throw new AccountError('ACCOUNT_EXISTS', `the user name ${username} is taken`);
      return added;
    });
    return { account: accountOf(row), totpSecret };
  }

  async count(role?: Role): Promise<number> {
    const row = await this.#sql.read((q) =>
      role === undefined
        ? q.one<{ n: number }>('SELECT COUNT(*) AS n FROM account')
        : q.one<{ n: number }>('SELECT COUNT(*) AS n FROM account WHERE role = ?', [role]),
    );
    return Number(row?.n ?? 0);
  }

  /**
   * Password and TOTP code, both checked every time. An unknown user name costs the same argon2 work as a known one.
   * The lockout counts consecutive failures and holds even for the right credentials until it ends.
   */
  async signIn(c: {
    username: string;
    password: string;
    code: string;
    newPassword?: string | undefined;
  }): Promise<SignInResult> {
    const checked = await this.#checkPassword(c.username, c.password);
    if (!checked.ok) return checked.refusal;
    const { row, at } = checked;
    const account = accountOf(row);
    const secret = openTotpSecret(this.#totpKey, row.id, row.totp_secret!);
    const step = secret !== undefined ? acceptTotp(secret, c.code, at, row.totp_last_step) : undefined;
    if (step === undefined) {
      await this.#failed(row, at);
      return { ok: false, reason: 'wrong-code', account };
    }
    if (this.#passwordExpired(row, at)) {
      // Both factors were right; the code stays unused so that the same one goes with the new password.
      if (c.newPassword === undefined) return { ok: false, reason: 'password-expired', account };
      await this.#setPassword(row, c.newPassword, c.password);
    }
    return this.#sql.write(async (q) => {
      // A code is used once: a sign-in that raced this one with the same code finds the step taken.
      const used = await q.run(
        'UPDATE account SET failed_attempts = 0, totp_last_step = ? WHERE id = ? AND totp_last_step < ?',
        [step, row.id, step],
      );
      if (used === 0) return { ok: false, reason: 'wrong-code', account } as const;
      return this.#openSession(q, account, true, at);
    });
  }

  /**
   * The password alone (an SFTP client, which has no place for a code), with the same lockout, the same dummy work for
   * an unknown name, and an expired password refused: it is changed on the web, with the second factor.
   */
  async checkPassword(username: string, password: string): Promise<PasswordCheck> {
    const checked = await this.#checkPassword(username, password);
    if (!checked.ok) return checked.refusal;
    const account = accountOf(checked.row);
    if (this.#passwordExpired(checked.row, checked.at)) return { ok: false, reason: 'password-expired', account };
    await this.#sql.write((q) => q.run('UPDATE account SET failed_attempts = 0 WHERE id = ?', [checked.row.id]));
    return { ok: true, account };
  }

  /** A new password for a signed-in person who knows the current one; the account's other sessions end. */
  async changePassword(id: string, current: string, next: string, keepSession: string): Promise<AccountSummary> {
    const row = await this.#byId(id);
    const checked = await this.#checkPassword(row.username, current);
    if (!checked.ok)
      throw new AccountError('SIGN_IN_FAILED', 'the current password is not right (failures count towards the lock)');
    await this.#setPassword(checked.row, next, current, keepSession);
    return (await this.find(id))!;
  }

  /** A new password; with `keepSession`, every other session of the account ends with the old one. */
  async #setPassword(row: AccountRow, next: string, current: string, keepSession?: string): Promise<void> {
    const weak = passwordProblem(next, row.username);
    if (weak !== undefined) throw new AccountError('ACCOUNT_INVALID', weak);
    if (next === current) throw new AccountError('ACCOUNT_INVALID', 'the new password is not the current one');
    const hash = await hashPassword(next);
    await this.#sql.write(async (q) => {
      await q.run('UPDATE account SET password_hash = ?, password_changed_at = ? WHERE id = ?', [
        hash,
        this.#now().getTime(),
        row.id,
      ]);
      if (keepSession !== undefined)
        await q.run('DELETE FROM session WHERE account_id = ? AND token_hash != ?', [row.id, tokenHash(keepSession)]);
    });
  }

  /**
   * The password checked against a local account (one with a second factor), lockout and disabling honoured; a wrong
   * one is counted. An unknown user name costs the same argon2 work as a known one.
   */
  async #checkPassword(
    username: string,
    password: string,
  ): Promise<{ ok: true; row: AccountRow; at: Date } | { ok: false; refusal: PasswordRefusal }> {
    const row = await this.#row(username.toLowerCase());
    if (row === undefined || row.source !== 'local' || row.password_hash === null || row.totp_secret === null) {
      await verifyPassword(await this.#dummy(), password);
      const account = row !== undefined ? { account: accountOf(row) } : {};
      return { ok: false, refusal: { ok: false, reason: 'unknown-user', ...account } };
    }
    const passwordOk = await verifyPassword(row.password_hash, password);
    const at = this.#now();
    const account = accountOf(row);
    // Re-read after the await: another sign-in may have counted a failure meanwhile.
    const fresh = (await this.#row(row.username))!;
    if (fresh.disabled_at !== null) return { ok: false, refusal: { ok: false, reason: 'disabled', account } };
    if (Number(fresh.locked_until) > at.getTime())
      return { ok: false, refusal: { ok: false, reason: 'locked', account } };
    if (!passwordOk) {
      await this.#failed(fresh, at);
      return { ok: false, refusal: { ok: false, reason: 'wrong-password', account } };
    }
    return { ok: true, row: fresh, at };
  }

  /** Counts a failed sign-in, in the statement that reads the count; enough in a row lock the account for a while. */
  async #failed(row: AccountRow, at: Date): Promise<void> {
    const limit = this.#policy.lockoutAttempts;
    await this.#sql.write((q) =>
      q.run(
        `UPDATE account SET
           failed_attempts = CASE WHEN failed_attempts + 1 >= ? THEN 0 ELSE failed_attempts + 1 END,
           locked_until = CASE WHEN failed_attempts + 1 >= ? THEN ? ELSE locked_until END
         WHERE id = ?`,
        [limit, limit, at.getTime() + this.#policy.lockoutMinutes * 60_000, row.id],
      ),
    );
  }

  /** When a partner's password expires; null for accounts whose passwords do not. */
  #passwordExpiry(row: AccountRow): number | null {
    if (row.role !== 'partner' || row.source !== 'local') return null;
    const changed = row.password_changed_at !== null ? Number(row.password_changed_at) : Date.parse(row.created_at);
    return changed + (this.#policy.partnerPasswordDays ?? 90) * 86_400_000;
  }

  #passwordExpired(row: AccountRow, at: Date): boolean {
    const expiry = this.#passwordExpiry(row);
    return expiry !== null && expiry <= at.getTime();
  }

  /** Registers an SSH public key for a partner's SFTP sign-in (an OpenSSH .pub line); answers it as listed. */
  async addSshKey(id: string, publicKey: string): Promise<SshKey> {
    const row = await this.#byId(id);
    if (row.role !== 'partner')
      throw new AccountError('ACCOUNT_INVALID', 'only partner accounts sign in over SFTP, and so have SSH keys');
    const key = parseSshKey(publicKey);
    const fingerprint = fingerprintOf(key.blob);
    const addedAt = this.#now().toISOString();
    const added = await this.#sql.write((q) =>
      q.run(
        `INSERT INTO ssh_key (fingerprint, account_id, type, blob, comment, added_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (fingerprint) DO NOTHING`,
        [fingerprint, id, key.type, key.blob, key.comment, addedAt],
      ),
    );
    if (added === 0) throw new AccountError('ACCOUNT_EXISTS', `the key ${fingerprint} is registered already`);
    return { fingerprint, type: key.type, comment: key.comment, addedAt };
  }

  async sshKeysOf(id: string): Promise<SshKey[]> {
    await this.#byId(id);
    const keys = await this.#sql.read((q) =>
      q.all<{ fingerprint: string; type: string; comment: string; added_at: string }>(
        'SELECT fingerprint, type, comment, added_at FROM ssh_key WHERE account_id = ? ORDER BY added_at',
        [id],
      ),
    );
    return keys.map((k) => ({ fingerprint: k.fingerprint, type: k.type, comment: k.comment, addedAt: k.added_at }));
  }

  async removeSshKey(id: string, fingerprint: string): Promise<void> {
    const removed = await this.#sql.write((q) =>
      q.run('DELETE FROM ssh_key WHERE account_id = ? AND fingerprint = ?', [id, fingerprint]),
    );
    if (removed === 0) throw new AccountError('ACCOUNT_NOT_FOUND', `no key ${fingerprint} on this account`);
  }

  /**
   * The partner account a registered public key signs in: the user name must be its owner's, and the account enabled
   * and not locked. The caller checks the client's signature with the key.
   */
  async accountForSshKey(username: string, type: string, blob: Buffer): Promise<Account | undefined> {
    const row = await this.#row(username.toLowerCase());
    if (row === undefined || row.role !== 'partner' || row.disabled_at !== null) return undefined;
    if (Number(row.locked_until) > this.#now().getTime()) return undefined;
    const key = await this.#sql.read((q) =>
      q.one('SELECT 1 AS found FROM ssh_key WHERE fingerprint = ? AND account_id = ? AND type = ?', [
        fingerprintOf(blob),
        row.id,
        type,
      ]),
    );
    return key !== undefined ? accountOf(row) : undefined;
  }

  /**
   * Opens a session for a person the hospital's identity provider vouched for. The account follows the provider: name,
   * role and UZI role code are updated on every sign-in, and it has no password or TOTP here (lockout is the provider's).
   * The user name is the provider's, suffixed when a different account already holds it. An account an admin disabled
   * here is not signed in (undefined), whatever the provider says.
   */
  async signInExternal(p: {
    subject: string;
    username: string;
    name: string;
    role: Role;
    uziRoleCode?: string;
    twoFactor: boolean;
  }): Promise<{ token: string; session: Session } | undefined> {
    const at = this.#now();
    return this.#sql.write(async (q) => {
      const known = await q.one<AccountRow>('SELECT * FROM account WHERE oidc_subject = ?', [p.subject]);
      if (known?.disabled_at !== null && known?.disabled_at !== undefined) return undefined;
      let id: string;
      if (known !== undefined) {
        id = known.id;
        await q.run('UPDATE account SET name = ?, role = ?, uzi_role_code = ? WHERE id = ?', [
          p.name,
          p.role,
          p.uziRoleCode ?? null,
          id,
        ]);
      } else {
        id = randomUUID();
        const taken = await q.one('SELECT 1 AS found FROM account WHERE username = ?', [p.username]);
        const username =
          taken === undefined
            ? p.username
            : `${p.username}#${createHash('sha256').update(p.subject).digest('hex').slice(0, 8)}`;
        await q.run(
          `INSERT INTO account (id, username, name, role, uzi_role_code, source, oidc_subject, created_at)
           VALUES (?, ?, ?, ?, ?, 'oidc', ?, ?)`,
          [id, username, p.name, p.role, p.uziRoleCode ?? null, p.subject, at.toISOString()],
        );
      }
      const row = await q.one<AccountRow>('SELECT * FROM account WHERE id = ?', [id]);
      const { token, session } = await this.#openSession(q, accountOf(row!), p.twoFactor, at);
      return { token, session };
    });
  }

  /** The session a token stands for, when it has not expired; each use moves its idle deadline. */
  async session(token: string): Promise<Session | undefined> {
    if (token.length < 20 || token.length > 100) return undefined;
    const at = this.#now().getTime();
    const hash = tokenHash(token);
    const found = await this.#sql.read(async (q) => {
      const s = await q.one<{
        account_id: string;
        two_factor: number;
        created_at: number;
        expires_at: number;
        last_seen: number;
      }>('SELECT account_id, two_factor, created_at, expires_at, last_seen FROM session WHERE token_hash = ?', [hash]);
      if (s === undefined) return undefined;
      return { s, account: await q.one<AccountRow>('SELECT * FROM account WHERE id = ?', [s.account_id]) };
    });
    if (found === undefined) return undefined;
    const { s, account } = found;
    const lastSeen = Number(s.last_seen);
    if (at >= Number(s.expires_at) || at - lastSeen >= this.#policy.sessionIdleMinutes * 60_000) {
      await this.#sql.write((q) => q.run('DELETE FROM session WHERE token_hash = ?', [hash]));
      return undefined;
    }
    if (account === undefined || account.disabled_at !== null) return undefined;
    // A durable write per request would put a disk flush on every call a signed-in user makes; a minute's precision is
    // plenty for an idle limit counted in minutes.
    if (at - lastSeen >= 60_000)
      await this.#sql.write((q) => q.run('UPDATE session SET last_seen = ? WHERE token_hash = ?', [at, hash]));
    return {
      account: accountOf(account),
      twoFactor: Number(s.two_factor) === 1,
      createdAt: new Date(Number(s.created_at)).toISOString(),
      expiresAt: new Date(Number(s.expires_at)).toISOString(),
      ...this.#passwordExpiresAt(account),
    };
  }

  async endSession(token: string): Promise<void> {
    await this.#sql.write((q) => q.run('DELETE FROM session WHERE token_hash = ?', [tokenHash(token)]));
  }

  /** Removes expired sessions (housekeeping; an expired session is refused whether or not it was removed). */
  async sweep(): Promise<number> {
    const at = this.#now().getTime();
    return this.#sql.write((q) =>
      q.run('DELETE FROM session WHERE expires_at <= ? OR last_seen <= ?', [
        at,
        at - this.#policy.sessionIdleMinutes * 60_000,
      ]),
    );
  }

  /** Every account, by user name, for the admin's screen. */
  async list(): Promise<AccountSummary[]> {
    const rows = await this.#sql.read((q) => q.all<AccountRow>('SELECT * FROM account ORDER BY username'));
    return rows.map((r) => this.#summaryOf(r));
  }

  async find(id: string): Promise<AccountSummary | undefined> {
    const row = await this.#sql.read((q) => q.one<AccountRow>('SELECT * FROM account WHERE id = ?', [id]));
    return row !== undefined ? this.#summaryOf(row) : undefined;
  }

  #summaryOf(r: AccountRow): AccountSummary {
    const lockedUntil = Number(r.locked_until);
    return {
      ...accountOf(r),
      createdAt: r.created_at,
      disabled: r.disabled_at !== null,
      lockedUntil: lockedUntil > this.#now().getTime() ? new Date(lockedUntil).toISOString() : null,
      passwordExpiresAt: this.#passwordExpiresAt(r).passwordExpiresAt ?? null,
    };
  }

  /** Disables (and ends every session of) or enables an account; refuses to leave the node without an enabled admin. */
  async setDisabled(id: string, disabled: boolean): Promise<AccountSummary> {
    await this.#sql.write(async (q) => {
      const row = await this.#byId(id, q);
      if (disabled && row.role === 'admin' && row.disabled_at === null) {
        // The enabled admins' rows locked first (PostgreSQL; SQLite writes one at a time anyway): two admins disabled
        // at once on two nodes take turns, and the second counts after the first.
        await q.run("UPDATE account SET role = role WHERE role = 'admin' AND disabled_at IS NULL");
        const admins = await q.one<{ n: number }>(
          "SELECT COUNT(*) AS n FROM account WHERE role = 'admin' AND disabled_at IS NULL",
        );
        if (Number(admins?.n ?? 0) <= 1)
          throw new AccountError(
            'ACCOUNT_INVALID',
            `${row.username} is the last enabled admin: add another admin first`,
          );
      }
      await q.run('UPDATE account SET disabled_at = ? WHERE id = ?', [disabled ? this.#now().getTime() : null, id]);
      if (disabled) await q.run('DELETE FROM session WHERE account_id = ?', [id]);
    });
    return (await this.find(id))!;
  }

  /** Ends a lockout after failed sign-ins, at once. */
  async unlock(id: string): Promise<AccountSummary> {
    await this.#sql.write(async (q) => {
      await this.#byId(id, q);
      await q.run('UPDATE account SET failed_attempts = 0, locked_until = 0 WHERE id = ?', [id]);
    });
    return (await this.find(id))!;
  }

  /**
   * A new TOTP secret for a local account whose authenticator was lost: the old one stops working and every session
   * ends. The new secret comes back once, to be handed to the person.
   */
  async resetSecondFactor(id: string): Promise<{ account: AccountSummary; totpSecret: string }> {
    const totpSecret = newTotpSecret();
    await this.#sql.write(async (q) => {
      const row = await this.#byId(id, q);
      if (row.source !== 'local')
        throw new AccountError(
          'ACCOUNT_INVALID',
          `${row.username} signs in through the identity provider, which keeps its second factor`,
        );
      await q.run(
        'UPDATE account SET totp_secret = ?, totp_last_step = -1, failed_attempts = 0, locked_until = 0 WHERE id = ?',
        [sealTotpSecret(this.#totpKey, id, totpSecret), id],
      );
      await q.run('DELETE FROM session WHERE account_id = ?', [id]);
    });
    return { account: (await this.find(id))!, totpSecret };
  }

  async #byId(id: string, q?: Statements): Promise<AccountRow> {
    const read = (s: Statements): Promise<AccountRow | undefined> =>
      s.one<AccountRow>('SELECT * FROM account WHERE id = ?', [id]);
    const row = q !== undefined ? await read(q) : await this.#sql.read(read);
    if (row === undefined) throw new AccountError('ACCOUNT_NOT_FOUND', `no account ${id} on this node`);
    return row;
  }

  /** Closes the database; a second call does nothing. */
  async close(): Promise<void> {
    await this.#sql.close();
  }

  async #openSession(
    q: Statements,
    account: Account,
    twoFactor: boolean,
    at: Date,
  ): Promise<{ ok: true; token: string; session: Session }> {
    const token = randomBytes(32).toString('base64url');
    const expires = at.getTime() + this.#policy.sessionMaxHours * 3600_000;
    await q.run(
      'INSERT INTO session (token_hash, account_id, two_factor, created_at, last_seen, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
      [tokenHash(token), account.id, twoFactor ? 1 : 0, at.getTime(), at.getTime(), expires],
    );
    return {
      ok: true,
      token,
      session: {
        account,
        twoFactor,
        createdAt: at.toISOString(),
        expiresAt: new Date(expires).toISOString(),
        ...this.#passwordExpiresAt(await this.#byId(account.id, q)),
      },
    };
  }

  #passwordExpiresAt(row: AccountRow): { passwordExpiresAt?: string } {
    const expiry = this.#passwordExpiry(row);
    return expiry !== null ? { passwordExpiresAt: new Date(expiry).toISOString() } : {};
  }

  #row(username: string): Promise<AccountRow | undefined> {
    return this.#sql.read((q) => q.one<AccountRow>('SELECT * FROM account WHERE username = ?', [username]));
  }

  #dummy(): Promise<string> {
    this.#dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    return this.#dummyHash;
  }
}
