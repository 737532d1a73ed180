// Two nodes of one hospital on one PostgreSQL server (database: postgresql): DCMTK stores into each, both record into
// the one shared audit trail, each sees the other's records, and `beeldbrug audit verify` finds the chain intact. A
// wrong password keeps the node from starting, with an error that names the server and not the secret.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { verifyAuditFromCli } from '../../src/cli/audit-command.ts';
import { loadConfig } from '../../src/config/index.ts';
import type { PostgresSettings } from '../../src/database/index.ts';
import { BeeldbrugError } from '../../src/errors/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { run } from '../dimse/helpers.ts';
import { asOwner, startPostgres } from '../support/postgres.ts';
import { startTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

const PACS = 'PACS_AE';

/** The nodes of one hospital share the database and the audit key: one chain, keyed once. */
const onPostgres = (s: PostgresSettings, auditKeyFile?: string) => (raw: Record<string, unknown>) => {
  raw['database'] = { kind: 'postgresql', ...s };
  if (auditKeyFile !== undefined) (raw['audit'] as { keyFile: string }).keyFile = auditKeyFile;
};

test('two nodes on one PostgreSQL server record into one audit trail, see each other’s records, and verify it', async (t) => {
  if (requireTool(t, 'storescu') === undefined) return;
  const server = await startPostgres(t);
  if (server === undefined) return;
  const s = await server.database('hospital');
  const work = tempDir(t);
  const synth = await synthesize({ outDir: join(work, 'synth'), patients: 2, seed: 7 });
  const peers = [{ aeTitle: PACS, host: '127.0.0.1', port: 1, description: 'test PACS' }];
  const a = await startTestNode(t, { aeTitle: 'BB_A', peers, edit: onPostgres(s) });
  const b = await startTestNode(t, {
    aeTitle: 'BB_B',
    peers,
    edit: onPostgres(s, loadConfig(a.configPath).audit.keyFile),
  });

  const storeInto = async (n: typeof a, files: readonly string[]): Promise<void> => {
    const r = await run('storescu', ['-aet', PACS, '-aec', n.aeTitle, '127.0.0.1', String(n.port), ...files]);
    assert.equal(r.code, 0, r.stderr);
  };
  const [first, second] = synth.patients.map((p) => p.studies[0]!);
  await Promise.all([storeInto(a, first!.files), storeInto(b, second!.files)]);

  const seenByA = await a.node.audit.list({ limit: 100_000 });
  const seenByB = await b.node.audit.list({ limit: 100_000 });
  assert.deepEqual(
    seenByA.map((r) => r.hash),
    seenByB.map((r) => r.hash),
    'one trail: both nodes read the same records',
  );
  const stored = (node: string) =>
    seenByA.filter((r) => r.action === 'receive' && r.accessPoint.node === `test node ${node}`);
  assert.equal(stored('BB_A')[0]?.objects.studyInstanceUid, first!.studyInstanceUid, 'A recorded its C-STORE');
  assert.equal(stored('BB_B')[0]?.objects.studyInstanceUid, second!.studyInstanceUid, 'B recorded its C-STORE');
  assert.deepEqual(
    seenByA.map((r) => r.sequence),
    seenByA.map((_, i) => i + 1),
    'one strict sequence from 1',
  );

  const out: string[] = [];
  const sink = { write: (chunk: string) => (out.push(chunk), true) } as unknown as NodeJS.WritableStream;
  assert.equal(await verifyAuditFromCli(loadConfig(a.configPath), sink), 0, out.join(''));
  assert.match(
    out.join(''),
    new RegExp(
      `audit trail intact: ${seenByA.length} records verified on the PostgreSQL server 127.0.0.1:${s.port}, database hospital`,
    ),
  );

  // The records are in the database, not in the nodes' data folders.
  const db = await asOwner(t, s);
  const count = await db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM audit_record');
  assert.equal(count.rows[0]?.n, seenByA.length);
});

test('a node whose database password is wrong does not start, and says which server, not the password', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const s = await server.database('wrong_password');
  const wrong = join(tempDir(t), 'db-password');
  writeFileSync(wrong, 'not the password\n', { mode: 0o600 });
  await assert.rejects(
    () => startTestNode(t, { edit: onPostgres({ ...s, passwordFile: wrong }) }),
    (err: unknown) =>
      err instanceof BeeldbrugError &&
      err.code === 'DATABASE_UNREACHABLE' &&
      err.message.includes(`127.0.0.1:${s.port} (database wrong_password, user beeldbrug)`) &&
      err.message.includes('password authentication failed') &&
      !err.message.includes('not the password'),
  );
});
