import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { hashPassword, passwordProblem, verifyPassword } from './password.ts';
import type { Account, Role, Session } from './roles.ts';
import { ROLES } from './roles.ts';
import { acceptTotp, isSealed, newTotpSecret, openTotpSecret, sealTotpSecret } from './totp.ts';

export interface AccountPolicy {
  sessionIdleMinutes: number;
  sessionMaxHours: number;
  lockoutAttempts: number;
  lockoutMinutes: number;
}

export interface AccountStoreOptions extends AccountPolicy {
  /** The AES-256 key the TOTP secrets are sealed under (see totpSealingKey). */
  totpKey: Buffer;
}

/** A request the account store refuses, with a reason an administrator can act on. */
export class AccountError extends Error {
  readonly code: 'ACCOUNT_INVALID' | 'ACCOUNT_EXISTS' | 'ACCOUNT_NOT_FOUND' | 'SECRETS_KEY_MISMATCH';
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
      reason: 'unknown-user' | 'wrong-password' | 'wrong-code' | 'locked' | 'disabled';
      account?: Account;
    };

/** What an admin sees of an account: never a password hash or a TOTP secret. */
export interface AccountSummary extends Account {
  createdAt: string;
  /** Disabled by an admin: signs in nowhere, its sessions ended. */
  disabled: boolean;
  /** Locked after repeated failed sign-ins, until this time. */
  lockedUntil: string | null;
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
});

const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');

/**
 * Local accounts (argon2id password + TOTP, both always required), lockout after repeated failures, and sessions that
 * expire when idle and after a maximum age. Session tokens are random 256-bit values; only their SHA-256 is stored, so
 * a copy of the database signs nobody in. TOTP secrets are stored sealed (AES-256-GCM) under a key kept outside the
 * database; secrets an older version stored in plain text are sealed when the store is opened.
 */
export class AccountStore {
  readonly #db: DatabaseSync;
  readonly #policy: AccountPolicy;
  readonly #now: () => Date;
  readonly #totpKey: Buffer;
  #dummyHash: Promise<string> | undefined;

