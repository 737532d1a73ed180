// Copying an embedded table to PostgreSQL for `beeldbrug migrate`: every row as stored, resumable, verified, and a
// switch-over before the copy noticed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { startPostgres } from '../../test/support/postgres.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { copyTable, rowsLeftBehind } from './copy-table.ts';
import { openPostgresPool } from './postgres.ts';
import { PostgresDatabase } from './statements.ts';

const SCHEMA = `CREATE TABLE item (id TEXT NOT NULL, part INTEGER NOT NULL, size BIGINT, note TEXT, mark BYTEA, PRIMARY KEY (id, part))`;

/** Some bytes for row n, or none. */
const mark = (n: number): Uint8Array | null => (n % 5 === 0 ? null : Uint8Array.of(n & 255, n >> 8, 0, 255));

test('a table is copied row for row in batches, resumes after an interruption, and a foreign row stops it', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const pool = openPostgresPool(await server.database('copy'));
  const target = new PostgresDatabase(pool, { ownsPool: true });
  t.after(() => target.close());
  await target.write((q) => q.run(SCHEMA));

  const path = join(tempDir(t), 'exchange.sqlite');
  const source = new DatabaseSync(path);
  source.exec(SCHEMA);
  const insert = source.prepare('INSERT INTO item (id, part, size, note, mark) VALUES (?, ?, ?, ?, ?)');
  // 2,500 rows: three batches; sizes past 2^32, text with quotes and non-ASCII, bytes, NULLs.
  for (let n = 0; n < 2500; n++)
    insert.run(`t-${n % 50}`, n, 5_000_000_000 + n, n % 7 === 0 ? null : `Jánssen 'x' ${n}`, mark(n));
  source.close();
  const table = { table: 'item', key: ['id', 'part'] } as const;

  assert.equal(await rowsLeftBehind(path, target, table), 2500, 'nothing copied yet: all of it is left behind');
  // An interrupted earlier run: the first 700 rows are there already.
  await target.write(async (q) => {
    for (let n = 0; n < 700; n++)
      await q.run('INSERT INTO item (id, part, size, note, mark) VALUES (?, ?, ?, ?, ?)', [
        `t-${n % 50}`,
        n,
        5_000_000_000 + n,
        n % 7 === 0 ? null : `Jánssen 'x' ${n}`,
        mark(n),
      ]);
  });
  const progress: number[] = [];
  const report = await copyTable(path, target, { ...table, onProgress: (n) => progress.push(n) });
  assert.equal(report.rows, 2500);
  assert.equal(report.copied, 1800, 'the rows already there are skipped');
  assert.deepEqual(progress, [1000, 2000, 2500]);
  assert.match(report.digest, /^[0-9a-f]{64}$/);
  assert.equal(await rowsLeftBehind(path, target, table), undefined, 'copied: nothing left behind');
  await target.write((q) => q.run("DELETE FROM item WHERE id = 't-49' AND part = 2499"));
  assert.equal(
    await rowsLeftBehind(path, target, table),
    undefined,
    'the newest row gone from the server since (purged there) is not left behind: the copy noted it',
  );
  await target.write((q) =>
    q.run('INSERT INTO item (id, part, size, note, mark) VALUES (?, ?, ?, ?, ?)', [
      't-49',
      2499,
      5_000_002_499,
      null,
      mark(2499),
    ]),
  );
  const again = await copyTable(path, target, table);
  assert.deepEqual({ ...again, copied: 0 }, { ...report, copied: 0 }, 'a second run copies nothing, same digest');
  assert.equal(again.copied, 0);

  // A target that holds a row of another node (or an edited one) is not this node's copy.
  await target.write((q) => q.run("UPDATE item SET note = 'changed' WHERE id = 't-3' AND part = 3"));
  await assert.rejects(copyTable(path, target, table), /item \["t-3",3\] is in the target with other values/);
  await target.write((q) => q.run("UPDATE item SET note = 'Jánssen ''x'' 3' WHERE id = 't-3' AND part = 3"));
  await target.write((q) => q.run("UPDATE item SET mark = '\\x0000' WHERE id = 't-4' AND part = 4"));
  await assert.rejects(copyTable(path, target, table), /item \["t-4",4\] is in the target with other values/);
  await target.write((q) => q.run('UPDATE item SET mark = ? WHERE id = ? AND part = ?', [mark(4)!, 't-4', 4]));
  await target.write((q) => q.run("INSERT INTO item (id, part) VALUES ('elsewhere', 1)"));
  await assert.rejects(copyTable(path, target, table), /holds 2501 rows against 2500 here/);

  const more = new DatabaseSync(path);
  more.prepare('INSERT INTO item (id, part) VALUES (?, ?)').run('t-new', 1);
  more.close();
  assert.equal(
    await rowsLeftBehind(path, target, table),
    2501,
    'written to the embedded file after the copy: left behind',
  );
});

