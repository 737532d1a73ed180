// The audit trail on a real PostgreSQL server: the same chain as the embedded one, one strict sequence when several
// nodes append at once, append-only for the node's own database user, and an edit or a cut-off end caught.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { asOwner, startPostgres } from '../../test/support/postgres.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { openPostgresPool, type PostgresSettings } from '../database/index.ts';
import { checkChainAndFilters, sampleEvent as event } from './audit-test-support.ts';
import { ChainedAuditTrail, type AuditTrailOptions } from './chained-audit-trail.ts';
import { PostgresAuditTable } from './postgres-audit-table.ts';

const key = randomBytes(32);

async function openTrail(t: TestContext, s: PostgresSettings, o: Omit<AuditTrailOptions, 'key'> = {}) {
  const table = await PostgresAuditTable.open(openPostgresPool(s), { ownsPool: true });
  const trail = await ChainedAuditTrail.open(table, { key, ...o });
  t.after(() => trail.close());
  return trail;
}

test('on PostgreSQL: records chain, filter, continue after a reopen, prune by retention and still verify', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const s = await server.database('audit_contract');
  const again = await checkChainAndFilters((o) => openTrail(t, s, { ...o, organizationUra: '10000009' }));

  const broken = { ...event(12), user: undefined } as unknown as Parameters<typeof again.record>[0];
  await assert.rejects(() => again.recordAll([event(12), broken]));
  assert.equal((await again.list()).length, 11, 'a failed batch leaves nothing');

  const removed = await again.prune(new Date('2026-01-01T00:05:30.000Z'), 'audit retention 5 years');
  assert.equal(removed, 5);
  assert.match((await again.list({ action: 'purge' }))[0]?.description ?? '', /audit records 1 to 5/);
  assert.deepEqual(await again.verify(), { ok: true, records: 7 });
  assert.equal(await again.prune(new Date('2026-01-01T00:05:30.000Z'), 'again'), 0, 'nothing more to prune');
});

test('on PostgreSQL: two nodes appending at once make one strict sequence, and both verify it', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const s = await server.database('audit_two_nodes');
  const dir = tempDir(t);
  const [a, b] = await Promise.all([
    openTrail(t, s, { witnessFile: join(dir, 'a.witness.json') }),
    openTrail(t, s, { witnessFile: join(dir, 'b.witness.json') }),
  ]);
  const PER_NODE = 60;
  const appended = await Promise.all(
    [a, b].flatMap((trail, node) =>
      Array.from({ length: PER_NODE }, (_, i) =>
        trail.record({ ...event(i + 1), description: `node ${node} event ${i + 1}` }),
      ),
    ),
  );
  const sequences = appended.map((r) => r.sequence).sort((x, y) => x - y);
  assert.deepEqual(
    sequences,
    Array.from({ length: 2 * PER_NODE }, (_, i) => i + 1),
    'every sequence given out once, none skipped',
  );
  assert.deepEqual(await a.verify(), { ok: true, records: 2 * PER_NODE });
  assert.deepEqual(await b.verify(), { ok: true, records: 2 * PER_NODE });
  assert.equal((await a.list({ limit: 1000 })).filter((r) => r.description.startsWith('node 1 ')).length, PER_NODE);
});

test("on PostgreSQL: the node's user cannot update, delete or truncate records; an owner's edit and a cut-off end are caught", async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const s = await server.database('audit_tampering');
  const witnessFile = join(tempDir(t), 'audit-witness.json');
  const trail = await openTrail(t, s, { witnessFile });
  for (let n = 1; n <= 5; n += 1) await trail.record(event(n));
  const db = await asOwner(t, s);
  await assert.rejects(db.query("UPDATE audit_record SET action = 'purge' WHERE sequence = 2"), /append-only/);
  await assert.rejects(db.query('DELETE FROM audit_record WHERE sequence = 5'), /append-only/);
  await assert.rejects(db.query('TRUNCATE audit_record'), /append-only/);
  await assert.rejects(db.query('DELETE FROM audit_pruned'), /append-only/);

  // The owner can drop the triggers: then the chain is what catches the edit.
  await db.query('ALTER TABLE audit_record DISABLE TRIGGER USER');
  await db.query(`UPDATE audit_record SET event_json = replace(event_json, 'event 3', 'event X') WHERE sequence = 3`);
  const edited = await trail.verify();
  assert.equal(edited.ok, false);
  if (!edited.ok) assert.equal(edited.firstBadSequence, 3);

  // Records cut off the end with the head put back: the witness outside the database still names record 5.
  await db.query(`UPDATE audit_record SET event_json = replace(event_json, 'event X', 'event 3') WHERE sequence = 3`);
  assert.deepEqual(await trail.verify(), { ok: true, records: 5 });
  const head4 = await db.query<{ hash: string }>('SELECT hash FROM audit_record WHERE sequence = 4');
  await db.query('DELETE FROM audit_record WHERE sequence = 5');
  // The head as it was after record 4, with its valid MAC (an older copy of the database holds it).
  const hash4 = head4.rows[0]!.hash;
  const mac4 = createHmac('sha256', key).update(`head\u00004\u0000${hash4}`).digest('hex');
  await db.query('UPDATE audit_head SET sequence = 4, hash = $1, mac = $2', [hash4, mac4]);
  const cut = await trail.verify();
  assert.equal(cut.ok, false);
  if (!cut.ok) assert.match(cut.problem, /records 5 to 5 are missing|record 5 is missing|head anchor was changed/);
  await trail.close();
  const reopened = await ChainedAuditTrail.open(
    await PostgresAuditTable.open(openPostgresPool(s), { ownsPool: true }),
    { key, witnessFile },
  );
  t.after(() => reopened.close());
  assert.match(reopened.witnessProblem ?? '', /ends at record 4, but its witness .* names record 5/);
  await assert.rejects(() => reopened.record(event(6)), /the audit trail cannot record/);
});
