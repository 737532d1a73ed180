import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import fc from 'fast-check';
import { tempDir } from '../../test/support/tmp.ts';
import type { ChainedAuditTrail } from './chained-audit-trail.ts';
import { openSqliteAuditTrail } from './open-audit-trail.ts';
import { sampleEvent } from './audit-test-support.ts';

/**
 * Tampering by someone who can write the audit file while the node is stopped but does not hold the audit key: every
 * change to what a reader of the trail sees, and every removal, must fail verify(). Each class the security probe
 * found has its own test; the generated test mixes all of them.
 */

const key = randomBytes(32);
const START = Date.parse('2026-01-01T00:00:00.000Z');

const event = sampleEvent;

interface Built {
  path: string;
  witnessFile: string;
}

/** A trail of `count` records one second apart; the same key and count give the same file content. */
async function build(
  dir: string,
  name: string,
  count: number,
  o: { key?: Buffer; pruneThrough?: number } = {},
): Promise<Built> {
  const path = join(dir, `${name}.sqlite`);
  const witnessFile = join(dir, `${name}.witness.json`);
  let clock = START;
  const trail = await openSqliteAuditTrail(path, {
    key: o.key ?? key,
    witnessFile,
    now: () => new Date((clock += 1000)),
  });
  for (let n = 1; n <= count; n += 1) await trail.record(event(n));
  if (o.pruneThrough !== undefined) await trail.prune(new Date(START + o.pruneThrough * 1000 + 500), 'retention');
  assert.equal((await trail.verify()).ok, true);
  await trail.close();
  return { path, witnessFile };
}

/** Opens the file the way an attacker with sqlite3 would: the append-only triggers are no obstacle to them. */
function attacker(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  // The attacker needs no durability, and without fsync the generated test takes seconds, not half a minute.
  db.exec('PRAGMA synchronous = OFF');
  db.exec(
    'DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete; DROP TRIGGER IF EXISTS audit_pruned_no_update; DROP TRIGGER IF EXISTS audit_pruned_no_delete',
  );
  return db;
}

/**
 * Puts the append-only triggers back, as a careful attacker would, and closes. Opening the trail then writes nothing,
 * which keeps the generated test free of fsyncs.
 */
function leave(db: DatabaseSync, triggers: readonly string[]): void {
  for (const sql of triggers) db.exec(sql);
  db.close();
}

async function reopen(b: Built): Promise<ChainedAuditTrail> {
  return await openSqliteAuditTrail(b.path, { key, witnessFile: b.witnessFile });
}

function removeFile(path: string): void {
  for (const p of [path, `${path}-wal`, `${path}-shm`]) rmSync(p, { force: true });
}

test('a record inserted with sequence 0 or below fails verify (verify covers every row list() can return)', async (t) => {
  const dir = tempDir(t);
  for (const sequence of [0, -1, -1000]) {
    const b = await build(dir, `below-${-sequence}`, 3);
    const db = attacker(b.path);
    db.prepare(
      'INSERT INTO audit_record (sequence, time, action, bsn, user_id, event_json, hash) SELECT ?, time, action, bsn, user_id, event_json, hash FROM audit_record WHERE sequence = 1',
    ).run(sequence);
    db.close();
    const trail = await reopen(b);
    t.after(() => trail.close());
    assert.equal((await trail.list())[0]?.sequence, sequence, 'the reader would see it');
    const v = await trail.verify();
    assert.equal(v.ok, false, `sequence ${sequence}`);
    if (!v.ok) assert.equal(v.firstBadSequence, sequence);
  }
});

test('deleting every record, deleting the file or emptying it fails verify, and the trail refuses to record', async (t) => {
  const dir = tempDir(t);
  const cases: [string, (b: Built) => void][] = [
    [
      'every record and anchor deleted',
      (b) => {
        const db = attacker(b.path);
        db.exec('DELETE FROM audit_record; DELETE FROM audit_head; DELETE FROM audit_pruned');
        db.close();
      },
    ],
    ['the file deleted', (b) => removeFile(b.path)],
    ['the file replaced by an empty file', (b) => (removeFile(b.path), writeFileSync(b.path, ''))],
  ];
  for (const [name, tamper] of cases) {
    const b = await build(dir, name.replaceAll(' ', '-'), 4);
    tamper(b);
    const trail = await reopen(b);
    t.after(() => trail.close());
    const v = await trail.verify();
    assert.equal(v.ok, false, name);
    if (!v.ok)
      assert.match(v.problem, /records 1 to 4 are missing: the witness .* names record 4, the trail ends at 0/, name);
    assert.match(trail.witnessProblem ?? '', /ends at record 0, but its witness .* names record 4/, name);
    await assert.rejects(
      () => trail.record(event(9)),
      /the audit trail cannot record/,
      `${name}: nothing records into it`,
    );
  }
});

