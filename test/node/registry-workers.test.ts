// `beeldbrug registry start` with several worker processes, as a registry at national scale runs: one port served by
// all of them, one query log, a clean stop on SIGTERM, and no half-working registry when a worker dies.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type TestContext, test } from 'node:test';
import { HttpsRegistryClient, PSEUDONYM_SYSTEM, pseudonymOf } from '../../src/registry/index.ts';
import { call, midden } from '../support/exchange.ts';
import { watchExits } from '../support/processes.ts';
import {
  registryHome,
  startRegistryProcess,
  type RegistryCertificates,
  type RegistryProcess,
} from '../support/registry-process.ts';

const key = Buffer.alloc(32, 9);

async function startWithWorkers(
  t: TestContext,
  workers: number,
): Promise<RegistryProcess & { certs: RegistryCertificates }> {
  const { configFile, certs } = registryHome(t, { workers });
  return { ...(await startRegistryProcess(t, configFile)), certs };
}

function workerPids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

test('registry start with two workers: one port, one query log, every answer right, and SIGTERM stops all processes', async (t) => {
  const r = await startWithWorkers(t, 2);
  const pid = r.child.pid ?? 0;
  assert.equal(workerPids(pid).length, 2, 'two worker processes under the registry');
  const client = (cert: { keyPem: string; certPem: string }, ura: string): HttpsRegistryClient =>
    new HttpsRegistryClient({
      baseUrl: `https://127.0.0.1:${r.port}`,
      tls: { key: cert.keyPem, cert: cert.certPem, ca: r.certs.ca.certPem },
      networkKey: key,
      ourUra: ura,
    });
  const asMidden = client(r.certs.midden, midden.ura);
  t.after(() => asMidden.close());
  await asMidden.register({ add: ['111222333'] });
  await asMidden.recordConsent({
    bsn: '111222333',
    decision: 'permit',
    actor: { role: 'holder', ura: midden.ura },
    recordedBy: { id: 'balie-1', name: 'Balie' },
    channel: 'care-provider',
  });
  const pseudonym = pseudonymOf('111222333', key);

  // Each call is a new connection, so the primary hands them to both workers in turn; both read the same file.
  const search = `/fhir/DocumentReference?subject:identifier=${encodeURIComponent(`${PSEUDONYM_SYSTEM}|${pseudonym}`)}`;
  const answers = await Promise.all(
    Array.from({ length: 12 }, () => call(r.port, 'GET', search, r.certs.ca.certPem, r.certs.noord)),
  );
  for (const a of answers) {
    assert.equal(a.status, 200);
    assert.deepEqual(
      (JSON.parse(a.body) as { entry: { resource: { custodian: { identifier: { value: string } } } }[] }).entry.map(
        (e) => e.resource.custodian.identifier.value,
      ),
      [midden.ura],
    );
  }
  assert.equal(
    (await call(r.port, 'GET', search, r.certs.ca.certPem)).status,
    401,
    'every worker demands a certificate',
  );

  const workers = workerPids(pid);
  r.child.kill('SIGTERM');
  const { code } = await r.exited;
  assert.equal(code, 0, r.stderr());
  for (const w of workers) assert.throws(() => process.kill(w, 0), /ESRCH/, `worker ${w} stopped too`);
});

test('registry start with two workers: a worker that dies stops the registry with an error instead of serving on with half', async (t) => {
  const r = await startWithWorkers(t, 2);
  const [first, second] = workerPids(r.child.pid ?? 0);
  assert.ok(first !== undefined && second !== undefined);
  // The registry's exit does not wait for its workers' exits, and they are not our children: watch the other one.
  const watching = await watchExits(t, [second]);
  assert.ok(watching !== undefined, 'the other worker runs');
  process.kill(first, 'SIGKILL');
  const { code } = await r.exited;
  assert.equal(code, 1);
  await watching.exited;
  assert.throws(() => process.kill(second, 0), /ESRCH/, 'the other worker was stopped');
});
