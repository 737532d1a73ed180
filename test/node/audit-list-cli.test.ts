// `beeldbrug audit list`: the auditor reads the trail from the command line through the node's API, with their own
// sign-in (two factors), and the reading is itself a record with its purpose. Anyone else is refused.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { synthesize } from '../../src/synth/index.ts';
import { startExchangeNode } from '../support/exchange.ts';
import { importFiles } from '../support/patient-data.ts';
import { addAccount, cliAs, cliLogin } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';

test('beeldbrug audit list: an auditor reads the records about a patient, and the reading is recorded with its purpose', async (t) => {
  const n = await startExchangeNode(t);
  const dir = tempDir(t);
  const synth = await synthesize({ outDir: join(dir, 'synth'), patients: 1, studiesPerPatient: [1, 1], seed: 71 });
  const patient = synth.patients[0];
  assert.ok(patient?.bsn !== undefined);
  await importFiles(n.n.node, patient.studies[0]!.files);
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, n.ca.certPem);

  const auditorSecret = await addAccount(t, n, { username: 'a.devries', name: 'A. de Vries', role: 'auditor' });
  const auditorSession = join(dir, 'auditor.json');
  assert.equal((await cliLogin(n, auditorSession, caFile, 'a.devries', auditorSecret)).code, 0);

  const listed = await cliAs(auditorSession, [
    'audit',
    'list',
    '--bsn',
    patient.bsn,
    '--purpose',
    'inzageverzoek van de patiënt',
  ]);
  assert.equal(listed.code, 0, listed.stderr);
  const lines = listed.stdout.trim().split('\n');
  // The import, and this reading itself: it is recorded before anything is read, so it is in what it reads.
  assert.equal(lines.length, 2, listed.stdout);
  assert.match(lines[0]!, new RegExp(`#\\d+  import  test  from .*patient ${patient.bsn}  study imported from files`));
  assert.match(lines[1]!, /audit-read {2}A\. de Vries {2}from 127\.0\.0\.1 .*\[inzageverzoek van de patiënt\]/);

  const reading = (await n.n.node.audit.list({ action: 'audit-read' })).at(-1);
  assert.equal(reading?.user.name, 'A. de Vries');
  assert.equal(reading?.grounds.purpose, 'inzageverzoek van de patiënt');

  const asJson = await cliAs(auditorSession, ['audit', 'list', '--action', 'login', '--json']);
  assert.equal(asJson.code, 0, asJson.stderr);
  const records = JSON.parse(asJson.stdout) as { action: string; user: { name: string } }[];
  assert.ok(records.length > 0 && records.every((r) => r.action === 'login'));
  assert.ok(records.some((r) => r.user.name === 'A. de Vries'));

  // A radiologist, signed in, is not an auditor: refused, exit 1, and the node says why.
  const radSecret = await addAccount(t, n, {
    username: 'c.bakker',
    name: 'Dr. C. Bakker',
    role: 'radiologist',
    uziRoleCode: '01.015',
  });
  const radSession = join(dir, 'radiologist.json');
  assert.equal((await cliLogin(n, radSession, caFile, 'c.bakker', radSecret)).code, 0);
  const refused = await cliAs(radSession, ['audit', 'list', '--bsn', patient.bsn]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /role radiologist may not/);
  assert.doesNotMatch(refused.stdout, new RegExp(patient.bsn));
});
