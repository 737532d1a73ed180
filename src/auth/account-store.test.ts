import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { onBothDatabases, queryAsOwner } from '../../test/support/postgres.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { openPostgresPool } from '../database/index.ts';
import { AccountStore } from './account-store.ts';
import { base32Decode, newTotpSecret, totpCode, totpStep } from './totp.ts';

const policy = {
  sessionIdleMinutes: 30,
  sessionMaxHours: 12,
  lockoutAttempts: 5,
  lockoutMinutes: 15,
  totpKey: randomBytes(32),
};
const PASSWORD = 'correct horse battery';

/** An ed25519 public key as SSH encodes it: the type, then 32 bytes of key. */
function sshEd25519Blob(): Buffer {
  const typed = Buffer.from('ssh-ed25519');
  return Buffer.concat([Buffer.from([0, 0, 0, typed.length]), typed, Buffer.from([0, 0, 0, 32]), randomBytes(32)]);
}

/** A store under test, its clock, and its tables as the database holds them. */
interface OpenedAccounts {
  store: AccountStore;
  clock: { now: number };
  rows(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

async function storeAt(
  t: { after(fn: () => Promise<void>): void },
  clock: { now: number },
): Promise<{ store: AccountStore; path: string }> {
  const path = join(tempDir(t as never), 'accounts.sqlite');
  const store = await AccountStore.openFile(path, policy, () => new Date(clock.now));
  t.after(() => store.close());
  return { store, path };
}

onBothDatabases<OpenedAccounts>(
  'local accounts, sessions and SSH keys',
  {
    sqlite: async (dir) => {
      const clock = { now: 0 };
      const path = join(dir, 'accounts.sqlite');
      const store = await AccountStore.openFile(path, policy, () => new Date(clock.now));
      const rows = async (sql: string): Promise<Record<string, unknown>[]> => {
        const db = new DatabaseSync(path, { readOnly: true });
        try {
          return db.prepare(sql).all();
        } finally {
          db.close();
        }
      };
      return { store, clock, rows, close: () => store.close() };
    },
    postgres: async (settings) => {
      const clock = { now: 0 };
      const pool = openPostgresPool(settings);
      const store = await AccountStore.openPostgres(pool, policy, { ownsPool: true }, () => new Date(clock.now));
      return { store, clock, rows: (sql) => queryAsOwner(settings, sql), close: () => store.close() };
    },
  },
  [
    [
      'a local account signs in with password and TOTP; the hash is argon2id and the token is not stored',
      async (t, open) => {
        const { store, clock, rows } = await open(t);
        clock.now = Date.parse('2026-11-23T09:00:00Z');
        const { account, totpSecret } = await store.createLocal({
          username: 'C.Bakker',
          name: 'Dr. C. Bakker',
          role: 'radiologist',
          uziRoleCode: '01.015',
          password: PASSWORD,
        });
        assert.deepEqual(
          { ...account, id: 'x' },
          {
            id: 'x',
            username: 'c.bakker',
            name: 'Dr. C. Bakker',
            role: 'radiologist',
            uziRoleCode: '01.015',
            source: 'local',
          },
        );
        const code = totpCode(totpSecret, totpStep(new Date(clock.now)));
        const r = await store.signIn({ username: 'c.bakker', password: PASSWORD, code });
        assert.ok(r.ok);
        assert.equal(r.session.twoFactor, true);
        assert.equal((await store.session(r.token))?.account.username, 'c.bakker');
        const [stored] = await rows('SELECT password_hash, totp_secret FROM account');
        assert.match(String(stored?.['password_hash']), /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
        assert.ok(!String(stored?.['totp_secret']).includes(totpSecret), 'the TOTP secret is stored sealed');
        const dump = JSON.stringify(await rows('SELECT * FROM session'));
        assert.ok(!dump.includes(r.token), 'only a hash of the session token is stored');
        const again = await store.signIn({ username: 'c.bakker', password: PASSWORD, code });
        assert.deepEqual(
          again.ok ? 'signed in' : again.reason,
          'wrong-code',
          'the same TOTP code does not sign in twice',
        );
      },
    ],
    [
      'sessions expire when idle and at their maximum age; ending one signs out',
      async (t, open) => {
        const { store, clock } = await open(t);
        clock.now = Date.parse('2026-11-23T09:00:00Z');
        const { totpSecret } = await store.createLocal({
          username: 'staff1',
          name: 'S. Jansen',
          role: 'staff',
          password: PASSWORD,
        });
        const signIn = async (): Promise<string> => {
          const r = await store.signIn({
            username: 'staff1',
            password: PASSWORD,
            code: totpCode(totpSecret, totpStep(new Date(clock.now))),
          });
          assert.ok(r.ok);
          return r.token;
        };
        const idle = await signIn();
        clock.now += 29 * 60_000;
        assert.ok(await store.session(idle), 'used within the idle time');
        clock.now += 31 * 60_000;
        assert.equal(await store.session(idle), undefined, 'idle for 31 minutes: expired');
        const long = await signIn();
        for (let h = 0; h < 12 * 4; h++) {
          clock.now += 15 * 60_000;
          if (h < 12 * 4 - 1) assert.ok(await store.session(long), `in use, ${(h + 1) * 15} minutes`);
        }
        assert.equal(await store.session(long), undefined, 'twelve hours after sign-in, even when in use');
        clock.now += 60_000;
        const out = await signIn();
        await store.endSession(out);
        assert.equal(await store.session(out), undefined);
        assert.equal(await store.session('x'.repeat(43)), undefined, 'a made-up token');
      },
    ],
    [
      'five failures lock the account for fifteen minutes, even for the right credentials; unknown users look the same',
      async (t, open) => {
        const { store, clock } = await open(t);
        clock.now = Date.parse('2026-11-23T09:00:00Z');
        const { totpSecret } = await store.createLocal({
          username: 'admin',
          name: 'Beheerder',
          role: 'admin',
          password: PASSWORD,
        });
        const code = (): string => totpCode(totpSecret, totpStep(new Date(clock.now)));
        const reasons: string[] = [];
        for (let i = 0; i < 5; i++) {
          const r = await store.signIn({
            username: 'admin',
            password: i % 2 === 0 ? 'wrong password!' : PASSWORD,
            code: i % 2 === 0 ? code() : '000000',
          });
          reasons.push(r.ok ? 'ok' : r.reason);
        }
        assert.deepEqual(reasons.filter((r) => r !== 'ok').length, 5);
        const locked = await store.signIn({ username: 'admin', password: PASSWORD, code: code() });
        assert.equal(locked.ok ? 'ok' : locked.reason, 'locked');
        clock.now += 16 * 60_000;
        const after = await store.signIn({ username: 'admin', password: PASSWORD, code: code() });
        assert.equal(after.ok, true, 'the lock ends');
        const unknown = await store.signIn({ username: 'nobody', password: PASSWORD, code: code() });
        assert.equal(unknown.ok ? 'ok' : unknown.reason, 'unknown-user');
      },
    ],
    [
      'at once: five wrong passwords lock the account, one code signs in once, one name and one key are taken once',
      async (t, open) => {
        const { store, clock } = await open(t);
        clock.now = Date.parse('2026-11-23T09:00:00Z');
        const { account, totpSecret } = await store.createLocal({
          username: 'admin',
          name: 'Beheerder',
          role: 'admin',
          password: PASSWORD,
        });
        const code = totpCode(totpSecret, totpStep(new Date(clock.now)));
        // Each failure is counted in the statement that reads the count: none is lost to another checked at the same time.
        const wrong = await Promise.all(
          Array.from({ length: 5 }, () => store.signIn({ username: 'admin', password: 'wrong password!', code })),
        );
        assert.deepEqual(new Set(wrong.map((r) => (r.ok ? 'ok' : r.reason))), new Set(['wrong-password']));
        assert.notEqual((await store.find(account.id))?.lockedUntil, null, 'five at once lock it as five in a row do');
        await store.unlock(account.id);
        const twice = await Promise.all(
          [1, 2].map(() => store.signIn({ username: 'admin', password: PASSWORD, code })),
        );
        assert.deepEqual(twice.map((r) => r.ok).sort(), [false, true], 'a code signs in once');
        const base = { name: 'Partner', role: 'partner' as const, organization: 'Zuid', password: PASSWORD };
        const added = await Promise.allSettled([1, 2].map(() => store.createLocal({ ...base, username: 'zuid' })));
        assert.deepEqual(added.map((r) => r.status).sort(), ['fulfilled', 'rejected'], 'a user name is taken once');
        const partner = (await store.list()).find((a) => a.username === 'zuid')!;
        const line = `ssh-ed25519 ${sshEd25519Blob().toString('base64')} laptop`;
        const keys = await Promise.allSettled([1, 2].map(() => store.addSshKey(partner.id, line)));
        assert.deepEqual(keys.map((r) => r.status).sort(), ['fulfilled', 'rejected'], 'a key is registered once');
        const second = await store.createLocal({
          username: 'beheer',
          name: 'Beheer',
          role: 'admin',
          password: PASSWORD,
        });
        const disabled = await Promise.allSettled(
          [account.id, second.account.id].map((id) => store.setDisabled(id, true)),
        );
        assert.deepEqual(
          disabled.map((r) => r.status).sort(),
          ['fulfilled', 'rejected'],
          'two admins disabled at once leave one enabled',
        );
      },
    ],
    [
      'accounts are validated: user name, role, UZI role code, weak passwords, taken names',
      async (t, open) => {
        const { store, clock } = await open(t);
        clock.now = Date.now();
        const base = { username: 'auditor1', name: 'A. de Vries', role: 'auditor' as const, password: PASSWORD };
        await assert.rejects(store.createLocal({ ...base, username: 'a b' }), /user name/);
        await assert.rejects(store.createLocal({ ...base, role: 'root' as never }), /role is one of/);
        await assert.rejects(store.createLocal({ ...base, uziRoleCode: '15' }), /UZI role code/);
        await assert.rejects(store.createLocal({ ...base, password: 'short' }), /at least 12/);
        await assert.rejects(store.createLocal({ ...base, password: 'auditor1-is-me!' }), /user name/);
        await store.createLocal(base);
        await assert.rejects(store.createLocal({ ...base, username: 'Auditor1' }), /taken/);
        assert.equal(await store.count('auditor'), 1);
        assert.equal(await store.count('admin'), 0);
      },
    ],
    [
      'sweeping removes expired sessions and keeps live ones',
      async (t, open) => {
        const { store, clock } = await open(t);
        clock.now = Date.parse('2026-11-23T09:00:00Z');
        const { totpSecret } = await store.createLocal({
          username: 'staff2',
          name: 'S. de Boer',
          role: 'staff',
          password: PASSWORD,
        });
        const old = await store.signIn({
          username: 'staff2',
          password: PASSWORD,
          code: totpCode(totpSecret, totpStep(new Date(clock.now))),
        });
        clock.now += 40 * 60_000;
        const fresh = await store.signIn({
          username: 'staff2',
          password: PASSWORD,
          code: totpCode(totpSecret, totpStep(new Date(clock.now))),
        });
        assert.ok(old.ok && fresh.ok);
        assert.equal(await store.sweep(), 1, 'the session idle for 40 minutes goes');
        assert.ok(await store.session(fresh.token));
      },
    ],
    [
      'an admin disables, enables, unlocks and gives a new second factor; the last enabled admin stays',
      async (t, open) => {
        const { store, clock } = await open(t);
        clock.now = Date.parse('2026-12-05T09:00:00Z');
        const admin = await store.createLocal({
          username: 'beheer',
          name: 'B. Beheer',
          role: 'admin',
          password: PASSWORD,
        });
        const { account, totpSecret } = await store.createLocal({
          username: 'c.bakker',
          name: 'Dr. C. Bakker',
          role: 'radiologist',
          password: PASSWORD,
        });
        const code = (secret: string) => totpCode(secret, totpStep(new Date(clock.now)));
        const signIn = (secret: string) =>
          store.signIn({ username: 'c.bakker', password: PASSWORD, code: code(secret) });

        const first = await signIn(totpSecret);
        assert.ok(first.ok);
        assert.equal((await store.setDisabled(account.id, true)).disabled, true);
        assert.equal(await store.session(first.token), undefined, 'disabling ends every session');
        clock.now += 30_000;
        assert.deepEqual(await signIn(totpSecret), { ok: false, reason: 'disabled', account });
        assert.equal((await store.setDisabled(account.id, false)).disabled, false);
        clock.now += 30_000;
        assert.equal((await signIn(totpSecret)).ok, true, 'enabled again, the same factors sign in');

        for (let i = 0; i < 5; i++) await store.signIn({ username: 'c.bakker', password: 'wrong', code: '000000' });
        assert.ok((await store.find(account.id))?.lockedUntil !== null, 'locked after five failures');
        clock.now += 30_000;
        assert.equal((await signIn(totpSecret)).ok, false);
        assert.equal((await store.unlock(account.id)).lockedUntil, null);
        clock.now += 30_000;
        assert.equal((await signIn(totpSecret)).ok, true, 'unlocked at once, not after fifteen minutes');

        const live = await (async () => {
          clock.now += 30_000;
          const r = await signIn(totpSecret);
          assert.ok(r.ok);
          return r.token;
        })();
        const reset = await store.resetSecondFactor(account.id);
        assert.notEqual(reset.totpSecret, totpSecret);
        assert.equal(await store.session(live), undefined, 'a new second factor ends the sessions of the old one');
        clock.now += 30_000;
        assert.equal((await signIn(totpSecret)).ok, false, 'the lost authenticator no longer works');
        assert.equal((await signIn(reset.totpSecret)).ok, true);

        await assert.rejects(() => store.setDisabled(admin.account.id, true), /last enabled admin/);
        await assert.rejects(() => store.unlock('no-such-id'), { code: 'ACCOUNT_NOT_FOUND' });
        assert.deepEqual(
          (await store.list()).map((a) => [a.username, a.role, a.disabled]),
          [
            ['beheer', 'admin', false],
            ['c.bakker', 'radiologist', false],
          ],
        );
        assert.ok(!JSON.stringify(await store.list()).includes(reset.totpSecret), 'the list shows no secret');
      },
    ],
    [
      'a partner account names its organization; its password expires after 90 days and is changed with both factors',
      async (t, open) => {
        const { store, clock } = await open(t);
        clock.now = Date.parse('2026-01-05T09:00:00Z');
        await assert.rejects(
          store.createLocal({ username: 'kliniek', name: 'Kliniek Noord', role: 'partner', password: PASSWORD }),
          /names the partner's organization/,
        );
        await assert.rejects(
          store.createLocal({
            username: 'jan',
            name: 'Jan',
            role: 'staff',
            organization: 'Elders',
            password: PASSWORD,
          }),
          /only a partner account names an organization/,
        );
        const { account, totpSecret } = await store.createLocal({
          username: 'kliniek',
          name: 'Servicedesk',
          role: 'partner',
          organization: 'Kliniek Noord',
          password: PASSWORD,
        });
        assert.equal(account.organization, 'Kliniek Noord');
        const code = (): string => totpCode(totpSecret, totpStep(new Date(clock.now)));

        const fresh = await store.signIn({ username: 'kliniek', password: PASSWORD, code: code() });
        assert.ok(fresh.ok);
        assert.equal(fresh.session.passwordExpiresAt, '2026-04-05T09:00:00.000Z', 'a warning can count down to this');
        assert.deepEqual(await store.checkPassword('kliniek', PASSWORD), { ok: true, account });

        clock.now = Date.parse('2026-04-05T09:00:30Z');
        const expired = await store.signIn({ username: 'kliniek', password: PASSWORD, code: code() });
        assert.equal(expired.ok ? 'signed in' : expired.reason, 'password-expired');
        assert.equal(
          (await store.checkPassword('kliniek', PASSWORD)).ok,
          false,
          'SFTP with an expired password is refused',
        );
        const wrongCode = await store.signIn({
          username: 'kliniek',
          password: PASSWORD,
          code: '000000',
          newPassword: 'x',
        });
        assert.equal(
          wrongCode.ok ? 'signed in' : wrongCode.reason,
          'wrong-code',
          'the expiry is told only with both factors',
        );
        await assert.rejects(
          store.signIn({ username: 'kliniek', password: PASSWORD, code: code(), newPassword: PASSWORD }),
          /not the current one/,
        );
        // The same code as the refused attempt: it was not used up.
        const renewed = await store.signIn({
          username: 'kliniek',
          password: PASSWORD,
          code: code(),
          newPassword: 'a new partner passphrase',
        });
        assert.ok(renewed.ok);
        assert.equal(renewed.session.passwordExpiresAt, '2026-07-04T09:00:30.000Z');
        assert.equal((await store.checkPassword('kliniek', 'a new partner passphrase')).ok, true);

        // A staff password does not expire.
        await store.createLocal({ username: 'sec', name: 'Secretariaat', role: 'staff', password: PASSWORD });
        clock.now = Date.parse('2027-06-01T09:00:00Z');
        assert.equal((await store.checkPassword('sec', PASSWORD)).ok, true);
        assert.equal((await store.list()).find((a) => a.username === 'sec')?.passwordExpiresAt, null);
      },
    ],
    [
      'a signed-in person changes their password with the current one; the other sessions end',
      async (t, open) => {
        const { store, clock } = await open(t);
        clock.now = Date.parse('2026-03-01T09:00:00Z');
        const { account, totpSecret } = await store.createLocal({
          username: 'kliniek',
          name: 'Servicedesk',
          role: 'partner',
          organization: 'Kliniek Noord',
          password: PASSWORD,
        });
        const signIn = async (password: string): Promise<string> => {
          clock.now += 30_000;
          const r = await store.signIn({
            username: 'kliniek',
            password,
            code: totpCode(totpSecret, totpStep(new Date(clock.now))),
          });
          assert.ok(r.ok);
          return r.token;
        };
        const here = await signIn(PASSWORD);
        const elsewhere = await signIn(PASSWORD);
        await assert.rejects(store.changePassword(account.id, 'not it', 'another good passphrase', here), /not right/);
        await assert.rejects(store.changePassword(account.id, PASSWORD, 'short', here), /at least 12/);
        await store.changePassword(account.id, PASSWORD, 'another good passphrase', here);
        assert.ok((await store.session(here)) !== undefined);
        assert.equal(await store.session(elsewhere), undefined);
        assert.equal((await store.checkPassword('kliniek', PASSWORD)).ok, false);
      },
    ],
    [
      "a partner's SSH key is checked and signs in only its own account",
      async (t, open) => {
        const { store, clock } = await open(t);
        clock.now = Date.parse('2026-03-01T09:00:00Z');
        const partner = (username: string, organization: string) =>
          store.createLocal({ username, name: organization, role: 'partner', organization, password: PASSWORD });
        const { account: noord } = await partner('noord', 'Kliniek Noord');
        await partner('zuid', 'Kliniek Zuid');
        const { account: staff } = await store.createLocal({
          username: 'sec',
          name: 'S',
          role: 'staff',
          password: PASSWORD,
        });
        const blob = sshEd25519Blob();
        const line = `ssh-ed25519 ${blob.toString('base64')} beheer@noord`;
        await assert.rejects(() => store.addSshKey(staff.id, line), /only partner accounts/);
        await assert.rejects(() => store.addSshKey(noord.id, 'ssh-dss AAAA'), /the type is one of/);
        await assert.rejects(
          () => store.addSshKey(noord.id, `ssh-rsa ${blob.toString('base64')}`),
          /says it is ssh-ed25519/,
        );
        await assert.rejects(
          () => store.addSshKey(noord.id, `ssh-ed25519 ${blob.subarray(0, 20).toString('base64')}`),
          /cut short/,
        );
        const key = await store.addSshKey(noord.id, line);
        assert.match(key.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
        assert.equal(key.comment, 'beheer@noord');
        assert.deepEqual(await store.sshKeysOf(noord.id), [key]);
        await assert.rejects(() => store.addSshKey(noord.id, line), /registered already/);
        assert.equal((await store.accountForSshKey('noord', 'ssh-ed25519', blob))?.id, noord.id);
        assert.equal(
          await store.accountForSshKey('zuid', 'ssh-ed25519', blob),
          undefined,
          "another partner's name with this key",
        );
        await store.setDisabled(noord.id, true);
        assert.equal(await store.accountForSshKey('noord', 'ssh-ed25519', blob), undefined, 'a disabled account');
        await store.removeSshKey(noord.id, key.fingerprint);
        assert.deepEqual(await store.sshKeysOf(noord.id), []);
      },
    ],
  ],
);

/** The database file and its write-ahead log as bytes: what a copy of the data folder gives away. */
function rawBytes(path: string): Buffer {
  return Buffer.concat(
    [path, `${path}-wal`].flatMap((p) => {
      try {
        return [readFileSync(p)];
      } catch {
        return [];
      }
    }),
  );
}

const holds = (raw: Buffer, secret: string): boolean =>
  raw.includes(Buffer.from(secret)) || raw.includes(base32Decode(secret));

test('TOTP secrets are sealed at rest: the database file holds neither the secret nor its bytes', async (t) => {
  const clock = { now: Date.parse('2026-11-23T09:00:00Z') };
  const { store, path } = await storeAt(t, clock);
  const { totpSecret } = await store.createLocal({
    username: 'c.bakker',
    name: 'Dr. C. Bakker',
    role: 'radiologist',
    password: PASSWORD,
  });
  assert.ok(!holds(rawBytes(path), totpSecret), 'with the store open');
  await store.close();
  assert.ok(!holds(rawBytes(path), totpSecret), 'after close');
  const other = await AccountStore.openFile(path, policy, () => new Date(clock.now));
  t.after(() => other.close());
  const r = await other.signIn({
    username: 'c.bakker',
    password: PASSWORD,
    code: totpCode(totpSecret, totpStep(new Date(clock.now))),
  });
  assert.ok(r.ok, 'the sealed secret opens with the same key');
  await assert.rejects(
    () => AccountStore.openFile(path, { ...policy, totpKey: randomBytes(32) }),
    /does not open with this key/,
    'another key is refused at open, not at every sign-in',
  );
});
test('plain-text TOTP secrets of an older version are sealed on first open and still sign in', async (t) => {
  const clock = { now: Date.parse('2026-11-23T09:00:00Z') };
  const { store, path } = await storeAt(t, clock);
  await store.createLocal({ username: 'c.bakker', name: 'Dr. C. Bakker', role: 'radiologist', password: PASSWORD });
  await store.close();
  // As the previous version stored it: the base32 secret itself.
  const secret = newTotpSecret();
  const old = new DatabaseSync(path);
  old.prepare('UPDATE account SET totp_secret = ?').run(secret);
  old.close();
  assert.ok(holds(rawBytes(path), secret), 'the old database holds the secret in plain text');
  const opened = await AccountStore.openFile(path, policy, () => new Date(clock.now));
  t.after(() => opened.close());
  assert.ok(!holds(rawBytes(path), secret), 'sealed, and no copy left in free pages or the write-ahead log');
  const r = await opened.signIn({
    username: 'c.bakker',
    password: PASSWORD,
    code: totpCode(secret, totpStep(new Date(clock.now))),
  });
  assert.ok(r.ok, 'the migrated secret signs in');
});
