import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { SqliteAuditTrail } from './sqlite-audit-trail.ts';
import type { AuditEvent } from './types.ts';

const key = randomBytes(32);

function event(n: number): AuditEvent {
  return {
    action: n % 2 === 0 ? 'send' : 'receive',
    outcome: 'success',
    description: `event ${n}`,
    user: { id: `u${n % 3}`, name: 'Dr. C. Bakker', roleCode: '01.015', organizationUra: '10000001' },
    accessPoint: { node: 'noord', ip: '127.0.0.1' },
    patient: { bsn: n % 5 === 0 ? '999990019' : '999990020', patientId: `P${n}` },
    objects: { studyInstanceUid: `1.2.3.${n}`, transferId: `t-${n}` },
    grounds: { purpose: 'transfer' },
  };
}

test('records chain, read back in order, filter by patient, user, action and period, and survive a reopen', (t) => {
  const path = join(tempDir(t), 'audit.sqlite');
  let clock = Date.parse('2026-01-01T00:00:00.000Z');
  const now = (): Date => new Date((clock += 60_000));
  const trail = new SqliteAuditTrail(path, { key, now });
  for (let n = 1; n <= 10; n += 1) trail.record(event(n));
  trail.close();
  const again = new SqliteAuditTrail(path, { key, now });
  t.after(() => again.close());
  const eleventh = again.record(event(11));
  assert.equal(eleventh.sequence, 11, 'the chain continues after a reopen');
  assert.deepEqual(again.verify(), { ok: true, records: 11 });
  assert.deepEqual(again.list({ bsn: '999990019' }).map((r) => r.description), ['event 5', 'event 10']);
  assert.deepEqual(again.list({ action: 'send', limit: 2 }).map((r) => r.sequence), [2, 4]);
  assert.deepEqual(again.list({ userId: 'u0' }).map((r) => r.sequence), [3, 6, 9]);
  assert.deepEqual(again.list({ since: '2026-01-01T00:03:00.000Z', until: '2026-01-01T00:05:00.000Z' }).map((r) => r.sequence), [3, 4]);
  assert.equal(again.list()[0]?.user.roleCode, '01.015');
});

test('several records in one write: chained in order, all or none, our organization filled in', (t) => {
  const trail = new SqliteAuditTrail(join(tempDir(t), 'audit.sqlite'), { key, organizationUra: '10000009' });
  t.after(() => trail.close());
  trail.record(event(1));
  const ours = { ...event(2), user: { id: 'system:ris', name: 'RIS' } };
  assert.deepEqual(trail.recordAll([ours, event(3), event(4)]).map((r) => r.sequence), [2, 3, 4]);
  assert.equal(trail.list()[1]?.user.organizationUra, '10000009', 'a user without an organization is ours');
  assert.equal(trail.list()[2]?.user.organizationUra, '10000001', 'a named organization stays');
  const broken = { ...event(5), user: undefined } as unknown as AuditEvent;
  assert.throws(() => trail.recordAll([event(5), broken]));
  assert.equal(trail.list().length, 4, 'a failed batch leaves nothing');
  assert.deepEqual(trail.recordAll([]), []);
  assert.deepEqual(trail.verify(), { ok: true, records: 4 });
});

test('the trail refuses updates and deletes through SQLite', (t) => {
  const path = join(tempDir(t), 'audit.sqlite');
  const trail = new SqliteAuditTrail(path, { key });
  t.after(() => trail.close());
  trail.record(event(1));
  const db = new DatabaseSync(path);
  t.after(() => db.close());
  assert.throws(() => db.exec("UPDATE audit_record SET action = 'purge'"), /append-only/);
  assert.throws(() => db.exec('DELETE FROM audit_record'), /append-only/);
});

test('a trail verified with another key fails at its first record', (t) => {
  const path = join(tempDir(t), 'audit.sqlite');
  const trail = new SqliteAuditTrail(path, { key });
  trail.record(event(1));
  trail.close();
  const other = new SqliteAuditTrail(path, { key: randomBytes(32) });
  t.after(() => other.close());
  const v = other.verify();
  assert.equal(v.ok, false);
  if (!v.ok) assert.equal(v.firstBadSequence, 1);
});

test('retention prunes the oldest records only, the chain stays verifiable, and the pruning is itself a record', (t) => {
  const path = join(tempDir(t), 'audit.sqlite');
  let clock = Date.parse('2020-01-01T00:00:00.000Z');
  const trail = new SqliteAuditTrail(path, { key, now: () => new Date(clock) });
  t.after(() => trail.close());
  for (let n = 1; n <= 6; n += 1) {
    trail.record(event(n));
    clock += 365 * 24 * 3600_000;
  }
  const removed = trail.prune(new Date('2022-06-01T00:00:00.000Z'), 'audit retention 5 years');
  assert.equal(removed, 3, 'records of 2020, 2021 and early 2022 go');
  assert.deepEqual(trail.list().map((r) => r.sequence), [4, 5, 6, 7]);
  assert.equal(trail.list({ action: 'purge' })[0]?.description.includes('audit records 1 to 3'), true);
  assert.deepEqual(trail.verify(), { ok: true, records: 4 });
  assert.equal(trail.prune(new Date('2022-06-01T00:00:00.000Z'), 'again'), 0, 'nothing more to prune');
  trail.record(event(8));
  assert.deepEqual(trail.verify(), { ok: true, records: 5 });
  const db = new DatabaseSync(path);
  t.after(() => db.close());
  assert.throws(() => db.exec('DELETE FROM audit_record WHERE sequence = 4'), /append-only/, 'a record inside retention cannot be deleted');
  assert.throws(() => db.exec('DELETE FROM audit_pruned'), /append-only/);
});
