// The registry on PostgreSQL, as a registry at national scale runs: two `beeldbrug registry start` processes (one of
// them with two workers) on one database, behind one address (HAProxy, TCP mode: mutual TLS passes through to them).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpsRegistryClient, PSEUDONYM_SYSTEM, pseudonymOf } from '../../src/registry/index.ts';
import { call, midden } from '../support/exchange.ts';
import { startHaproxy } from '../support/haproxy.ts';
import { freePort } from '../support/net.ts';
import { asOwner, startPostgres } from '../support/postgres.ts';
import { registryHome, startRegistryProcess } from '../support/registry-process.ts';

const key = Buffer.alloc(32, 7);

test('registry on PostgreSQL: two registry processes behind one address answer from one database, and one that dies leaves the other answering', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const settings = await server.database('registry');
  const { configFile, certs } = registryHome(t, {
    database: { kind: 'postgresql', ...settings },
    workers: 2,
  });
  // Both start at once: each migrates at start, and the tables are made once.
  const [a, b] = await Promise.all([startRegistryProcess(t, configFile), startRegistryProcess(t, configFile)]);
  const frontPort = await freePort();
  if (!(await startHaproxy(t, [{ name: 'registry', port: frontPort, servers: [a.port, b.port] }]))) return;

  const client = (port: number): HttpsRegistryClient =>
    new HttpsRegistryClient({
      baseUrl: `https://127.0.0.1:${port}`,
      tls: { key: certs.midden.keyPem, cert: certs.midden.certPem, ca: certs.ca.certPem },
      networkKey: key,
      ourUra: midden.ura,
    });
  const viaA = client(a.port);
  const viaB = client(b.port);
  t.after(() => viaA.close());
  t.after(() => viaB.close());
  await viaA.register({ add: ['111222333'] });
  const consent = await viaB.recordConsent({
    bsn: '111222333',
    decision: 'permit',
    actor: { role: 'holder', ura: midden.ura },
    recordedBy: { id: 'balie-1', name: 'Balie' },
    channel: 'care-provider',
  });

  const pseudonym = pseudonymOf('111222333', key);
  const search = `/fhir/DocumentReference?subject:identifier=${encodeURIComponent(`${PSEUDONYM_SYSTEM}|${pseudonym}`)}`;
  const custodians = async (port: number): Promise<string[][]> =>
    Promise.all(
      // A new connection each: HAProxy hands them to both processes in turn, and those to their workers.
      Array.from({ length: 12 }, async () => {
        const answer = await call(port, 'GET', search, certs.ca.certPem, certs.noord);
        assert.equal(answer.status, 200, answer.body);
        return (
          JSON.parse(answer.body) as { entry: { resource: { custodian: { identifier: { value: string } } } }[] }
        ).entry.map((e) => e.resource.custodian.identifier.value);
      }),
    );
  assert.deepEqual(
    await custodians(frontPort),
    Array.from({ length: 12 }, () => [midden.ura]),
    'registered through one process, consent recorded through the other: every answer names midden',
  );
  assert.equal(
    (await call(frontPort, 'GET', search, certs.ca.certPem)).status,
    401,
    'behind the proxy the registry still demands a certificate',
  );

  await viaA.revokeConsent(consent.id);
  assert.deepEqual(
    await custodians(frontPort),
    Array.from({ length: 12 }, () => []),
    'the revocation through one process holds in every answer at once: nothing is cached',
  );

  const db = await asOwner(t, settings);
  const tables = await db.query<{ version: number }>(
    "SELECT version FROM registry.schema_migration WHERE component = 'registry'",
  );
  assert.deepEqual(
    tables.rows.map((r) => r.version),
    [1],
    'the two processes migrated once',
  );
  const stored = await db.query<{ pseudonym: Buffer; ura: string }>('SELECT pseudonym, ura FROM registry.locations');
  assert.deepEqual(
    stored.rows.map((r) => [r.pseudonym.toString('base64url'), r.ura]),
    [[pseudonym, midden.ura]],
    'the database holds the pseudonym, never the BSN',
  );

  a.child.kill('SIGKILL');
  await a.exited;
  await viaB.recordConsent({
    bsn: '111222333',
    decision: 'permit',
    actor: { role: 'holder', ura: midden.ura },
    recordedBy: { id: 'balie-1', name: 'Balie' },
    channel: 'care-provider',
  });
  assert.deepEqual(
    await custodians(frontPort),
    Array.from({ length: 12 }, () => [midden.ura]),
    'with one process gone the address still answers every question',
  );
});
