// Moving an embedded audit trail to PostgreSQL: row for row (every hash, the prune anchor and the head stay valid),
// resumable after an interruption, and never into a database that holds another trail.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { startPostgres } from '../../test/support/postgres.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { openPostgresPool, type PostgresSettings } from '../database/index.ts';
import { sampleEvent as event } from './audit-test-support.ts';
import { migrateAuditTrail } from './migrate-audit-trail.ts';
import { openPostgresAuditTable, openPostgresAuditTrail, openSqliteAuditTrail } from './open-audit-trail.ts';

const key = randomBytes(32);

/** An embedded trail of `count` records a minute apart, written in batches (one durable write each). */
async function embeddedTrail(t: TestContext, count: number, pruneBefore?: string, from = 1): Promise<string> {
  const path = join(tempDir(t), 'audit.sqlite');
  let clock = Date.parse('2020-01-01T00:00:00.000Z');
  const trail = await openSqliteAuditTrail(path, { key, now: () => new Date((clock += 60_000)) });
  for (let n = 1; n <= count; n += 500)
    await trail.recordAll(Array.from({ length: Math.min(500, count - n + 1) }, (_, i) => event(from + n - 1 + i)));
  if (pruneBefore !== undefined) await trail.prune(new Date(pruneBefore), 'audit retention 5 years');
  await trail.close();
  return path;
}

async function target(t: TestContext, s: PostgresSettings) {
  const table = await openPostgresAuditTable(openPostgresPool(s));
  t.after(() => table.close());
  return table;
}

test('an embedded trail moves to PostgreSQL row for row; an interrupted run goes on where it stopped', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const s = await server.database('migrate_resume');
  const path = await embeddedTrail(t, 2500, '2020-01-01T10:00:30.000Z');
  const source = await openSqliteAuditTrail(path, { key });
  const records = await source.list({ limit: 100_000 });
  const newest = await source.newest();
  await source.close();
  assert.equal(records[0]?.sequence, 601, 'retention pruned the first 600 before the move');

  const interrupted = await target(t, s);
  await assert.rejects(
    migrateAuditTrail(path, interrupted, key, (copied) => {
      if (copied >= 1000) throw new Error('power cut');
    }),
    /power cut/,
  );
  const again = await target(t, s);
  const report = await migrateAuditTrail(path, again, key);
  assert.equal(report.already, 1000, 'the first batch stayed');
  assert.equal(report.copied, records.length - 1000);
  assert.deepEqual(report.verification, { ok: true, records: records.length });
  assert.deepEqual(report.newest, { ...newest });

  const moved = await openPostgresAuditTrail(openPostgresPool(s), { key, embeddedFile: path });
  t.after(() => moved.close());
  assert.deepEqual(
    (await moved.list({ limit: 100_000 })).map((r) => [r.sequence, r.hash]),
    records.map((r) => [r.sequence, r.hash]),
    'the same records, with the same hashes',
  );
  assert.equal((await moved.record(event(2502))).sequence, 2502, 'the chain goes on where the embedded one ended');
  assert.deepEqual(await moved.verify(), { ok: true, records: records.length + 1 });
  // Run again after the node recorded more on the server: all of the embedded trail is there, nothing is copied.
  const rerun = await migrateAuditTrail(path, await target(t, s), key);
  assert.deepEqual([rerun.copied, rerun.already], [0, records.length]);
});

test('a trail not yet moved keeps the node from opening the database; a database holding another trail is refused', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const s = await server.database('migrate_refuse');
  const ours = await embeddedTrail(t, 5);
  await assert.rejects(
    openPostgresAuditTrail(openPostgresPool(s), { key, embeddedFile: ours }),
    /the audit trail in .*audit\.sqlite \(records up to 5\) is not in the database/,
  );

  // Another node's trail: other events, so other hashes from the first record on.
  const other = await embeddedTrail(t, 3, undefined, 100);
  const table = await target(t, s);
  assert.equal((await migrateAuditTrail(other, table, key)).copied, 3);
  await assert.rejects(
    migrateAuditTrail(ours, table, key),
    /the database already holds another audit trail \(its record 3 is not this node's\); nothing was copied/,
  );
  assert.equal((await table.list({}, 100)).length, 3, 'nothing of ours went in');
});
