// `beeldbrug doctor` against what the internet-wide PACS scans found: an Orthanc set up open (any AE title, C-FIND for
// everyone, factory credentials on its web interface) beside one set up as a PACS should be, and this node's own ports.
// The findings name the problem and the fix, and never print what the open PACS revealed.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { synthesize } from '../../src/synth/index.ts';
import { startExchangeNode } from '../support/exchange.ts';
import { startOrthanc } from '../support/orthanc-pacs.ts';
import { beeldbrugCli, run } from '../support/processes.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

const doctor = (configPath: string) =>
  run(process.execPath, [...beeldbrugCli, 'doctor', '--config', configPath], 60_000);

test("doctor: an open PACS is reported with its fixes, a closed one passes, and the node's own ports hold", async (t) => {
  if (requireTool(t, 'Orthanc') === undefined) return;
  const open = await startOrthanc({ dir: tempDir(t), aeTitle: 'OPEN_PACS', insecure: true });
  t.after(() => open.stop());
  const closed = await startOrthanc({ dir: tempDir(t), aeTitle: 'SAFE_PACS' });
  t.after(() => closed.stop());
  const synth = await synthesize({
    outDir: join(tempDir(t), 'synth'),
    patients: 1,
    seed: 7,
    studiesPerPatient: [1, 1],
    modalities: ['CR'],
  });
  for (const f of synth.patients[0]?.studies[0]?.files ?? []) await open.upload(f);

  const { n } = await startExchangeNode(t, {
    dimsePeers: [
      { aeTitle: 'OPEN_PACS', host: '127.0.0.1', port: open.dicomPort, description: 'open on purpose' },
      { aeTitle: 'SAFE_PACS', host: '127.0.0.1', port: closed.dicomPort, description: 'set up as a PACS should be' },
    ],
  });
  // The web interfaces, as an administrator adds them for doctor to probe.
  const raw = parseYaml(readFileSync(n.configPath, 'utf8')) as {
    dimse: { peers: { aeTitle: string; web?: string }[] };
  };
  for (const p of raw.dimse.peers)
    p.web = `http://127.0.0.1:${p.aeTitle === 'OPEN_PACS' ? open.httpPort : closed.httpPort}/`;
  writeFileSync(n.configPath, stringifyYaml(raw));

  const r = await doctor(n.configPath);
  assert.equal(r.code, 1, 'a critical finding fails the run');
  const line = (re: RegExp): void => assert.match(r.stdout, re);
  line(
    /^CRITICAL PACS OPEN_PACS 127\.0\.0\.1:\d+: accepts an association from BB_DOCTOR_PROBE, an AE title it cannot know .*\n\s+fix: allow only known AE title \+ host pairs/m,
  );
  line(/^CRITICAL PACS OPEN_PACS .*: answers a C-FIND from that stranger: 1 studies visible/m);
  line(
    /^WARNING  PACS OPEN_PACS .*: accepts an association addressed to any called AE title\n\s+fix: check the called AE title/m,
  );
  line(
    /^CRITICAL PACS OPEN_PACS .*: web http:\/\/127\.0\.0\.1:\d+\/: accepts factory credentials \(orthanc\/orthanc\)/m,
  );
  line(/^ok\s+PACS SAFE_PACS .*: refuses an association from the unknown AE title BB_DOCTOR_PROBE/m);
  line(/^WARNING  PACS SAFE_PACS .*: web .*: a web interface over plain HTTP/m);
  assert.doesNotMatch(
    r.stdout,
    /SAFE_PACS.*(factory credentials|C-FIND from that stranger|any called AE)/,
    'nothing critical about the closed PACS',
  );
  line(
    /^ok\s+dimse\.listeners\[0\] 127\.0\.0\.1:\d+: an unknown AE title \(BB_DOCTOR_PROBE\) is refused at association/m,
  );
  line(/^ok\s+exchange\.listen 127\.0\.0\.1:\d+: HTTPS only; plain HTTP gets no answer/m);
  line(/^ok\s+configuration: no insecure setting found/m);
  line(/^ok\s+audit trail: intact: \d+ records in \S+audit\.sqlite, up to the witness of the newest/m);
  line(/^3 critical, 3 warnings, 5 ok$/m);
  const p = synth.patients[0];
  assert.ok(p !== undefined);
  for (const secret of [p.bsn, p.patientId, p.name.split('^')[0] ?? p.name])
    assert.ok(!r.stdout.includes(secret), 'nothing the open PACS revealed is printed');

  // A configuration the node would refuse to start with, for a node that is not running: both are reported.
  const raw2 = parseYaml(readFileSync(n.configPath, 'utf8')) as {
    dimse: { listeners: { host: string; port: number }[]; peers: unknown[] };
    exchange: { partners: unknown[] };
    store: { encryptionKeyFile: string };
    audit: { keyFile: string };
  };
  const listener = raw2.dimse.listeners[0];
  assert.ok(listener !== undefined);
  listener.host = '0.0.0.0';
  listener.port = 1;
  raw2.dimse.peers = [{ aeTitle: 'ANYONE', host: '0.0.0.0' }];
  raw2.exchange.partners = [];
  // Key files as a careless copy leaves them: readable by everyone.
  const copied = join(tempDir(t), 'keys');
  mkdirSync(copied);
  for (const k of ['store.key', 'audit.key']) copyFileSync(join(n.dir, 'keys', k), join(copied, k));
  chmodSync(join(copied, 'store.key'), 0o644);
  raw2.store.encryptionKeyFile = join(copied, 'store.key');
  raw2.audit.keyFile = join(copied, 'audit.key');
  const other = join(tempDir(t), 'beeldbrug.yaml');
  writeFileSync(other, stringifyYaml({ ...raw2, dataDir: join(n.dir, 'data') }));
  const bad = await doctor(other);
  assert.equal(bad.code, 1);
  assert.match(
    bad.stdout,
    /^CRITICAL dimse\.listeners\[0\]: DICOM on 0\.0\.0\.0:1 without TLS.*\(the node refuses to start\)\n\s+fix: add tls/m,
  );
  assert.match(bad.stdout, /^CRITICAL exchange\.partners: the node-to-node routes are on but the trust list is empty/m);
  assert.match(
    bad.stdout,
    /^CRITICAL store\.encryptionKeyFile: .*store\.key is open to its group and all other users \(mode 0644\).*\(the node refuses to start\)\n\s+fix: chmod 600 /m,
  );
  assert.match(
    bad.stdout,
    /^CRITICAL dimse\.peers\[0\]\.host: the peer ANYONE has host 0\.0\.0\.0, the wildcard address/m,
  );
  assert.match(bad.stdout, /^WARNING  dimse\.listeners\[0\] 0\.0\.0\.0:1: not reachable .*is the node running\?/m);
});

