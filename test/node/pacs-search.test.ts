// The hospital's PACS from the workspace's API: a search is a C-FIND to a real Orthanc, recorded per patient shown in
// the name of who searched; a study found there is fetched into the node (C-MOVE), after which the node holds it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { synthesize } from '../../src/synth/index.ts';
import { startExchangeNode } from '../support/exchange.ts';
import { startOrthanc } from '../support/orthanc-pacs.ts';
import { signedIn } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

interface SearchView {
  pacs: { aeTitle: string; description?: string };
  studies: {
    studyInstanceUid: string;
    patient: { patientId: string; bsn?: string };
    instances: number;
    heldHere: boolean;
  }[];
  more: boolean;
}

test('search the PACS by patient, date and modality; fetch a study from it into the node; both recorded', async (t) => {
  if (requireTool(t, 'Orthanc') === undefined) return;
  const pacs = await startOrthanc({ dir: tempDir(t), aeTitle: 'PACS_NOORD', modalities: {} });
  t.after(() => pacs.stop());
  const n = await startExchangeNode(t, {
    dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', port: pacs.dicomPort, description: 'PACS Noord' }],
    fetchFrom: { aeTitle: 'PACS_NOORD', method: 'c-move' },
  });
  await pacs.rest('PUT', '/modalities/beeldbrug', { AET: n.n.aeTitle, Host: '127.0.0.1', Port: n.n.port });
  const synth = await synthesize({ outDir: join(tempDir(t), 'synth'), patients: 2, seed: 91 });
  for (const p of synth.patients) for (const s of p.studies) for (const f of s.files) await pacs.upload(f);
  const [first, second] = synth.patients;
  assert.ok(first !== undefined && second !== undefined);
  const study = first.studies[0];
  assert.ok(study !== undefined);

  const bakker = await signedIn(t, n, { username: 'c.bakker', name: 'Dr. C. Bakker', role: 'radiologist' });
  const search = async (q: string): Promise<SearchView> => {
    const a = await bakker.call('GET', `/api/v1/pacs/studies?${q}`);
    assert.equal(a.status, 200, a.body);
    return JSON.parse(a.body) as SearchView;
  };

  assert.equal((await bakker.call('GET', '/api/v1/pacs/studies')).status, 400, 'not the whole PACS at once');
  assert.equal((await bakker.call('GET', '/api/v1/pacs/studies?modality=ct')).status, 400);

  const byPatient = await search(`patientId=${first.bsn}`);
  assert.deepEqual(byPatient.pacs, { aeTitle: 'PACS_NOORD', description: 'PACS Noord' });
  assert.deepEqual(
    byPatient.studies.map((s) => s.studyInstanceUid).sort(),
    first.studies.map((s) => s.studyInstanceUid).sort(),
  );
  assert.ok(byPatient.studies.every((s) => s.patient.bsn === first.bsn && !s.heldHere));
  const one = await search(`patientId=${first.bsn}&limit=1`);
  assert.equal(one.studies.length, 1);
  assert.equal(one.more, first.studies.length > 1, 'told that more matched');
  const byDate = await search(`from=${iso(study.studyDate)}&to=${iso(study.studyDate)}`);
  assert.ok(
    byDate.studies.some((s) => s.studyInstanceUid === study.studyInstanceUid),
    'found by its date',
  );

  // Recorded per patient shown, in the searcher's name.
  const records = (await n.n.node.audit.list({ action: 'query' })).filter(
    (r) => r.user.id === bakker.id && r.description.startsWith('PACS PACS_NOORD searched'),
  );
  assert.ok(records.some((r) => r.patient?.bsn === first.bsn));
  assert.ok(!records.some((r) => r.patient?.bsn === second.bsn), 'a patient not shown has no record of it');

  // Fetched into the node: the node holds all of it, and says so in the next search.
  const fetched = await bakker.call('POST', '/api/v1/pacs/retrievals', { studyInstanceUid: study.studyInstanceUid });
  assert.equal(fetched.status, 200, fetched.body);
  assert.equal((JSON.parse(fetched.body) as { retrieved: number }).retrieved, study.instances);
  assert.equal((await n.n.node.store.index.stats()).instances, study.instances);
  const again = await search(`patientId=${first.bsn}`);
  assert.equal(again.studies.find((s) => s.studyInstanceUid === study.studyInstanceUid)?.heldHere, true);
  const retrieval = (await n.n.node.audit.list({ action: 'retrieve' })).find((r) => r.user.id === bakker.id);
  assert.match(retrieval?.description ?? '', /fetched from the PACS PACS_NOORD into this node by Dr\. C\. Bakker/);
  assert.equal(retrieval?.patient?.bsn, first.bsn);
  assert.equal(
    (await bakker.call('POST', '/api/v1/pacs/retrievals', { studyInstanceUid: '1.2.3.4.5' })).status,
    404,
    'a study the PACS does not have',
  );

  const auditor = await signedIn(t, n, { username: 'a.audit', name: 'A. Auditor', role: 'auditor' });
  assert.equal((await auditor.call('GET', `/api/v1/pacs/studies?patientId=${first.bsn}`)).status, 403);

  // A node without a PACS to search says so.
  const bare = await startExchangeNode(t);
  const visser = await signedIn(t, bare, { username: 'r.visser', name: 'Dr. R. Visser', role: 'radiologist' });
  const none = await visser.call('GET', `/api/v1/pacs/studies?patientId=${first.bsn}`);
  assert.equal(none.status, 422);
  assert.equal((JSON.parse(none.body) as { code: string }).code, 'PACS_NOT_CONFIGURED');
});

/** YYYYMMDD as YYYY-MM-DD, as the query takes it. */
function iso(d: string): string {
  return `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;
}