test('cutting off the newest records and putting back an older head row (from the WAL) fails verify', async (t) => {
  const dir = tempDir(t);
  const b = await build(dir, 'rollback', 5);
  // The head anchor as it was after record 3, which the attacker read from the WAL: it carries a valid MAC. The same
  // records give the same anchor, so a trail of 3 records shows it.
  const scratch = new DatabaseSync((await build(dir, 'rollback-at-3', 3)).path);
  const headAt3 = scratch.prepare('SELECT sequence, hash, mac FROM audit_head').get() as {
    sequence: number;
    hash: string;
    mac: string;
  };
  scratch.close();
  const db = attacker(b.path);
  assert.equal(
    (db.prepare('SELECT hash FROM audit_record WHERE sequence = 3').get() as { hash: string }).hash,
    headAt3.hash,
  );
  db.exec('DELETE FROM audit_record WHERE sequence > 3');
  db.prepare('UPDATE audit_head SET sequence = ?, hash = ?, mac = ?').run(headAt3.sequence, headAt3.hash, headAt3.mac);
  db.close();
  const check = await reopen(b);
  t.after(() => check.close());
  const v = await check.verify();
  assert.equal(v.ok, false);
  if (!v.ok) {
    assert.equal(v.firstBadSequence, 4);
    assert.match(v.problem, /records 4 to 5 are missing/);
  }
  assert.notEqual(check.witnessProblem, undefined, 'the node would refuse to start on it');
});

test('an edit that keeps the parsed meaning (duplicate key, spacing, key order) fails verify', async (t) => {
  const dir = tempDir(t);
  const edits: [string, (json: string) => string][] = [
    ['a duplicate key read first by SQL', (json) => `{"patient":{"bsn":"999990031"},${json.slice(1)}`],
    ['a duplicate description', (json) => `{"description":"nothing happened",${json.slice(1)}`],
    ['spacing', (json) => json.replace('{', '{ ')],
    [
      'key order',
      (json) =>
        JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(json) as Record<string, unknown>).reverse())),
    ],
  ];
  for (const [name, edit] of edits) {
    const b = await build(dir, name.replaceAll(' ', '-'), 3);
    const db = attacker(b.path);
    const json = (db.prepare('SELECT event_json FROM audit_record WHERE sequence = 2').get() as { event_json: string })
      .event_json;
    const edited = edit(json);
    assert.notEqual(edited, json);
    assert.deepEqual(
      new Set(Object.keys(JSON.parse(edited) as object)),
      new Set(Object.keys(JSON.parse(json) as object)),
      `${name}: parses to the same keys`,
    );
    db.prepare('UPDATE audit_record SET event_json = ? WHERE sequence = 2').run(edited);
    db.close();
    const trail = await reopen(b);
    t.after(() => trail.close());
    const v = await trail.verify();
    assert.equal(v.ok, false, name);
    if (!v.ok) assert.equal(v.firstBadSequence, 2, name);
  }
});

test('a column stored as another SQLite type (a BLOB with the same bytes) fails verify', async (t) => {
  const b = await build(tempDir(t), 'blob', 3);
  const db = attacker(b.path);
  db.exec('UPDATE audit_record SET bsn = CAST(bsn AS BLOB) WHERE sequence = 2');
  db.close();
  const trail = await reopen(b);
  t.after(() => trail.close());
  const v = await trail.verify();
  assert.equal(v.ok, false);
  if (!v.ok) assert.equal(v.firstBadSequence, 2);
});

test('a view in the place of the records table is refused', async (t) => {
  const b = await build(tempDir(t), 'view', 3);
  const db = attacker(b.path);
  db.exec('ALTER TABLE audit_record RENAME TO kept; CREATE VIEW audit_record AS SELECT * FROM kept');
  db.close();
  // Opening re-creates the append-only triggers and indexes, which SQLite refuses on a view; verify() checks it too.
  await assert.rejects(() => reopen(b), /views may not be indexed|cannot create/);
});

