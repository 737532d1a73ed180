// Prometheus metrics of a running node: associations (DCMTK's echoscu, admitted and refused), instances stored,
// transfers by state and the outbox's depth, timeline sources, errors by catalog code. Only our own systems (by
// certificate, as Prometheus scrapes) and admins read them; no label names a patient.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { synthesize } from '../../src/synth/index.ts';
import { filesIn } from '../support/dicom-files.ts';
import { call, midden, noord, startExchangeNode } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { testAccess } from '../support/patient-data.ts';
import { run } from '../support/processes.ts';
import { signedIn } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

/** One sample's value from the exposition text, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('metrics: associations, instances, transfers, queue depth and errors by code; read by our systems and admins only', async (t) => {
  const echoscu = requireTool(t, 'echoscu');
  if (echoscu === undefined) return;
  const n = await startExchangeNode(t, {
    us: noord,
    // Midden is down: a send to it waits in the outbox.
    partners: [{ ...midden, baseUrl: 'https://127.0.0.1:1' }],
    dimsePeers: [{ aeTitle: 'CT_SCANNER', host: '127.0.0.1', description: 'CT' }],
    outbox: { firstRetrySeconds: 3600, maxRetrySeconds: 3600 },
  });
  const scrape = async (): Promise<string> => {
    const a = await call(n.port, 'GET', '/metrics', n.ca.certPem, n.own);
    assert.equal(a.status, 200, a.body);
    return a.body;
  };

  // Two associations: one from a known modality, one from a stranger.
  const echo = (aet: string) => run(echoscu, ['-aet', aet, '-aec', n.n.aeTitle, '127.0.0.1', String(n.n.port)]);
  assert.equal((await echo('CT_SCANNER')).code, 0);
  assert.notEqual((await echo('STRANGER')).code, 0);

  const dir = join(tempDir(t), 'synth');
  const synth = await synthesize({ outDir: dir, patients: 1, seed: 61 });
  const files = filesIn(dir);
  for (const f of files) await testAccess(n.n.node, 'import').importFile(f);
  const study = synth.patients[0]?.studies[0];
  assert.ok(study !== undefined);

  const bakker = await signedIn(t, n, { username: 'c.bakker', name: 'Dr. C. Bakker', role: 'radiologist' });
  const queued = await bakker.call('POST', '/api/v1/outbox', {
    studyInstanceUid: study.studyInstanceUid,
    to: midden.ura,
    purpose: 'transfer',
  });
  assert.equal(queued.status, 202, queued.body);
  assert.equal((await bakker.call('GET', '/api/v1/no-such-route')).status, 404);
  assert.equal((await bakker.call('GET', '/metrics')).status, 403, 'a radiologist does not read the metrics');
  assert.equal((await call(n.port, 'GET', '/metrics', n.ca.certPem)).status, 401, 'nothing without credentials');

  // The send waits for a partner that is down: queued (its first attempt failed) or still being tried.
  await waitFor(
    'the first attempt over',
    async () => (await n.n.node.outbox?.get(JSON.parse(queued.body).transferId))?.attempts === 1,
  );
  const text = await scrape();
  assert.equal(sample(text, 'beeldbrug_dimse_associations_total{outcome="accepted",code=""}'), 1);
  assert.equal(
    sample(text, 'beeldbrug_dimse_associations_total{outcome="rejected",code="CALLING_AE_NOT_RECOGNIZED"}'),
    1,
    text
      .split('\n')
      .filter((l) => l.startsWith('beeldbrug_dimse'))
      .join('\n'),
  );
  assert.equal(sample(text, 'beeldbrug_instances_stored_total'), files.length);
  assert.equal(sample(text, 'beeldbrug_outbox_queue_depth'), 1);
  assert.equal(
    (sample(text, 'beeldbrug_transfers_outgoing{state="queued"}') ?? 0) +
      (sample(text, 'beeldbrug_transfers_outgoing{state="sending"}') ?? 0),
    1,
  );
  assert.equal(sample(text, 'beeldbrug_errors_total{code="ROUTE_NOT_FOUND",interface="http"}'), 1);
  assert.equal(sample(text, 'beeldbrug_errors_total{code="ACCESS_DENIED",interface="http"}'), 1, 'the radiologist');
  assert.equal(sample(text, 'beeldbrug_errors_total{code="SIGN_IN_REQUIRED",interface="http"}'), 1);
  assert.ok((sample(text, 'beeldbrug_process_resident_memory_bytes') ?? 0) > 0, 'process metrics too');
  assert.doesNotMatch(text, new RegExp(study.studyInstanceUid.replaceAll('.', '\\.')), 'no study named');

  const admin = await signedIn(t, n, { username: 'b.beheer', name: 'B. Beheer', role: 'admin' });
  const byAdmin = await admin.call('GET', '/metrics');
  assert.equal(byAdmin.status, 200);
  assert.match(byAdmin.body, /# TYPE beeldbrug_timeline_source_seconds histogram/);
});
