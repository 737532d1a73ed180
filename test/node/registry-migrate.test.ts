// An embedded registry moved to PostgreSQL: switched over before its records are moved it refuses to start; `beeldbrug
// registry migrate` copies localizations and consents (their ids, rows and histories) and verifies the copy; then it
// answers as before and records on.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { loadRegistryConfig } from '../../src/config/index.ts';
import { BeeldbrugError } from '../../src/errors/index.ts';
import { openRegistryStore, SqliteRegistryStore, type NewConsent } from '../../src/registry/index.ts';
import type { ChangedBy } from '../../src/registry/types.ts';
import { beeldbrug } from '../support/pki-cli.ts';
import { startPostgres } from '../support/postgres.ts';
import { registryHome } from '../support/registry-process.ts';

const PATIENTS = 2500;
const pseudonym = (n: number): Buffer => {
  const p = Buffer.alloc(32, 0);
  p.writeUInt32BE(n, 0);
  return p;
};
const consent = (n: number, decision: 'permit' | 'deny'): NewConsent => ({
  pseudonym: pseudonym(n),
  decision,
  category: 'imaging',
  actor: { role: 'holder', organization: { ura: '10000002' } },
  period: { start: 1000 },
  recordedAt: 2000,
  recordedBy: { ura: '10000002', id: 'balie-1', name: 'Balie', subject: 'CN=epd.midden.test' },
  channel: 'care-provider',
});
const portal: ChangedBy = {
  ura: '10000050',
  subject: 'CN=portaal.test',
  channel: 'patient-portal',
  performer: { id: 'digid', name: 'de patiënt' },
};

test('an embedded registry moves to PostgreSQL with beeldbrug registry migrate; consents keep their ids and histories', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const settings = await server.database('moved_registry');
  const { configFile } = registryHome(t);
  const dataDir = loadRegistryConfig(configFile).dataDir;

  const embedded = new SqliteRegistryStore(join(dataDir, 'registry.sqlite'));
  const everyone = Array.from({ length: PATIENTS }, (_, n) => n);
  await embedded.load(
    {
      locations: everyone.flatMap((n) => [
        { pseudonym: pseudonym(n), ura: '10000002', category: 'imaging' as const },
        ...(n % 2 === 0 ? [{ pseudonym: pseudonym(n), ura: '10000003', category: 'imaging' as const }] : []),
      ]),
      consents: everyone.filter((n) => n % 10 === 0).map((n) => consent(n, 'permit')),
    },
    100,
  );
  const changed = await embedded.addConsent(consent(7, 'deny'));
  await embedded.changeConsent(
    changed.id,
    { decision: 'permit', category: 'imaging', actor: changed.actor, period: { start: 1500 } },
    portal,
    3000,
  );
  await embedded.revokeConsent(changed.id, 4000, portal);
  const before = {
    consent: await embedded.consent(changed.id),
    history: await embedded.consentHistory(changed.id),
    facts: await Promise.all([0, 7, 2499].map((n) => embedded.forLocalization(pseudonym(n)))),
  };
  await embedded.close();

  const raw = parseYaml(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  raw['database'] = { kind: 'postgresql', ...settings };
  writeFileSync(configFile, stringifyYaml(raw));
  await assert.rejects(
    openRegistryStore(loadRegistryConfig(configFile)),
    (err: unknown) =>
      err instanceof BeeldbrugError &&
      err.code === 'DATA_NOT_MIGRATED' &&
      /the registry in \S+registry\.sqlite \(3750 rows of locations\) is not in the database: stop the registry and run `beeldbrug registry migrate/.test(
        err.message,
      ),
  );

  const out = beeldbrug(['registry', 'migrate', '--config', configFile]);
  assert.match(out, /registry\.sqlite \(locations\): 3750 rows copied; verified: 3750 rows, digest [0-9a-f]{64}/);
  assert.match(out, /registry\.sqlite \(consents\): 251 rows copied; verified: 251 rows/);
  assert.match(out, /registry\.sqlite \(consent_changes\): 3 rows copied; verified: 3 rows/);
  assert.match(out, /start the registry with this configuration; keep \S+registry\.sqlite with the registry's backups/);
  const again = beeldbrug(['registry', 'migrate', '--config', configFile]);
  assert.match(again, /\(locations\): 0 rows copied \(3750 were there from an earlier run\)/, 'a second run resumes');

  const moved = await openRegistryStore(loadRegistryConfig(configFile));
  t.after(() => moved.close());
  assert.deepEqual(await moved.consent(changed.id), before.consent, 'the consent by the id clients know');
  assert.deepEqual(await moved.consentHistory(changed.id), before.history, 'who created, changed and revoked it');
  assert.deepEqual(
    await Promise.all([0, 7, 2499].map((n) => moved.forLocalization(pseudonym(n)))),
    before.facts,
    'the same answers',
  );
  const next = await moved.addConsent(consent(8, 'permit'));
  assert.ok(next.row > changed.row, 'a consent recorded on the server is numbered after the copied ones');
  assert.deepEqual(
    (await moved.consentsOf(pseudonym(8))).map((c) => c.id),
    [next.id],
  );
});