test('doctor: a truncated audit trail is critical before the next start finds it, and a TLS peer without a certificate binding is a warning', async (t) => {
  const { n } = await startExchangeNode(t, {
    dimsePeers: [{ aeTitle: 'PACS_TLS', host: '127.0.0.1', port: 1, description: 'a PACS over DICOM TLS' }],
  });
  // The PACS is reached over DICOM TLS, but nobody bound it to its certificate.
  const raw = parseYaml(readFileSync(n.configPath, 'utf8')) as { dimse: { peers: { tls?: boolean }[] } };
  for (const p of raw.dimse.peers) p.tls = true;
  writeFileSync(n.configPath, stringifyYaml(raw));
  for (let i = 0; i < 3; i++)
    await n.node.audit.record({
      action: 'read',
      outcome: 'success',
      description: `record ${i}`,
      user: { id: 'u1', name: 'Dr. A' },
      accessPoint: { node: 'test' },
      objects: {},
      grounds: { purpose: 'treatment' },
    });
  const intact = await doctor(n.configPath);
  assert.match(intact.stdout, /^ok\s+audit trail: intact: \d+ records/m);
  assert.match(
    intact.stdout,
    /^WARNING  dimse\.peers PACS_TLS: over DICOM TLS, any certificate of our own organization \(URA \d{8}\) stands for PACS_TLS\n\s+fix: bind it to its own certificate/m,
  );
  assert.match(intact.stdout, /^WARNING  PACS PACS_TLS 127\.0\.0\.1:1: no TLS answer/m);
  await n.node.close();

  // Someone removes the newest records from the file; the witness outside it still names the last one.
  const db = new DatabaseSync(join(n.dir, 'data', 'audit.sqlite'));
  const newest = (db.prepare('SELECT max(sequence) AS s FROM audit_record').get() as { s: number }).s;
  // An attacker with the file drops the guard first, removes the rows, and moves the in-file head back with them.
  db.exec('DROP TRIGGER audit_no_delete');
  db.exec(`DELETE FROM audit_record WHERE sequence > ${newest - 2}`);
  db.exec('DELETE FROM audit_head');
  db.close();
  const broken = await doctor(n.configPath);
  assert.equal(broken.code, 1, 'a critical finding fails the run');
  assert.match(
    broken.stdout,
    /^CRITICAL audit trail: broken at record \d+: records \d+ to \d+ are missing: the witness .* names record \d+, the trail ends at \d+\n\s+fix: run beeldbrug audit verify/m,
  );
});
