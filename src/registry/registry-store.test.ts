import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type TestContext, test } from 'node:test';
import { onBothDatabases, type StoreCase } from '../../test/support/postgres.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { PostgresRegistryStore } from './postgres-registry-store.ts';
import { SqliteRegistryStore } from './sqlite-registry-store.ts';
import type { ChangedBy, NewConsent, RegistryStore } from './types.ts';

const tempFile = (t: TestContext): string => join(tempDir(t), 'registry.sqlite');

const pseudonym = (n: number): Buffer => Buffer.alloc(32, n);
const consent = (p: Buffer, decision: 'permit' | 'deny', ura?: string): NewConsent => ({
  pseudonym: p,
  decision,
  category: 'imaging',
  actor: { role: 'holder', organization: ura !== undefined ? { ura } : { type: 'hospital' } },
  period: { start: 1000 },
  recordedAt: 2000,
  recordedBy: { ura: '10000002', id: 'balie-1', name: 'Balie', subject: 'O=Ziekenhuis Midden, CN=epd.midden.test' },
  channel: 'care-provider',
});
const portal: ChangedBy = {
  ura: '10000050',
  subject: 'CN=portaal.test',
  channel: 'patient-portal',
  performer: { id: 'digid', name: 'de patiënt' },
};

const cases: StoreCase<RegistryStore>[] = [
  [
    'localizations are added once per organization and category, removed by their organization, and answered with the consents',
    async (t, open) => {
      const store = await open(t);
      const entry = (n: number, ura: string) => ({ pseudonym: pseudonym(n), ura, category: 'imaging' as const });
      assert.equal(
        await store.addLocations([entry(1, '10000002'), entry(1, '10000003'), entry(1, '10000002')], 100),
        2,
      );
      assert.equal(await store.addLocations([entry(1, '10000002')], 200), 0, 'known there already');
      assert.equal(await store.removeLocations([entry(1, '10000003'), entry(2, '10000003')]), 1);
      assert.deepEqual(await store.locationsOf(pseudonym(1)), [
        { ura: '10000002', category: 'imaging', registeredAt: 100 },
      ]);
      assert.deepEqual((await store.forLocalization(pseudonym(1))).consents, [], 'known, but no consent');
      const permit = await store.addConsent(consent(pseudonym(1), 'permit'));
      const facts = await store.forLocalization(pseudonym(1));
      assert.deepEqual(facts.locations, [{ ura: '10000002', category: 'imaging', registeredAt: 100 }]);
      assert.deepEqual(
        facts.consents.map((c) => c.row),
        [permit.row],
      );
      assert.deepEqual(await store.forLocalization(pseudonym(9)), { consents: [], locations: [] });
      // Every term as consentTermsOf reads it: an organization as actor, an end, a revocation.
      const deny = await store.addConsent({
        ...consent(pseudonym(1), 'deny', '10000003'),
        period: { start: 10, end: 90 },
      });
      await store.revokeConsent(permit.id, 3000, portal);
      const terms = (await store.forLocalization(pseudonym(1))).consents;
      assert.deepEqual(terms, await store.consentTermsOf(pseudonym(1)));
      assert.deepEqual(
        terms.map((c) => [c.row, c.decision, c.actor.organization, c.period.end, c.revokedAt]),
        [
          [permit.row, 'permit', { type: 'hospital' }, undefined, 3000],
          [deny.row, 'deny', { ura: '10000003' }, 90, undefined],
        ],
      );
    },
  ],
  [
    "many questions at once each get their own patient's consents and localizations",
    async (t, open) => {
      const store = await open(t);
      const patients = Array.from({ length: 60 }, (_, n) => n + 10);
      for (const n of patients) {
        const known = Array.from({ length: (n % 3) + 1 }, (_, k) => ({
          pseudonym: pseudonym(n),
          ura: String(10000000 + k),
          category: 'imaging' as const,
        }));
        await store.addLocations(known, n);
        for (let k = 0; k < n % 4; k += 1)
          await store.addConsent(consent(pseudonym(n), k % 2 === 0 ? 'permit' : 'deny'));
      }
      // Three rounds of all at once: on PostgreSQL most share a statement with others.
      for (let round = 0; round < 3; round += 1) {
        const answers = await Promise.all(patients.map((n) => store.forLocalization(pseudonym(n))));
        answers.forEach((a, i) => {
          const n = patients[i]!;
          assert.deepEqual(
            a.consents.map((c) => c.decision),
            Array.from({ length: n % 4 }, (_, k) => (k % 2 === 0 ? 'permit' : 'deny')),
            `patient ${n}: its consents, oldest first`,
          );
          // Without a consent no one may release, and a store need not read where the patient is known.
          if (n % 4 !== 0)
            assert.deepEqual(
              a.locations.map((l) => [l.ura, l.registeredAt]).sort(),
              Array.from({ length: (n % 3) + 1 }, (_, k) => [String(10000000 + k), n]),
              `patient ${n}: where it is known`,
            );
        });
      }
    },
  ],
  [
    'changes to one consent made at once are all kept, one after another, in its history',
    async (t, open) => {
      const store = await open(t);
      const c = await store.addConsent(consent(pseudonym(3), 'permit'));
      const ends = Array.from({ length: 12 }, (_, k) => 10_000 + k);
      const changed = await Promise.all(
        ends.map((end) =>
          store.changeConsent(
            c.id,
            { decision: 'permit', category: 'imaging', actor: c.actor, period: { start: 1000, end } },
            portal,
            end,
          ),
        ),
      );
      assert.equal(changed.filter((x) => x !== undefined).length, ends.length);
      const history = await store.consentHistory(c.id);
      assert.equal(history.length, ends.length + 1);
      assert.deepEqual(
        history
          .slice(1)
          .map((h) => h.at)
          .sort(),
        ends,
        'every change has its entry',
      );
      const last = history.at(-1)?.terms.period.end;
      assert.equal((await store.consent(c.id))?.period.end, last, 'the last entry holds the terms that stand');
    },
  ],
  [
    'the consent terms a decision reads are the consents minus who recorded them, oldest first',
    async (t, open) => {
      const store = await open(t);
      const p = pseudonym(1);
      await store.addConsent(consent(p, 'permit'));
      await store.addConsent(consent(pseudonym(2), 'permit'));
      const denied = await store.addConsent(consent(p, 'deny', '10000003'));
      await store.revokeConsent(denied.id, 3000, portal);
      const full = await store.consentsOf(p);
      const terms = await store.consentTermsOf(p);
      assert.equal(terms.length, 2);
      assert.deepEqual(
        terms,
        full.map(({ id: _i, pseudonym: _p, recordedAt: _r, recordedBy: _b, channel: _c, ...rest }) => rest),
      );
      assert.equal(terms[1]?.revokedAt, 3000);
      assert.deepEqual(await store.consentTermsOf(pseudonym(9)), []);
    },
  ],
  [
    'a bulk load is idempotent for localizations, adds every consent, and warms the page cache',
    async (t, open) => {
      const store = await open(t);
      const locations = [1, 2, 3].flatMap((n) => [
        { pseudonym: pseudonym(n), ura: '10000002', category: 'imaging' as const },
      ]);
      assert.deepEqual(
        await store.load(
          { locations, consents: [consent(pseudonym(1), 'permit'), consent(pseudonym(2), 'deny', '10000002')] },
          5000,
        ),
        { locations: 3, consents: 2 },
      );
      assert.deepEqual(
        await store.load({ locations, consents: [] }, 6000),
        { locations: 0, consents: 0 },
        'the same localizations again add nothing',
      );
      assert.deepEqual(await store.locationsOf(pseudonym(2)), [
        { ura: '10000002', category: 'imaging', registeredAt: 5000 },
      ]);
      assert.equal((await store.consentTermsOf(pseudonym(2)))[0]?.decision, 'deny');
      assert.deepEqual(
        await store.warm(),
        { locations: 3, consents: 2 },
        'every localization and consent term was read',
      );
    },
  ],
  [
    'consent ids are 128 random bits; a change and a revocation replace the terms once, and the history names who made each',
    async (t, open) => {
      const store = await open(t);
      const ids = new Set<string>();
      for (let n = 0; n < 200; n += 1) ids.add((await store.addConsent(consent(pseudonym(1), 'permit'))).id);
      assert.equal(ids.size, 200);
      for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{22}$/);

      const c = await store.addConsent(consent(pseudonym(2), 'permit', '10000002'));
      const terms = {
        decision: 'deny' as const,
        category: 'imaging' as const,
        actor: { role: 'holder' as const, organization: { ura: '10000002' } },
        period: { start: 1500, end: 9000 },
      };
      const changed = await store.changeConsent(c.id, terms, portal, 2500);
      assert.equal(changed?.decision, 'deny');
      assert.deepEqual(changed?.period, { start: 1500, end: 9000 });
      assert.deepEqual(
        changed?.recordedBy,
        c.recordedBy,
        'a change by the patient does not make the portal the recorder',
      );
      assert.equal((await store.revokeConsent(c.id, 3000, portal))?.revokedAt, 3000);
      assert.equal((await store.revokeConsent(c.id, 4000, portal))?.revokedAt, 3000, 'the first revocation stands');
      assert.equal(
        (await store.changeConsent(c.id, { ...terms, decision: 'permit' }, portal, 5000))?.decision,
        'deny',
        'a revoked consent is not changed',
      );
      assert.equal(await store.changeConsent('AAAAAAAAAAAAAAAAAAAAAA', terms, portal, 5000), undefined);

      const history = await store.consentHistory(c.id);
      assert.deepEqual(
        history.map((h) => [h.change, h.at, h.by.ura, h.by.subject, h.by.channel, h.terms.status, h.terms.decision]),
        [
          ['create', 2000, '10000002', 'O=Ziekenhuis Midden, CN=epd.midden.test', 'care-provider', 'active', 'permit'],
          ['update', 2500, '10000050', 'CN=portaal.test', 'patient-portal', 'active', 'deny'],
          ['revoke', 3000, '10000050', 'CN=portaal.test', 'patient-portal', 'inactive', 'deny'],
        ],
      );
      assert.deepEqual(await store.consentHistory('AAAAAAAAAAAAAAAAAAAAAA'), []);
    },
  ],
];

