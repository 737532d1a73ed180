// The share store's rules where they run: the embedded file and PostgreSQL, the same cases on each.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { onBothDatabases } from '../../test/support/postgres.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { openPostgresPool } from '../database/index.ts';
import { openPostgresShareStore, openSqliteShareStore, type Share, type ShareStore } from './share-store.ts';

const STAFF = { id: 'acc-1', name: 'S. Jansen' };

function share(id: string, o: Partial<Share> = {}): Share {
  return {
    shareId: id,
    studies: [
      { studyInstanceUid: `1.2.3.${id.length}`, studyDate: '20261201', description: 'CT thorax', modalities: ['CT'] },
    ],
    recipient: { name: 'J. de Vries', email: 'j@example.nl', mobile: '+31612345678', isPatient: true },
    patient: { bsn: '999990019' },
    patientName: 'Vries^J^de',
    createdBy: STAFF,
    createdAt: '2026-12-01T09:00:00.000Z',
    expiresAt: '2026-12-08T09:00:00.000Z',
    maxOpens: 10,
    opens: 0,
    downloads: 0,
    wrongCodes: 0,
    lockedAt: null,
    revokedAt: null,
    revokedBy: null,
    deidentify: null,
    upload: false,
    ...o,
  };
}

onBothDatabases<ShareStore>(
  'the share store',
  {
    sqlite: (dir) => openSqliteShareStore(join(dir, 'share.sqlite')),
    postgres: async (settings) => openPostgresShareStore(openPostgresPool(settings), { ownsPool: true }),
  },
  [
    [
      'a share is kept as made, found by id and by its token hash, listed newest first, and a partner finds its own',
      async (t, open) => {
        const store = await open(t);
        const first = share('s-1', {
          deidentify: { retainLongitudinalDates: true, retainDeviceIdentity: false, cleanDescriptors: true },
          upload: true,
        });
        const partner = share('s-2', {
          createdAt: '2026-12-02T09:00:00.000Z',
          recipient: {
            name: 'Kliniek Noord',
            email: '',
            mobile: '',
            partner: { accountId: 'partner-noord', organization: 'Kliniek Noord' },
          },
        });
        await store.insert(first, 'hash-1');
        await store.insert(partner, 'hash-2');
        await assert.rejects(store.insert(share('s-3'), 'hash-1'), 'a token hash belongs to one share');
        assert.deepEqual(await store.get('s-1'), first);
        assert.deepEqual(await store.byTokenHash('hash-2'), partner);
        assert.equal(await store.byTokenHash('hash-9'), undefined);
        assert.deepEqual(
          (await store.list()).map((s) => s.shareId),
          ['s-2', 's-1'],
        );
        assert.deepEqual(
          (await store.list({ limit: 1 })).map((s) => s.shareId),
          ['s-2'],
        );
        assert.deepEqual(
          (await store.ofPartner('partner-noord')).map((s) => s.shareId),
          ['s-2'],
        );
        assert.deepEqual(await store.ofPartner('partner-zuid'), []);
        await store.remove('s-2');
        assert.equal(await store.get('s-2'), undefined);
      },
    ],
    [
      'wrong codes given at once all count and lock the share at the limit; the right code opens a session; revoking ends it',
      async (t, open) => {
        const store = await open(t);
        await store.insert(share('s-1'), 'hash-1');
        await store.insert(share('s-2'), 'hash-2');
        const code = { codeHash: 'code-hash', expiresAt: '2026-12-01T09:10:00.000Z' };
        await store.setCode('s-1', code);
        assert.deepEqual(await store.codeOf('s-1'), code);
        const counts = await Promise.all(
          [1, 2, 3, 4, 5].map(() => store.wrongCode('s-1', 5, '2026-12-01T09:01:00.000Z')),
        );
        assert.deepEqual(
          counts.sort((a, b) => a - b),
          [1, 2, 3, 4, 5],
          'none lost to another',
        );
        const locked = await store.get('s-1');
        assert.equal(locked?.lockedAt, '2026-12-01T09:01:00.000Z');
        assert.equal(await store.codeOf('s-1'), undefined, 'the code goes with the lock');

        await store.setCode('s-2', code);
        assert.equal(await store.wrongCode('s-2', 5, '2026-12-01T09:02:00.000Z'), 1);
        await store.opened('s-2', { tokenHash: 'session-1', expiresAt: '2026-12-01T10:00:00.000Z' });
        const opened = await store.get('s-2');
        assert.deepEqual([opened?.opens, opened?.wrongCodes], [1, 0]);
        assert.equal(await store.codeOf('s-2'), undefined, 'a code opens once');
        assert.deepEqual(await store.session('session-1'), {
          shareId: 's-2',
          expiresAt: '2026-12-01T10:00:00.000Z',
        });
        await store.downloaded('s-2');
        await store.downloaded('s-2');
        assert.equal((await store.get('s-2'))?.downloads, 2);
        await store.revoke('s-2', STAFF, '2026-12-01T11:00:00.000Z');
        await store.revoke('s-2', { id: 'acc-2', name: 'Other' }, '2026-12-01T12:00:00.000Z');
        const revoked = await store.get('s-2');
        assert.deepEqual(
          [revoked?.revokedAt, revoked?.revokedBy],
          ['2026-12-01T11:00:00.000Z', STAFF],
          'the first stays',
        );
        assert.equal(await store.session('session-1'), undefined, 'revoking ends the sessions');
      },
    ],
    [
      'retention finds the shares that ended before the cutoff, and keeps those that have not',
      async (t, open) => {
        const store = await open(t);
        await store.insert(share('expired', { expiresAt: '2026-11-20T09:00:00.000Z' }), 'h1');
        await store.insert(share('live', { expiresAt: '2026-12-20T09:00:00.000Z' }), 'h2');
        await store.insert(share('revoked', { expiresAt: '2026-12-20T09:00:00.000Z' }), 'h3');
        await store.revoke('revoked', STAFF, '2026-11-21T09:00:00.000Z');
        await store.opened('expired', { tokenHash: 'session-x', expiresAt: '2026-11-20T10:00:00.000Z' });
        assert.deepEqual((await store.endedBefore('2026-11-25T00:00:00.000Z')).map((s) => s.shareId).sort(), [
          'expired',
          'revoked',
        ]);
        assert.deepEqual(
          (await store.notEndedAt('2026-12-01T00:00:00.000Z')).map((s) => s.shareId),
          ['live'],
        );
        await store.remove('expired');
        assert.equal(await store.session('session-x'), undefined, "a removed share's sessions go with it");
      },
    ],
  ],
);