test('a table without rowids, keyed on bytes (the registry), is walked in key order and noted by its last key', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const target = new PostgresDatabase(openPostgresPool(await server.database('keyed')), { ownsPool: true });
  t.after(() => target.close());
  await target.write((q) =>
    q.run(
      'CREATE TABLE place (pseudonym BYTEA NOT NULL, ura TEXT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (pseudonym, ura))',
    ),
  );
  const path = join(tempDir(t), 'registry.sqlite');
  const source = new DatabaseSync(path);
  source.exec(
    'CREATE TABLE place (pseudonym BLOB NOT NULL, ura TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (pseudonym, ura)) WITHOUT ROWID',
  );
  const insert = source.prepare('INSERT INTO place (pseudonym, ura, at) VALUES (?, ?, ?)');
  const pseudonym = (n: number): Uint8Array => Uint8Array.of(n % 256, Math.floor(n / 256), 7);
  for (let n = 0; n < 1200; n++)
    for (const ura of ['00000001', '00000002']) insert.run(pseudonym(n), ura, 1_700_000_000_000 + n);
  source.close();
  const table = { table: 'place', key: ['pseudonym', 'ura'] } as const;
  const report = await copyTable(path, target, table);
  assert.deepEqual([report.rows, report.copied], [2400, 2400]);
  const there = await target.read((q) =>
    q.one<{ at: number }>('SELECT at FROM place WHERE pseudonym = ? AND ura = ?', [pseudonym(1030), '00000002']),
  );
  assert.equal(there?.at, 1_700_000_001_030);
  assert.equal(await rowsLeftBehind(path, target, table), undefined);
  // The greatest key, [255, 3, 7], gone on the server (a patient deregistered there) is not left behind.
  await target.write((q) => q.run('DELETE FROM place WHERE pseudonym = ?', [Uint8Array.of(255, 3, 7)]));
  assert.equal(await rowsLeftBehind(path, target, table), undefined);
  assert.equal((await copyTable(path, target, table)).copied, 2, 'copied again, the rows deleted there come back');
});

test('a table the embedded file does not have yet (written by an older version) is copied as empty', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const target = new PostgresDatabase(openPostgresPool(await server.database('older')), { ownsPool: true });
  t.after(() => target.close());
  await target.write((q) => q.run(SCHEMA));
  const path = join(tempDir(t), 'exchange.sqlite');
  new DatabaseSync(path).close();
  const table = { table: 'item', key: ['id', 'part'] } as const;
  assert.deepEqual(await copyTable(path, target, table), {
    table: 'item',
    rows: 0,
    copied: 0,
    digest: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  });
  assert.equal(await rowsLeftBehind(path, target, table), undefined);
  await target.write((q) => q.run("INSERT INTO item (id, part) VALUES ('elsewhere', 1)"));
  await assert.rejects(copyTable(path, target, table), /holds 1 rows against 0 here/);
});
