// NEN 7513 coverage for DIMSE, as audit-coverage.test.ts does for HTTP: every DIMSE service the node accepts that
// touches patient data is driven with DCMTK against a running node and must leave a complete audit record (who, from
// where, which patient, which objects, on what grounds, when). The list of query/retrieve services comes from the
// DIMSE layer's own acceptance policy, so a model added there that is not driven here fails this test. C-ECHO carries
// no patient data: it is checked to write nothing.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AuditRecord } from '../../src/audit/index.ts';
import { QueryRetrieveSopClasses, Uid } from '../../src/dimse/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { run, startPeer } from '../dimse/helpers.ts';
import { freePort, waitFor } from '../support/net.ts';
import { startTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

const PACS = 'PACS_AE';

test('audit coverage: C-STORE and every query/retrieve model (C-FIND, C-MOVE, C-GET) write a complete record; C-ECHO writes none', async (t) => {
  const tools = ['storescu', 'findscu', 'movescu', 'getscu', 'storescp', 'echoscu'].map((p) => requireTool(t, p));
  if (tools.includes(undefined)) return;
  const work = tempDir(t);
  const synth = await synthesize({ outDir: join(work, 'synth'), patients: 1, seed: 23 });
  const patient = synth.patients[0];
  const study = patient?.studies[0];
  assert.ok(patient !== undefined && study !== undefined);

  const destPort = await freePort();
  const n = await startTestNode(t, {
    peers: [{ aeTitle: PACS, host: '127.0.0.1', port: destPort, description: 'test PACS' }],
  });
  const peer = ['-aet', PACS, '-aec', n.aeTitle, '127.0.0.1', String(n.port)];
  const moved = join(work, 'moved');
  mkdirSync(moved);
  startPeer(t, 'storescp', ['--aetitle', PACS, '-od', moved, String(destPort)]);
  await waitFor(
    'storescp',
    async () => (await run('echoscu', ['-aec', PACS, '127.0.0.1', String(destPort)])).code === 0,
  );

  /** Every record about patient data must say who, from where, which patient, which objects, why and when. */
  const assertComplete = (what: string, r: AuditRecord, objects: boolean): void => {
    assert.equal(r.outcome, 'success', what);
    assert.match(r.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `${what}: when, UTC in ms`);
    assert.deepEqual(
      r.user,
      { id: `dicom:${PACS}`, name: `DICOM peer ${PACS}`, organizationUra: '12345678' },
      `${what}: who`,
    );
    assert.deepEqual(
      r.accessPoint,
      { node: `test node ${n.aeTitle}`, ip: '127.0.0.1', aeTitle: n.aeTitle },
      `${what}: from where`,
    );
    assert.equal(r.patient?.bsn, patient.bsn, `${what}: which patient`);
    if (objects) assert.equal(r.objects.studyInstanceUid, study.studyInstanceUid, `${what}: which study`);
    assert.ok((r.grounds.purpose ?? '').length > 0, `${what}: on what grounds`);
    assert.equal(r.grounds.authorization, 'DICOM allow-list (AE title + host)', `${what}: by what authorization`);
  };
  /** Runs a DCMTK tool and returns the records it left; every record of one operation must be complete. */
  const drive = async (what: string, tool: string, args: string[], objects: boolean): Promise<AuditRecord[]> => {
    const from = (await n.node.audit.list()).length;
    const r = await run(tool, args);
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    const records = (await n.node.audit.list()).slice(from);
    assert.ok(records.length > 0, `${what} left an audit record`);
    for (const rec of records) assertComplete(what, rec, objects);
    return records;
  };

  const echoFrom = (await n.node.audit.list()).length;
  assert.equal((await run('echoscu', peer)).code, 0);
  assert.equal((await n.node.audit.list()).length, echoFrom, 'C-ECHO touches no patient data and writes no record');

  const stored = await drive('C-STORE', 'storescu', [...peer, ...study.files], true);
  assert.deepEqual(
    stored.map((r) => r.action),
    ['receive'],
    'one receive record for the study, not one per instance',
  );

  // Each query/retrieve model, at the level that names the patient (patient root) or the study (study root).
  const keys = (root: '-P' | '-S'): string[] =>
    root === '-P'
      ? ['-k', 'QueryRetrieveLevel=PATIENT', '-k', `PatientID=${patient.patientId}`]
      : [
          '-k',
          'QueryRetrieveLevel=STUDY',
          '-k',
          `PatientID=${patient.patientId}`,
          '-k',
          `StudyInstanceUID=${study.studyInstanceUid}`,
        ];
  const findDir = join(work, 'found');
  mkdirSync(findDir);
  const got = join(work, 'got');
  mkdirSync(got);
  const services: Record<string, () => Promise<AuditRecord[]>> = {
    [Uid.PatientRootFind]: () =>
      drive('C-FIND, patient root', 'findscu', ['-P', ...peer, ...keys('-P'), '-k', 'PatientName'], false),
    [Uid.StudyRootFind]: () =>
      drive('C-FIND, study root', 'findscu', ['-S', ...peer, ...keys('-S'), '-k', 'PatientName'], true),
    [Uid.PatientRootMove]: () =>
      drive(
        'C-MOVE, patient root',
        'movescu',
        ['-P', ...peer.slice(0, 2), '-aem', PACS, ...peer.slice(2), ...keys('-P')],
        true,
      ),
    [Uid.StudyRootMove]: () =>
      drive(
        'C-MOVE, study root',
        'movescu',
        ['-S', ...peer.slice(0, 2), '-aem', PACS, ...peer.slice(2), ...keys('-S')],
        true,
      ),
    [Uid.PatientRootGet]: () =>
      drive('C-GET, patient root', 'getscu', ['-P', ...peer, '-od', got, ...keys('-P')], true),
    [Uid.StudyRootGet]: () => drive('C-GET, study root', 'getscu', ['-S', ...peer, '-od', got, ...keys('-S')], true),
  };
  const actions = new Map<string, string[]>();
  for (const [sopClass, driveIt] of Object.entries(services))
    actions.set(
      sopClass,
      (await driveIt()).map((r) => r.action),
    );
  assert.deepEqual(
    Object.keys(services).sort(),
    [...QueryRetrieveSopClasses].sort(),
    'every query/retrieve model the node accepts is driven',
  );
  for (const uid of [Uid.PatientRootFind, Uid.StudyRootFind]) assert.deepEqual(actions.get(uid), ['query'], uid);
  for (const uid of [Uid.PatientRootMove, Uid.StudyRootMove, Uid.PatientRootGet, Uid.StudyRootGet])
    assert.deepEqual(actions.get(uid), ['retrieve'], uid);
  assert.deepEqual(
    await n.node.audit.verify(),
    { ok: true, records: (await n.node.audit.list()).length },
    'and the chain is intact',
  );
});