test('the witness: missing, changed, or written with another key fails verify; a trail from before witnesses gets one', async (t) => {
  const dir = tempDir(t);
  const gone = await build(dir, 'gone', 3);
  rmSync(gone.witnessFile);
  const a = await reopen(gone);
  t.after(() => a.close());
  assert.match(a.witnessProblem ?? '', /is missing; records after 3 may have been removed/);
  assert.equal((await a.verify()).ok, false);
  assert.equal(
    existsSync(gone.witnessFile),
    false,
    'a missing witness is not silently recreated for a trail that had one',
  );

  const edited = await build(dir, 'edited', 3);
  writeFileSync(edited.witnessFile, readFileSync(edited.witnessFile, 'utf8').replace('"sequence":3', '"sequence":2'));
  const b = await reopen(edited);
  t.after(() => b.close());
  assert.match(b.witnessProblem ?? '', /was changed, or written with another audit key/);
  assert.equal((await b.verify()).ok, false);

  const fresh = join(dir, 'fresh.sqlite');
  const c = await openSqliteAuditTrail(fresh, { key, witnessFile: join(dir, 'fresh', 'witness.json') });
  t.after(() => c.close());
  assert.equal(c.witnessProblem, undefined);
  assert.equal(
    JSON.parse(readFileSync(join(dir, 'fresh', 'witness.json'), 'utf8')).sequence,
    0,
    'a new trail starts its witness at 0',
  );
  assert.deepEqual(await c.verify(), { ok: true, records: 0 });
  await c.record(event(1));
  assert.equal(
    JSON.parse(readFileSync(join(dir, 'fresh', 'witness.json'), 'utf8')).sequence,
    1,
    'every append moves the witness',
  );
});

test('accepting the present head after a restore: recorded, and the witness moves', async (t) => {
  const dir = tempDir(t);
  const b = await build(dir, 'restored', 5);
  const older = await build(dir, 'backup', 3);
  removeFile(b.path);
  copyFileSync(older.path, b.path);
  const trail = await reopen(b);
  t.after(() => trail.close());
  assert.notEqual(trail.witnessProblem, undefined);
  const r = await trail.acceptHead({
    ...event(6),
    action: 'configuration-change',
    description: 'restored from backup',
  });
  assert.deepEqual(r, { ok: true, sequence: 4 });
  assert.equal(trail.witnessProblem, undefined);
  assert.deepEqual(await trail.verify(), { ok: true, records: 4 });
  await trail.record(event(7));
  assert.deepEqual(await trail.verify(), { ok: true, records: 5 });
});

/** A tampering, positions as numbers the case maps onto the trail it is applied to. */
type Tampering =
  | {
      kind: 'edit';
      at: number;
      variant: 'character' | 'duplicate-key' | 'spacing' | 'key-order' | 'time' | 'action' | 'bsn' | 'user' | 'hash';
    }
  | { kind: 'delete'; at: number }
  | { kind: 'insert'; at: number; from: number; place: 'middle' | 'zero' | 'negative' | 'after-end' }
  | { kind: 'reorder'; at: number; other: number }
  | { kind: 'truncate'; at: number; head: 'kept' | 'removed' | 'older' }
  | { kind: 'head-rollback'; at: number }
  | { kind: 'file-swap'; to: 'deleted' | 'empty' | 'older-copy' | 'other-key'; at: number }
  | { kind: 'delete-all' };

const position = fc.nat({ max: 10_000 });
const tampering: fc.Arbitrary<Tampering> = fc.oneof(
  fc.record({
    kind: fc.constant('edit' as const),
    at: position,
    variant: fc.constantFrom(
      'character',
      'duplicate-key',
      'spacing',
      'key-order',
      'time',
      'action',
      'bsn',
      'user',
      'hash',
    ),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: position }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: position,
    from: position,
    place: fc.constantFrom('middle', 'zero', 'negative', 'after-end'),
  }),
  fc.record({ kind: fc.constant('reorder' as const), at: position, other: position }),
  fc.record({
    kind: fc.constant('truncate' as const),
    at: position,
    head: fc.constantFrom('kept', 'removed', 'older'),
  }),
  fc.record({ kind: fc.constant('head-rollback' as const), at: position }),
  fc.record({
    kind: fc.constant('file-swap' as const),
    to: fc.constantFrom('deleted', 'empty', 'older-copy', 'other-key'),
    at: position,
  }),
  fc.record({ kind: fc.constant('delete-all' as const) }),
);

