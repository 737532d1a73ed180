// `beeldbrug registry start` with several worker processes, as a registry at national scale runs: one port served by
// all of them, one query log, a clean stop on SIGTERM, and no half-working registry when a worker dies.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { HttpsRegistryClient, PSEUDONYM_SYSTEM, pseudonymOf } from '../../src/registry/index.ts';
import { call, midden, noord } from '../support/exchange.ts';
import { beeldbrug, networkCertificates } from '../support/pki-cli.ts';

const main = new URL('../../src/main.ts', import.meta.url).pathname;
const key = Buffer.alloc(32, 9);

interface Started {
  child: ChildProcess;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

async function startWithWorkers(
  t: TestContext,
  workers: number,
): Promise<Started & { dir: string; certs: ReturnType<typeof networkCertificates<'registry' | 'noord' | 'midden'>> }> {
  const certs = networkCertificates(t, { registry: { name: 'Regio', ura: '10000099' }, noord, midden });
  const dir = join(certs.dir, 'registry-home');
  beeldbrug([
    'registry',
    'init',
    dir,
    '--ura',
    '10000099',
    '--port',
    '0',
    '--client',
    `${noord.ura}:${noord.name}`,
    '--client',
    `${midden.ura}:${midden.name}`,
  ]);
  const configFile = join(dir, 'registry.yaml');
  // `registry init` writes a commented YAML file; an administrator adds the worker count to it.
  writeFileSync(configFile, `${readFileSync(configFile, 'utf8')}workers: ${workers}\n`);
  beeldbrug([
    'pki',
    'node',
    '--ca',
    join(certs.dir, 'ca'),
    '--out',
    join(dir, 'pki'),
    '--name',
    'registry.test',
    '--organization',
    'Regio',
    '--ura',
    '10000099',
    '--host',
    '127.0.0.1',
  ]);
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', main, 'registry', 'start', '--config', configFile],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      const ready = /^READY registry https=(\d+) workers=(\d+)$/m.exec(stdout);
      if (ready !== null) resolve(Number(ready[1]));
    });
    void exited.then(() => reject(new Error(`the registry stopped before it was ready:\n${stdout}\n${stderr}`)));
  });
  return { child, port, exited, stderr: () => stderr, dir, certs };
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
  process.kill(first, 'SIGKILL');
  const { code } = await r.exited;
  assert.equal(code, 1);
  // The registry's exit does not wait for its workers' exits: wait for the other one to be gone (the test runner's
  // timeout fails a worker that stays), not for a guessed 200 ms.
  const gone = (): boolean => {
    try {
      process.kill(second, 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  };
  while (!gone()) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.throws(() => process.kill(second, 0), /ESRCH/, 'the other worker was stopped');
});