  constructor(path: string, options: AccountStoreOptions, now: () => Date = () => new Date()) {
    const { totpKey, ...policy } = options;
    if (totpKey.length !== 32) throw new RangeError('the TOTP sealing key is 32 bytes');
    this.#policy = policy;
    this.#totpKey = Buffer.from(totpKey);
    this.#now = now;
    this.#db = new DatabaseSync(path);
    this.#db.exec('PRAGMA journal_mode = WAL');
    // What is deleted or overwritten (a plain-text secret being sealed, an ended session) is zeroed, not left in free pages.
    this.#db.exec('PRAGMA secure_delete = ON');
    this.#db.exec('PRAGMA synchronous = FULL');
    this.#db.exec('PRAGMA busy_timeout = 5000');
    this.#db.exec(`
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
        totp_last_step INTEGER NOT NULL DEFAULT -1,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        locked_until INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS session (
        token_hash TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES account (id),
        two_factor INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS session_by_expiry ON session (expires_at);`);
    // Added with account administration in the workspace; accounts made before it are enabled.
    const columns = this.#db.prepare('PRAGMA table_info(account)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'disabled_at'))
      this.#db.exec('ALTER TABLE account ADD COLUMN disabled_at INTEGER');
    try {
      this.#sealPlainSecrets();
    } catch (err) {
      this.#db.close();
      throw err;
    }
  }

  /**
   * Seals the secrets an older version stored in plain text, and checks that the sealed ones open with this key: a node
   * started with another store key would otherwise refuse every sign-in without saying why.
   */
  #sealPlainSecrets(): void {
    const rows = this.#db
      .prepare('SELECT id, username, totp_secret FROM account WHERE totp_secret IS NOT NULL')
      .all() as { id: string; username: string; totp_secret: string }[];
    const plain = rows.filter((r) => !isSealed(r.totp_secret));
    const sealed = rows.find((r) => isSealed(r.totp_secret));
    if (sealed !== undefined && openTotpSecret(this.#totpKey, sealed.id, sealed.totp_secret) === undefined) {
      throw new AccountError(
        'SECRETS_KEY_MISMATCH',
        `the TOTP secret of ${sealed.username} does not open with this key: the accounts were made under another store key`,
      );
    }
    if (plain.length === 0) return;
    const update = this.#db.prepare('UPDATE account SET totp_secret = ? WHERE id = ?');
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const r of plain) update.run(sealTotpSecret(this.#totpKey, r.id, r.totp_secret), r.id);
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    // The plain-text pages are in the write-ahead log until a checkpoint writes the sealed ones over them.
    this.#db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  }

  /** Creates a local account; the TOTP secret comes back once, for the user's authenticator app. */
  async createLocal(a: {
    username: string;
    name: string;
    role: Role;
    uziRoleCode?: string;
    password: string;
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
    const weak = passwordProblem(a.password, username);
    if (weak !== undefined) throw new AccountError('ACCOUNT_INVALID', weak);
    if (this.#row(username) !== undefined)
      throw new AccountError('ACCOUNT_EXISTS', `the user name ${username} is taken`);
    const totpSecret = newTotpSecret();
    const id = randomUUID();
    this.#db
      .prepare(
        'INSERT INTO account (id, username, name, role, uzi_role_code, source, password_hash, totp_secret, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        id,
        username,
        a.name.trim(),
        a.role,
        a.uziRoleCode ?? null,
        'local',
        await hashPassword(a.password),
        sealTotpSecret(this.#totpKey, id, totpSecret),
        this.#now().toISOString(),
      );
    return { account: accountOf(this.#row(username)!), totpSecret };
  }

  count(role?: Role): number {
    const row = (
      role === undefined
        ? this.#db.prepare('SELECT COUNT(*) AS n FROM account').get()
        : this.#db.prepare('SELECT COUNT(*) AS n FROM account WHERE role = ?').get(role)
    ) as { n: number };
    return row.n;
  }

  /**
   * Password and TOTP code, both checked every time. An unknown user name costs the same argon2 work as a known one.
   * The lockout counts consecutive failures and holds even for the right credentials until it ends.
   */
  async signIn(c: { username: string; password: string; code: string }): Promise<SignInResult> {
    const row = this.#row(c.username.toLowerCase());
    if (row === undefined || row.source !== 'local' || row.password_hash === null || row.totp_secret === null) {
      await verifyPassword(await this.#dummy(), c.password);
      return { ok: false, reason: 'unknown-user', ...(row !== undefined ? { account: accountOf(row) } : {}) };
    }
    const passwordOk = await verifyPassword(row.password_hash, c.password);
    const at = this.#now();
    const account = accountOf(row);
    // Re-read after the await: another sign-in may have counted a failure meanwhile.
    const fresh = this.#row(row.username)!;
    if (fresh.disabled_at !== null) return { ok: false, reason: 'disabled', account };
    if (fresh.locked_until > at.getTime()) return { ok: false, reason: 'locked', account };
    const secret = passwordOk ? openTotpSecret(this.#totpKey, row.id, row.totp_secret) : undefined;
    const step = secret !== undefined ? acceptTotp(secret, c.code, at, fresh.totp_last_step) : undefined;
    if (!passwordOk || step === undefined) {
      const failures = fresh.failed_attempts + 1;
      const lock = failures >= this.#policy.lockoutAttempts;
      this.#db
        .prepare('UPDATE account SET failed_attempts = ?, locked_until = ? WHERE id = ?')
        .run(
          lock ? 0 : failures,
          lock ? at.getTime() + this.#policy.lockoutMinutes * 60_000 : fresh.locked_until,
          row.id,
        );
      return { ok: false, reason: passwordOk ? 'wrong-code' : 'wrong-password', account };
    }
    this.#db.prepare('UPDATE account SET failed_attempts = 0, totp_last_step = ? WHERE id = ?').run(step, row.id);
    return this.#openSession(account, true, at);
  }

  /**
   * Opens a session for a person the hospital's identity provider vouched for. The account follows the provider: name,
   * role and UZI role code are updated on every sign-in, and it has no password or TOTP here (lockout is the provider's).
   * The user name is the provider's, suffixed when a different account already holds it. An account an admin disabled
   * here is not signed in (undefined), whatever the provider says.
   */
  signInExternal(p: {
    subject: string;
    username: string;
    name: string;
    role: Role;
    uziRoleCode?: string;
    twoFactor: boolean;
  }): { token: string; session: Session } | undefined {
    const at = this.#now();
    const known = this.#db.prepare('SELECT * FROM account WHERE oidc_subject = ?').get(p.subject) as
      AccountRow | undefined;
    let id: string;
    if (known?.disabled_at !== null && known?.disabled_at !== undefined) return undefined;
    if (known !== undefined) {
      id = known.id;
      this.#db
        .prepare('UPDATE account SET name = ?, role = ?, uzi_role_code = ? WHERE id = ?')
        .run(p.name, p.role, p.uziRoleCode ?? null, id);
    } else {
      id = randomUUID();
      const username =
        this.#row(p.username) === undefined
          ? p.username
          : `${p.username}#${createHash('sha256').update(p.subject).digest('hex').slice(0, 8)}`;
      this.#db
        .prepare(
          'INSERT INTO account (id, username, name, role, uzi_role_code, source, oidc_subject, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(id, username, p.name, p.role, p.uziRoleCode ?? null, 'oidc', p.subject, at.toISOString());
    }
    const row = this.#db.prepare('SELECT * FROM account WHERE id = ?').get(id) as AccountRow | undefined;
    const { token, session } = this.#openSession(accountOf(row!), p.twoFactor, at);
    return { token, session };
  }

  /** The session a token stands for, when it has not expired; each use moves its idle deadline. */
  session(token: string): Session | undefined {
    if (token.length < 20 || token.length > 100) return undefined;
    const at = this.#now().getTime();
    const hash = tokenHash(token);
    const row = this.#db
      .prepare(
        'SELECT s.account_id, s.two_factor, s.created_at, s.expires_at, s.last_seen FROM session s WHERE s.token_hash = ?',
      )
      .get(hash) as
      { account_id: string; two_factor: number; created_at: number; expires_at: number; last_seen: number } | undefined;
    if (row === undefined) return undefined;
    if (at >= row.expires_at || at - row.last_seen >= this.#policy.sessionIdleMinutes * 60_000) {
      this.#db.prepare('DELETE FROM session WHERE token_hash = ?').run(hash);
      return undefined;
    }
    const account = this.#db.prepare('SELECT * FROM account WHERE id = ?').get(row.account_id) as
      AccountRow | undefined;
    if (account === undefined || account.disabled_at !== null) return undefined;
    // A durable write per request would put a disk flush on every call a signed-in user makes; a minute's precision is
    // plenty for an idle limit counted in minutes.
    if (at - row.last_seen >= 60_000)
      this.#db.prepare('UPDATE session SET last_seen = ? WHERE token_hash = ?').run(at, hash);
    return {
      account: accountOf(account),
      twoFactor: row.two_factor === 1,
      createdAt: new Date(row.created_at).toISOString(),
      expiresAt: new Date(row.expires_at).toISOString(),
    };
  }

  endSession(token: string): void {
    this.#db.prepare('DELETE FROM session WHERE token_hash = ?').run(tokenHash(token));
  }

  /** Removes expired sessions (housekeeping; an expired session is refused whether or not it was removed). */
  sweep(): number {
    const at = this.#now().getTime();
    return Number(
      this.#db
        .prepare('DELETE FROM session WHERE expires_at <= ? OR last_seen <= ?')
        .run(at, at - this.#policy.sessionIdleMinutes * 60_000).changes,
    );
  }

  /** Every account, by user name, for the admin's screen. */
  list(): AccountSummary[] {
    const at = this.#now().getTime();
    const rows = this.#db.prepare('SELECT * FROM account ORDER BY username').all() as unknown as AccountRow[];
    return rows.map((r) => ({
      ...accountOf(r),
      createdAt: r.created_at,
      disabled: r.disabled_at !== null,
      lockedUntil: r.locked_until > at ? new Date(r.locked_until).toISOString() : null,
    }));
  }

  find(id: string): AccountSummary | undefined {
    return this.list().find((a) => a.id === id);
  }

  /** Disables (and ends every session of) or enables an account; refuses to leave the node without an enabled admin. */
  setDisabled(id: string, disabled: boolean): AccountSummary {
    const row = this.#byId(id);
    if (disabled && row.role === 'admin' && row.disabled_at === null) {
      const admins = this.#db
        .prepare("SELECT COUNT(*) AS n FROM account WHERE role = 'admin' AND disabled_at IS NULL")
        .get() as { n: number };
      if (admins.n <= 1)
        throw new AccountError('ACCOUNT_INVALID', `${row.username} is the last enabled admin: add another admin first`);
    }
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      this.#db
        .prepare('UPDATE account SET disabled_at = ? WHERE id = ?')
        .run(disabled ? this.#now().getTime() : null, id);
      if (disabled) this.#db.prepare('DELETE FROM session WHERE account_id = ?').run(id);
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    return this.find(id)!;
  }

  /** Ends a lockout after failed sign-ins, at once. */
  unlock(id: string): AccountSummary {
    this.#byId(id);
    this.#db.prepare('UPDATE account SET failed_attempts = 0, locked_until = 0 WHERE id = ?').run(id);
    return this.find(id)!;
  }

  /**
   * A new TOTP secret for a local account whose authenticator was lost: the old one stops working and every session
   * ends. The new secret comes back once, to be handed to the person.
   */
  resetSecondFactor(id: string): { account: AccountSummary; totpSecret: string } {
    const row = this.#byId(id);
    if (row.source !== 'local')
      throw new AccountError(
        'ACCOUNT_INVALID',
        `${row.username} signs in through the identity provider, which keeps its second factor`,
      );
    const totpSecret = newTotpSecret();
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      this.#db
        .prepare(
          'UPDATE account SET totp_secret = ?, totp_last_step = -1, failed_attempts = 0, locked_until = 0 WHERE id = ?',
        )
        .run(sealTotpSecret(this.#totpKey, id, totpSecret), id);
      this.#db.prepare('DELETE FROM session WHERE account_id = ?').run(id);
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    return { account: this.find(id)!, totpSecret };
  }

  #byId(id: string): AccountRow {
    const row = this.#db.prepare('SELECT * FROM account WHERE id = ?').get(id) as AccountRow | undefined;
    if (row === undefined) throw new AccountError('ACCOUNT_NOT_FOUND', `no account ${id} on this node`);
    return row;
  }

  /** Closes the database; a second call does nothing. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #openSession(account: Account, twoFactor: boolean, at: Date): { ok: true; token: string; session: Session } {
    const token = randomBytes(32).toString('base64url');
    const expires = at.getTime() + this.#policy.sessionMaxHours * 3600_000;
    this.#db
      .prepare(
        'INSERT INTO session (token_hash, account_id, two_factor, created_at, last_seen, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(tokenHash(token), account.id, twoFactor ? 1 : 0, at.getTime(), at.getTime(), expires);
    return {
      ok: true,
      token,
      session: { account, twoFactor, createdAt: at.toISOString(), expiresAt: new Date(expires).toISOString() },
    };
  }

  #row(username: string): AccountRow | undefined {
    return this.#db.prepare('SELECT * FROM account WHERE username = ?').get(username) as AccountRow | undefined;
  }

  #dummy(): Promise<string> {
    this.#dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    return this.#dummyHash;
  }
}
