import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { openSqliteAuditTrail } from './open-audit-trail.ts';
import { checkChainAndFilters, sampleEvent } from './audit-test-support.ts';
import type { AuditEvent } from './types.ts';

const key = randomBytes(32);

const event = sampleEvent;

test('records chain, read back in order, filter by patient, user, action and period, and survive a reopen', async (t) => {
  const path = join(tempDir(t), 'audit.sqlite');
  const again = await checkChainAndFilters((o) => openSqliteAuditTrail(path, { key, ...o }));
  t.after(() => again.close());
});

test('several records in one write: chained in order, all or none, our organization filled in', async (t) => {
  const trail = await openSqliteAuditTrail(join(tempDir(t), 'audit.sqlite'), { key, organizationUra: '10000009' });
  t.after(() => trail.close());
  await trail.record(event(1));
  const ours = { ...event(2), user: { id: 'system:ris', name: 'RIS' } };
  assert.deepEqual(
    (await trail.recordAll([ours, event(3), event(4)])).map((r) => r.sequence),
    [2, 3, 4],
  );
  assert.equal((await trail.list())[1]?.user.organizationUra, '10000009', 'a user without an organization is ours');
  assert.equal((await trail.list())[2]?.user.organizationUra, '10000001', 'a named organization stays');
  const broken = { ...event(5), user: undefined } as unknown as AuditEvent;
  await assert.rejects(() => trail.recordAll([event(5), broken]));
  assert.equal((await trail.list()).length, 4, 'a failed batch leaves nothing');
  assert.deepEqual(await trail.recordAll([]), []);
  assert.deepEqual(await trail.verify(), { ok: true, records: 4 });
});

test('the trail refuses updates and deletes through SQLite', async (t) => {
  const path = join(tempDir(t), 'audit.sqlite');
  const trail = await openSqliteAuditTrail(path, { key });
  t.after(() => trail.close());
  await trail.record(event(1));
  const db = new DatabaseSync(path);
  t.after(() => db.close());
  assert.throws(() => db.exec("UPDATE audit_record SET action = 'purge'"), /append-only/);
  assert.throws(() => db.exec('DELETE FROM audit_record'), /append-only/);
});

test('a trail verified with another key fails at its first record', async (t) => {
  const path = join(tempDir(t), 'audit.sqlite');
  const trail = await openSqliteAuditTrail(path, { key });
  await trail.record(event(1));
  await trail.close();
  const other = await openSqliteAuditTrail(path, { key: randomBytes(32) });
  t.after(() => other.close());
  const v = await other.verify();
  assert.equal(v.ok, false);
  if (!v.ok) assert.equal(v.firstBadSequence, 1);
});

test('retention prunes the oldest records only, the chain stays verifiable, and the pruning is itself a record', async (t) => {
  const path = join(tempDir(t), 'audit.sqlite');
  let clock = Date.parse('2020-01-01T00:00:00.000Z');
  const trail = await openSqliteAuditTrail(path, { key, now: () => new Date(clock) });
  t.after(() => trail.close());
  for (let n = 1; n <= 6; n += 1) {
    await trail.record(event(n));
    clock += 365 * 24 * 3600_000;
  }
  const removed = await trail.prune(new Date('2022-06-01T00:00:00.000Z'), 'audit retention 5 years');
  assert.equal(removed, 3, 'records of 2020, 2021 and early 2022 go');
  assert.deepEqual(
    (await trail.list()).map((r) => r.sequence),
    [4, 5, 6, 7],
  );
  assert.equal((await trail.list({ action: 'purge' }))[0]?.description.includes('audit records 1 to 3'), true);
  assert.deepEqual(await trail.verify(), { ok: true, records: 4 });
  assert.equal(await trail.prune(new Date('2022-06-01T00:00:00.000Z'), 'again'), 0, 'nothing more to prune');
  await trail.record(event(8));
  assert.deepEqual(await trail.verify(), { ok: true, records: 5 });
  const db = new DatabaseSync(path);
  t.after(() => db.close());
  assert.throws(
    () => db.exec('DELETE FROM audit_record WHERE sequence = 4'),
    /append-only/,
    'a record inside retention cannot be deleted',
  );
  assert.throws(() => db.exec('DELETE FROM audit_pruned'), /append-only/);
});

/** The first chain form, as nodes wrote it before the stored bytes were hashed: parsed content, keys sorted. */
function firstFormHash(previous: string, sequence: number, time: string, eventJson: string): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v)
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([k, x]) => [k, sorted(x)]),
          )
        : v;
  return createHmac('sha256', key)
    .update(previous)
    .update(JSON.stringify(sorted({ sequence, time, event: JSON.parse(eventJson) as unknown })))
    .digest('hex');
}

test('a trail written in the first chain form still verifies and gets a witness; the first form is not accepted after the current one', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'audit.sqlite');
  const witnessFile = join(dir, 'witness.json');
  const old = await openSqliteAuditTrail(path, { key });
  for (let n = 1; n <= 3; n += 1) await old.record(event(n));
  await old.close();
  const db = new DatabaseSync(path);
  t.after(() => db.close());
  db.exec('DROP TRIGGER audit_no_update');
  const rehash = (from: number, to: number): void => {
    let previous =
      from === 1
        ? '0'.repeat(64)
        : (db.prepare('SELECT hash FROM audit_record WHERE sequence = ?').get(from - 1) as { hash: string }).hash;
    for (let s = from; s <= to; s += 1) {
      const r = db.prepare('SELECT time, event_json FROM audit_record WHERE sequence = ?').get(s) as {
        time: string;
        event_json: string;
      };
      previous = firstFormHash(previous, s, r.time, r.event_json);
      db.prepare('UPDATE audit_record SET hash = ? WHERE sequence = ?').run(previous, s);
    }
    db.prepare('UPDATE audit_head SET hash = ?, mac = ?').run(
      previous,
      createHmac('sha256', key).update(`head\u0000${to}\u0000${previous}`).digest('hex'),
    );
  };
  rehash(1, 3);
  const upgraded = await openSqliteAuditTrail(path, { key, witnessFile });
  t.after(() => upgraded.close());
  assert.equal(upgraded.witnessProblem, undefined);
  assert.equal(existsSync(witnessFile), true, 'the first open after the upgrade writes the witness');
  assert.deepEqual(await upgraded.verify(), { ok: true, records: 3 });
  await upgraded.record(event(4));
  assert.deepEqual(await upgraded.verify(), { ok: true, records: 4 });
  db.exec('DROP TRIGGER audit_no_update');
  const json = (db.prepare('SELECT event_json FROM audit_record WHERE sequence = 2').get() as { event_json: string })
    .event_json;
  db.prepare('UPDATE audit_record SET event_json = ? WHERE sequence = 2').run(`{"action":"login",${json.slice(1)}`);
  const dup = await upgraded.verify();
  assert.equal(dup.ok, false, 'a duplicate key in a record of the first form is refused too');
  db.prepare('UPDATE audit_record SET event_json = ? WHERE sequence = 2').run(json);
  rehash(4, 4);
  const v = await upgraded.verify();
  assert.equal(v.ok, false, 'a record of the first form after one of the current form');
  if (!v.ok) assert.equal(v.firstBadSequence, 4);
});
