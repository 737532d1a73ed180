// Two hospitals, each with its node's records on its own PostgreSQL database (database: postgresql): a radiologist at
// Noord sends a study, Midden receives it. The study index, the outbox and the inbox are on the servers, not in the
// data folders, and the sender's outbox survives a restart there.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { createTestCa } from '../../src/auth/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { midden, noord, startExchangeNode } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { restartTestNode } from '../support/node.ts';
import { importSynthPatient } from '../support/patient-data.ts';
import { asOwner, startPostgres } from '../support/postgres.ts';
import { signedIn } from '../support/sign-in.ts';

test('a study goes from Noord to Midden with each node’s index, outbox and inbox on PostgreSQL', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const [noordDb, middenDb] = [await server.database('noord'), await server.database('midden')];
  const ca = createTestCa({ commonName: 'regio test CA' });
  const receiver = await startExchangeNode(t, { ca, us: midden, partners: [noord], database: middenDb });
  let sender = await startExchangeNode(t, {
    ca,
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiver.port}` }],
    database: noordDb,
  });
  const study = await importSynthPatient(t, sender.n.node, 47);
  const bakker = await signedIn(t, sender, {
    username: 'c.bakker',
    name: 'Dr. C. Bakker',
    role: 'radiologist',
    uziRoleCode: '01.015',
  });
  const queued = await bakker.call('POST', '/api/v1/outbox', {
    studyInstanceUid: study.studyInstanceUid,
    to: midden.ura,
    purpose: 'transfer',
    urgency: 'urgent',
    reason: 'overplaatsing IC',
  });
  assert.equal(queued.status, 202, queued.body);
  const { transferId } = JSON.parse(queued.body) as { transferId: string };
  const outbox = () => sender.n.node.outbox!;
  await waitFor('delivery', async () => (await outbox().get(transferId))?.state === 'delivered');
  const [atMidden, atNoord] = [await asOwner(t, middenDb), await asOwner(t, noordDb)];
  const query = async (db: pg.Client, sql: string): Promise<Record<string, unknown>[]> => (await db.query(sql)).rows;

  assert.equal((await receiver.n.node.store.index.stats()).instances, study.instances, 'every instance arrived');
  assert.deepEqual(
    await query(atMidden, 'SELECT transfer_id, state FROM incoming_transfer'),
    [{ transfer_id: transferId, state: 'delivered' }],
    'the inbox is on Midden’s server',
  );
  assert.deepEqual(await query(atMidden, 'SELECT count(*)::int AS n FROM incoming_instance'), [{ n: study.instances }]);
  assert.deepEqual(
    await query(atMidden, `SELECT count(*)::int AS n FROM instances`),
    [{ n: study.instances }],
    'the received study is indexed on Midden’s server',
  );
  assert.deepEqual(
    await query(atNoord, `SELECT state, sent FROM outgoing_transfer WHERE transfer_id = '${transferId}'`),
    [{ state: 'delivered', sent: study.instances }],
    'the outbox is on Noord’s server',
  );
  for (const node of [sender, receiver])
    for (const file of ['index.sqlite', 'exchange.sqlite', 'audit.sqlite'])
      assert.equal(
        existsSync(join(loadConfig(node.n.configPath).dataDir, file)),
        false,
        `no ${file} in ${node.n.aeTitle}'s data folder`,
      );

  const held = await sender.n.node.store.index.stats();
  sender = { ...sender, n: await restartTestNode(t, sender.n) };
  assert.equal((await outbox().get(transferId))?.state, 'delivered', 'the outbox is read back from the server');
  assert.deepEqual(await sender.n.node.store.index.stats(), held, 'and so is the index, nothing indexed twice');
});
