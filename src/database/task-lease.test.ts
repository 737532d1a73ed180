import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startPostgres } from '../../test/support/postgres.ts';
import { openPostgresPool } from './postgres.ts';
import { openPostgresTaskLeases } from './task-lease.ts';

test('a task is leased to one node; another takes it over only once the lease has run out', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const pool = openPostgresPool(await server.database('leases'));
  t.after(() => pool.end());
  const a = await openPostgresTaskLeases(pool, 'host-1:/srv/a');
  const b = await openPostgresTaskLeases(pool, 'host-2:/srv/b');
  const at = (s: number): Date => new Date(Date.UTC(2026, 11, 7, 3) + s * 1000);
  assert.equal(await a.take('retention', 60_000, at(0)), true, 'the first to ask holds it');
  assert.equal(await b.take('retention', 60_000, at(10)), false);
  assert.equal(await a.take('retention', 60_000, at(50)), true, 'its holder renews it');
  assert.equal(await b.take('retention', 60_000, at(100)), false, 'renewed at 50: held until 110');
  assert.equal(await b.take('retention', 60_000, at(111)), true, 'lapsed: taken over');
  assert.equal(await a.take('retention', 60_000, at(112)), false, 'and the old holder stays off');
  assert.equal(await a.take('audit prune', 60_000, at(112)), true, 'each task on its own');
  // Many asking at once: exactly one holds it.
  const answers = await Promise.all(
    Array.from({ length: 8 }, async (_, n) =>
      (await openPostgresTaskLeases(pool, `node-${n}`)).take('atna export', 60_000, at(200)),
    ),
  );
  assert.equal(answers.filter(Boolean).length, 1);
});
