import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync } from 'node:fs';
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

/**
 * 1,000 tamperings of eight kinds, by someone who can write the database but does not hold the audit key: each is
 * caught and the first bad record named. Two base trails (one whose oldest records were pruned) are built once and
 * copied per round.
 */
test('1,000 random tamperings (edit, remove, insert, reorder, re-chained edit, tail cut, column edit, time edit) are all caught', (t) => {
  const dir = tempDir(t);
  const COUNT = 30;
  const bases: { path: string; first: number }[] = [];
  for (const pruneFirst of [0, 8]) {
    const path = join(dir, `base-${pruneFirst}.sqlite`);
    let clock = Date.parse('2026-01-01T00:00:00.000Z');
    const trail = new SqliteAuditTrail(path, { key, now: () => new Date((clock += 1000)) });
    for (let n = 1; n <= COUNT; n += 1) trail.record(event(n));
    if (pruneFirst > 0) trail.prune(new Date(Date.parse('2026-01-01T00:00:00.000Z') + pruneFirst * 1000 + 500), 'test');
    assert.equal(trail.verify().ok, true);
    trail.close();
    bases.push({ path, first: pruneFirst + 1 });
  }
  let seed = 20261123;
  const random = (n: number): number => {
    // The high bits of the LCG: its low bits repeat with a short period.
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((seed / 2 ** 31) * n);
  };
  const sha = (previous: string, row: { sequence: number; time: string; event_json: string }): string =>
    createHash('sha256').update(previous).update(JSON.stringify({ sequence: row.sequence, time: row.time, event: JSON.parse(row.event_json) as unknown })).digest('hex');
  const caught = new Map<number, number>();
  for (let round = 0; round < 1000; round += 1) {
    const base = bases[random(bases.length)]!;
    const last = base.first === 1 ? COUNT : COUNT + 1; // the pruned base has the prune record appended
    const path = join(dir, `round-${round}.sqlite`);
    copyFileSync(base.path, path);
    const db = new DatabaseSync(path);
    db.exec('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DROP TRIGGER audit_pruned_no_update; DROP TRIGGER audit_pruned_no_delete');
    const k = base.first + random(last - base.first + 1);
    const kind = random(8);
    const rowAt = (s: number) => db.prepare('SELECT sequence, time, event_json, hash FROM audit_record WHERE sequence = ?').get(s) as { sequence: number; time: string; event_json: string; hash: string };
    let expectedBad = k;
    if (kind === 0) {
      db.prepare('UPDATE audit_record SET event_json = ? WHERE sequence = ?').run(rowAt(k).event_json.replace('"description":"', '"description":"x'), k);
    } else if (kind === 1) {
      db.prepare('DELETE FROM audit_record WHERE sequence = ?').run(k);
    } else if (kind === 2) {
      // An inserted record: everything from k on moves up one, and a forged record takes place k.
      db.exec(`UPDATE audit_record SET sequence = sequence + 1000 WHERE sequence >= ${k}; UPDATE audit_record SET sequence = sequence - 999 WHERE sequence >= 1000`);
      db.prepare('INSERT INTO audit_record (sequence, time, action, bsn, user_id, event_json, hash) VALUES (?, ?, ?, ?, ?, ?, ?)').run(k, new Date().toISOString(), 'send', null, 'u1', JSON.stringify(event(999)), 'f'.repeat(64));
    } else if (kind === 3) {
      // Two neighbours swap places (the last record swaps with the one before it).
      const a = k === last ? k - 1 : k;
      if (a < base.first) {
        db.prepare('DELETE FROM audit_record WHERE sequence = ?').run(k);
      } else {
        db.exec(`UPDATE audit_record SET sequence = -1 WHERE sequence = ${a}; UPDATE audit_record SET sequence = ${a} WHERE sequence = ${a + 1}; UPDATE audit_record SET sequence = ${a + 1} WHERE sequence = -1`);
        expectedBad = a;
      }
    } else if (kind === 4) {
      // Edited, then the chain and the head recomputed without the key (plain SHA-256).
      db.prepare('UPDATE audit_record SET event_json = ? WHERE sequence = ?').run(rowAt(k).event_json.replace('"outcome":"success"', '"outcome":"failure"'), k);
      const pruned = db.prepare('SELECT hash FROM audit_pruned').get() as { hash: string } | undefined;
      let previous = k > base.first ? rowAt(k - 1).hash : (pruned?.hash ?? '0'.repeat(64));
      for (let s = k; s <= last; s += 1) {
        previous = sha(previous, rowAt(s));
        db.prepare('UPDATE audit_record SET hash = ? WHERE sequence = ?').run(previous, s);
      }
      db.prepare('UPDATE audit_head SET hash = ?').run(previous);
    } else if (kind === 5) {
      // The newest records from k on cut off and the head moved back to the record before them.
      db.prepare('DELETE FROM audit_record WHERE sequence >= ?').run(k);
      const before = k > base.first ? rowAt(k - 1) : undefined;
      db.prepare('UPDATE audit_head SET sequence = ?, hash = ?').run(k - 1, before?.hash ?? '0'.repeat(64));
    } else if (kind === 6) {
      // The search column changed so the patient's own view no longer finds the record.
      db.prepare('UPDATE audit_record SET bsn = ? WHERE sequence = ?').run('999990031', k);
    } else {
      db.prepare('UPDATE audit_record SET time = ? WHERE sequence = ?').run('2025-12-31T23:59:59.000Z', k);
    }
    db.close();
    const check = new SqliteAuditTrail(path, { key });
    const v = check.verify();
    check.close();
    assert.equal(v.ok, false, `round ${round}: tampering kind ${kind} at ${k} (records ${base.first}..${last}) not caught`);
    if (!v.ok) assert.equal(v.firstBadSequence, expectedBad, `round ${round}: kind ${kind} at ${k}: ${v.problem}`);
    caught.set(kind, (caught.get(kind) ?? 0) + 1);
  }
  assert.equal([...caught.values()].reduce((a, b) => a + b, 0), 1000);
  assert.equal(caught.size, 8, 'every kind of tampering was tried');
});