test("an embedded share file from before de-identification, uploads and the partner's column opens, and a partner finds its shares", async (t) => {
  const path = join(tempDir(t), 'share.sqlite');
  const old = new DatabaseSync(path);
  old.exec(`CREATE TABLE share (share_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, studies_json TEXT NOT NULL,
    recipient_json TEXT NOT NULL, patient_json TEXT NOT NULL, patient_name TEXT, created_by_json TEXT NOT NULL,
    created_at TEXT NOT NULL, expires_at TEXT NOT NULL, max_opens INTEGER NOT NULL, opens INTEGER NOT NULL DEFAULT 0,
    downloads INTEGER NOT NULL DEFAULT 0, wrong_codes INTEGER NOT NULL DEFAULT 0, locked_at TEXT, revoked_at TEXT,
    revoked_by_json TEXT, code_hash TEXT, code_expires_at TEXT)`);
  const partner = {
    name: 'Kliniek Noord',
    email: '',
    mobile: '',
    partner: { accountId: 'noord', organization: 'Noord' },
  };
  const s = share('s-old', { recipient: partner });
  old
    .prepare(
      `INSERT INTO share (share_id, token_hash, studies_json, recipient_json, patient_json, patient_name, created_by_json,
         created_at, expires_at, max_opens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      s.shareId,
      'h',
      JSON.stringify(s.studies),
      JSON.stringify(partner),
      JSON.stringify(s.patient),
      s.patientName,
      JSON.stringify(s.createdBy),
      s.createdAt,
      s.expiresAt,
      s.maxOpens,
    );
  old.close();
  const store = openSqliteShareStore(path);
  t.after(() => store.close());
  assert.deepEqual(await store.ofPartner('noord'), [s], 'shared as it was, without uploads, found by its partner');
});
