import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { SqliteAuditTrail } from './sqlite-audit-trail.ts';
import type { AuditEvent } from './types.ts';

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

test('records chain, read back in order, filter by patient and action, and survive a reopen', (t) => {
  const path = join(tempDir(t), 'audit.sqlite');
  const trail = new SqliteAuditTrail(path);
  for (let n = 1; n <= 10; n += 1) trail.record(event(n));
  trail.close();
  const again = new SqliteAuditTrail(path);
  t.after(() => again.close());
  const eleventh = again.record(event(11));
  assert.equal(eleventh.sequence, 11, 'the chain continues after a reopen');
  assert.deepEqual(again.verify(), { ok: true, records: 11 });
  assert.deepEqual(again.list({ bsn: '999990019' }).map((r) => r.description), ['event 5', 'event 10']);
  assert.deepEqual(again.list({ action: 'send', limit: 2 }).map((r) => r.sequence), [2, 4]);
  assert.equal(again.list()[0]?.user.roleCode, '01.015');
});

test('the trail refuses updates and deletes through SQLite', (t) => {
  const path = join(tempDir(t), 'audit.sqlite');
  const trail = new SqliteAuditTrail(path);
  t.after(() => trail.close());
  trail.record(event(1));
  const db = new DatabaseSync(path);
  t.after(() => db.close());
  assert.throws(() => db.exec("UPDATE audit_record SET action = 'purge'"), /append-only/);
  assert.throws(() => db.exec('DELETE FROM audit_record'), /append-only/);
});

test('edits, removals, insertions and reorderings made behind its back are caught and the first bad record named (200 random tamperings)', (t) => {
  const dir = tempDir(t);
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let round = 0; round < 200; round += 1) {
    const path = join(dir, `audit-${round}.sqlite`);
    const trail = new SqliteAuditTrail(path);
    const count = 5 + random(20);
    for (let n = 1; n <= count; n += 1) trail.record(event(n));
    trail.close();
    const db = new DatabaseSync(path);
    db.exec('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete');
    // Never the last record alone: removing only the newest record leaves a valid shorter chain (issue 5 anchors the head).
    const k = 1 + random(count - 1);
    const kind = random(4);
    if (kind === 0) {
      const row = db.prepare('SELECT event_json FROM audit_record WHERE sequence = ?').get(k) as { event_json: string };
      db.prepare('UPDATE audit_record SET event_json = ? WHERE sequence = ?').run(row.event_json.replace('event', 'evnt'), k);
    } else if (kind === 1) {
      db.prepare('DELETE FROM audit_record WHERE sequence = ?').run(k);
    } else if (kind === 2) {
      // An inserted record: everything from k on moves up one, and a forged record takes place k.
      db.exec(`UPDATE audit_record SET sequence = sequence + 1000 WHERE sequence >= ${k}; UPDATE audit_record SET sequence = sequence - 999 WHERE sequence >= 1000`);
      db.prepare('INSERT INTO audit_record (sequence, time, action, bsn, event_json, hash) VALUES (?, ?, ?, ?, ?, ?)').run(k, new Date().toISOString(), 'send', null, JSON.stringify(event(999)), 'f'.repeat(64));
    } else {
      // Two neighbours swap places.
      db.exec(`UPDATE audit_record SET sequence = -1 WHERE sequence = ${k}; UPDATE audit_record SET sequence = ${k} WHERE sequence = ${k + 1}; UPDATE audit_record SET sequence = ${k + 1} WHERE sequence = -1`);
    }
    db.close();
    const check = new SqliteAuditTrail(path);
    const v = check.verify();
    check.close();
    assert.equal(v.ok, false, `round ${round}: tampering kind ${kind} at ${k} of ${count} not caught`);
    if (!v.ok) assert.equal(v.firstBadSequence, k, `round ${round}: kind ${kind} at ${k}: ${v.problem}`);
  }
});