/**
 * 1,000 generated tamperings of two trails (one whose oldest records retention pruned), each applied to a fresh copy
 * of the file with its witness beside it: every one fails verify(), and the ones that remove records from the end or
 * swap the file also stop the trail from recording. The trails and their older states are built once.
 */
test('1,000 generated tamperings (edit, delete, insert, reorder, truncate, head rollback, file swap) are all caught', async (t) => {
  const dir = tempDir(t);
  const COUNT = 20;
  const otherKey = randomBytes(32);
  // The first trail is built record by record while a second connection keeps what the WAL and backups would hold:
  // each older state of the file, and each older head anchor (with its valid MAC).
  const olderCopies: string[] = [];
  const heads: ({ sequence: number; hash: string; mac: string } | undefined)[] = [];
  {
    const path = join(dir, 'base-0.sqlite');
    let clock = START;
    const trail = await openSqliteAuditTrail(path, {
      key,
      witnessFile: join(dir, 'base-0.witness.json'),
      now: () => new Date((clock += 1000)),
    });
    const reader = new DatabaseSync(path);
    for (let n = 0; n < COUNT; n += 1) {
      if (n > 0) await trail.record(event(n));
      olderCopies.push(join(dir, `older-${n}.sqlite`));
      reader.prepare('VACUUM INTO ?').run(olderCopies[n]!);
      heads.push(
        reader.prepare('SELECT sequence, hash, mac FROM audit_head').get() as
          { sequence: number; hash: string; mac: string } | undefined,
      );
    }
    await trail.record(event(COUNT));
    reader.close();
    await trail.close();
  }
  const bases: (Built & { first: number; last: number })[] = [];
  for (const pruneThrough of [0, 6]) {
    const b =
      pruneThrough > 0
        ? await build(dir, `base-${pruneThrough}`, COUNT, { pruneThrough })
        : { path: join(dir, 'base-0.sqlite'), witnessFile: join(dir, 'base-0.witness.json') };
    const first = pruneThrough + 1;
    const last = pruneThrough > 0 ? COUNT + 1 : COUNT;
    bases.push({ ...b, first, last });
  }
  const otherNode = await build(dir, 'other-node', COUNT, { key: otherKey });
  const tried = new Map<string, number>();
  let round = 0;

  await fc.assert(
    fc.asyncProperty(tampering, async (tp) => {
      round += 1;
      const base = bases[round % bases.length]!;
      const span = base.last - base.first + 1;
      const pick = (n: number): number => base.first + (n % span);
      const b: Built = { path: join(dir, `case.sqlite`), witnessFile: join(dir, 'case.witness.json') };
      removeFile(b.path);
      copyFileSync(base.path, b.path);
      copyFileSync(base.witnessFile, b.witnessFile);
      let removesTail = false;
      if (tp.kind === 'file-swap') {
        removesTail = tp.to !== 'other-key';
        removeFile(b.path);
        if (tp.to === 'empty') writeFileSync(b.path, '');
        else if (tp.to === 'older-copy') copyFileSync(olderCopies[tp.at % COUNT]!, b.path);
        else if (tp.to === 'other-key') copyFileSync(otherNode.path, b.path);
      } else {
        const triggers = (() => {
          const reader = new DatabaseSync(b.path);
          const sql = (
            reader.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger'").all() as { sql: string }[]
          ).map((r) => r.sql);
          reader.close();
          return sql;
        })();
        const db = attacker(b.path);
        const row = (s: number) =>
          db
            .prepare(
              'SELECT sequence, time, action, bsn, user_id, event_json, hash FROM audit_record WHERE sequence = ?',
            )
            .get(s) as Record<string, string | number | null>;
        const put = (s: number, r: Record<string, string | number | null>) =>
          db
            .prepare(
              'INSERT INTO audit_record (sequence, time, action, bsn, user_id, event_json, hash) VALUES (?, ?, ?, ?, ?, ?, ?)',
            )
            .run(s, r.time!, r.action!, r.bsn!, r.user_id!, r.event_json!, r.hash!);
        const set = (column: string, value: string | null, s: number) =>
          db.prepare(`UPDATE audit_record SET ${column} = ? WHERE sequence = ?`).run(value, s);
        if (tp.kind === 'edit') {
          const k = pick(tp.at);
          const r = row(k);
          const json = String(r.event_json);
          const edits = {
            character: () => set('event_json', json.replace('"description":"', '"description":"x'), k),
            'duplicate-key': () => set('event_json', `{"action":"login",${json.slice(1)}`, k),
            spacing: () => set('event_json', `${json} `, k),
            'key-order': () =>
              set(
                'event_json',
                JSON.stringify(
                  Object.fromEntries(Object.entries(JSON.parse(json) as Record<string, unknown>).reverse()),
                ),
                k,
              ),
            time: () => set('time', new Date(Date.parse(String(r.time)) + 1).toISOString(), k),
            action: () => set('action', r.action === 'purge' ? 'read' : 'purge', k),
            bsn: () => set('bsn', r.bsn === '999990031' ? null : '999990031', k),
            user: () => set('user_id', `${String(r.user_id)}x`, k),
            hash: () => set('hash', `${String(r.hash).startsWith('0') ? '1' : '0'}${String(r.hash).slice(1)}`, k),
          };
          edits[tp.variant]();
        } else if (tp.kind === 'delete') {
          db.prepare('DELETE FROM audit_record WHERE sequence = ?').run(pick(tp.at));
        } else if (tp.kind === 'insert') {
          const copied = row(pick(tp.from));
          if (tp.place === 'middle') {
            const k = pick(tp.at);
            db.exec(
              `UPDATE audit_record SET sequence = sequence + 100000 WHERE sequence >= ${k}; UPDATE audit_record SET sequence = sequence - 99999 WHERE sequence >= 100000`,
            );
            put(k, copied);
          } else {
            put(tp.place === 'zero' ? 0 : tp.place === 'negative' ? -1 - (tp.at % 50) : base.last + 1, copied);
          }
        } else if (tp.kind === 'reorder') {
          const a = pick(tp.at);
          let other = pick(tp.other);
          if (other === a) other = a === base.last ? a - 1 : a + 1;
          if (other < base.first) {
            db.prepare('DELETE FROM audit_record WHERE sequence = ?').run(a);
          } else {
            db.exec(
              `UPDATE audit_record SET sequence = -7 WHERE sequence = ${a}; UPDATE audit_record SET sequence = ${a} WHERE sequence = ${other}; UPDATE audit_record SET sequence = ${other} WHERE sequence = -7`,
            );
          }
        } else if (tp.kind === 'truncate' || tp.kind === 'head-rollback') {
          const k = pick(tp.at);
          const cut = tp.kind === 'truncate';
          if (cut) {
            removesTail = true;
            db.prepare('DELETE FROM audit_record WHERE sequence >= ?').run(k);
          }
          const head = tp.kind === 'head-rollback' ? 'older' : tp.head;
          // An older head anchor with a valid MAC, as the WAL or a backup holds it.
          const older = heads[Math.min(k - 1, COUNT - 1)];
          if (head === 'removed' || (head === 'older' && older === undefined)) db.exec('DELETE FROM audit_head');
          else if (head === 'older' && older !== undefined)
            db.prepare('UPDATE audit_head SET sequence = ?, hash = ?, mac = ?').run(
              older.sequence,
              older.hash,
              older.mac,
            );
        } else {
          removesTail = true;
          db.exec('DELETE FROM audit_record; DELETE FROM audit_head; DELETE FROM audit_pruned');
        }
        leave(db, triggers);
      }
      const check = await reopen(b);
      try {
        const v = await check.verify();
        assert.equal(v.ok, false, `${JSON.stringify(tp)} on records ${base.first}..${base.last} was not caught`);
        if (removesTail)
          assert.notEqual(check.witnessProblem, undefined, `${JSON.stringify(tp)}: the trail would still record`);
      } finally {
        await check.close();
      }
      tried.set(tp.kind, (tried.get(tp.kind) ?? 0) + 1);
    }),
    { numRuns: 1000 },
  );
  assert.equal(
    [...tried.values()].reduce((a, n) => a + n, 0),
    1000,
  );
  assert.deepEqual([...tried.keys()].sort(), [
    'delete',
    'delete-all',
    'edit',
    'file-swap',
    'head-rollback',
    'insert',
    'reorder',
    'truncate',
  ]);
});