onBothDatabases(
  'registry store',
  {
    sqlite: (dir) => new SqliteRegistryStore(join(dir, 'registry.sqlite')),
    postgres: (settings) => PostgresRegistryStore.connect(settings),
  },
  cases,
);

test('registry store: an index from an older version is replaced by the covering one, which the hot query uses alone', async (t) => {
  const file = tempFile(t);
  const old = new DatabaseSync(file);
  old.exec(`CREATE TABLE consents (id INTEGER PRIMARY KEY, pseudonym BLOB NOT NULL, status TEXT NOT NULL, decision TEXT NOT NULL,
    category TEXT NOT NULL, actor_role TEXT NOT NULL, actor_ura TEXT, actor_type TEXT, period_start INTEGER NOT NULL, period_end INTEGER,
    recorded_at INTEGER NOT NULL, recorded_by_ura TEXT NOT NULL, recorded_by_id TEXT NOT NULL, recorded_by_name TEXT NOT NULL,
    channel TEXT NOT NULL, revoked_at INTEGER);
    CREATE INDEX consents_pseudonym ON consents (pseudonym);
    INSERT INTO consents VALUES (1, x'${pseudonym(4).toString('hex')}', 'active', 'permit', 'imaging', 'holder', NULL, 'hospital', 0, NULL, 0, '10000002', 'b', 'Balie', 'care-provider', NULL);`);
  old.close();

  const store = new SqliteRegistryStore(file);
  t.after(() => store.close());
  assert.equal(
    (await store.consentTermsOf(pseudonym(4)))[0]?.decision,
    'permit',
    'the consent recorded before the upgrade still counts',
  );
  assert.equal((await store.consent('1'))?.recordedBy.ura, '10000002', 'its old number still names it');
  assert.equal(await store.consentIdOf(1), '1');
  const added = await store.addConsent(consent(pseudonym(4), 'deny'));
  assert.match(added.id, /^[A-Za-z0-9_-]{22}$/, 'a consent recorded after the upgrade gets a random id');
  assert.equal(await store.consent(String(added.row)), undefined, 'and is not found by its row number');
  const check = new DatabaseSync(file, { readOnly: true });
  t.after(() => check.close());
  const indexes = (
    check.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'consents'").all() as {
      name: string;
    }[]
  ).map((r) => r.name);
  assert.deepEqual(indexes.sort(), ['consents_public_id', 'consents_terms']);
  const plan = (
    check
      .prepare(
        'EXPLAIN QUERY PLAN SELECT id, status, decision, category, actor_role, actor_ura, actor_type, period_start, period_end, revoked_at FROM consents INDEXED BY consents_terms WHERE pseudonym = ? ORDER BY id',
      )
      .all(Buffer.alloc(32)) as { detail: string }[]
  ).map((r) => r.detail);
  assert.match(plan.join('\n'), /USING COVERING INDEX consents_terms/);
  assert.doesNotMatch(plan.join('\n'), /TEMP B-TREE/, 'id order comes from the index');
});
