// Audit export to the hospital's audit repository (IHE ATNA): every record of the trail goes out as a DICOM audit
// message (PS3.15 A.5) in an RFC 5424 syslog message over RFC 5425 TLS with mutual authentication. The repository is
// rsyslog, started by the test; each message is validated with xmllint against the PS3.15 structure
// (test/support/dicom-audit-message.rng). A repository that is down delays messages but loses none; one whose
// certificate is not from the trusted CA gets nothing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { createServer } from 'node:tls';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { AUDIT_ACTIONS, openSqliteAuditTrail, type AuditEvent, type ChainedAuditTrail } from '../../src/audit/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { openPostgresPool, SOLE_NODE } from '../../src/database/index.ts';
import { AtnaExporter, fileExportCursor, openPostgresExportCursor } from '../../src/node/atna-export.ts';
import { createTestCa, issueNodeCertificate } from '../../src/auth/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { run } from '../dimse/helpers.ts';
import { filesIn } from '../support/dicom-files.ts';
import { freePort, waitFor } from '../support/net.ts';
import { logLines, startTestNode, type TestNode } from '../support/node.ts';
import { startPostgres } from '../support/postgres.ts';
import { type Rsyslog, startRsyslog } from '../support/rsyslog.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

const SCHEMA = new URL('../support/dicom-audit-message.rng', import.meta.url).pathname;
const HEADER =
  /^<85>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+) beeldbrug (\d+) IHE\+RFC-3881 - (<\?xml .*<\/AuditMessage>)$/;

/** Validates audit messages with xmllint against the PS3.15 A.5.1 structure; returns xmllint's complaints. */
async function validate(
  xmllint: string,
  dir: string,
  messages: readonly string[],
): Promise<{ code: number | null; stderr: string }> {
  mkdirSync(dir, { recursive: true });
  const files = messages.map((xml, i) => {
    const f = join(dir, `message-${i}.xml`);
    writeFileSync(f, xml);
    return f;
  });
  const r = await run(xmllint, ['--noout', '--relaxng', SCHEMA, ...files]);
  return { code: r.code, stderr: r.stderr };
}

const attribute = (xml: string, element: string, name: string): string | undefined =>
  new RegExp(`<${element}\\b[^>]*\\b${name}="([^"]*)"`).exec(xml)?.[1];

/** A plain record of someone reading, with the description that tells it apart. */
const event = (description: string): AuditEvent => ({
  action: 'read',
  outcome: 'success',
  description,
  user: { id: 'u', name: 'U' },
  accessPoint: { node: 'n' },
  objects: {},
  grounds: {},
});

/**
 * rsyslog as the hospital's audit repository, and the `audit.atna` settings a node sends to it with: a client
 * certificate from the repository's CA, files in `work`.
 */
async function auditRepository(
  t: TestContext,
  rsyslogd: string,
  work: string,
): Promise<{ repository: Rsyslog; atna: Record<string, unknown> }> {
  const ca = createTestCa({ commonName: 'Beeldbrug test CA' });
  const repository = await startRsyslog(t, { rsyslogd, ca, dir: join(work, 'rsyslog'), port: await freePort() });
  const client = issueNodeCertificate(ca, {
    commonName: 'noord.test',
    organization: { name: 'Testziekenhuis', ura: '12345678' },
  });
  writeFileSync(join(work, 'node.crt'), client.certPem);
  writeFileSync(join(work, 'node.key'), client.keyPem, { mode: 0o600 });
  writeFileSync(join(work, 'ca.crt'), ca.certPem);
  const tls = { certFile: join(work, 'node.crt'), keyFile: join(work, 'node.key'), caFile: join(work, 'ca.crt') };
  return { repository, atna: { host: '127.0.0.1', port: repository.port, tls, pollMs: 100 } };
}

test('ATNA export: every record as a valid DICOM audit message over syslog TLS to rsyslog; an outage loses nothing', async (t) => {
  const tools = ['rsyslogd', 'xmllint', 'storescu'].map((p) => requireTool(t, p));
  if (tools.includes(undefined)) return;
  const [rsyslogd, xmllint] = tools as [string, string, string];
  const work = tempDir(t);
  const { repository, atna } = await auditRepository(t, rsyslogd, work);
  const n = await startTestNode(t, {
    peers: [{ aeTitle: 'MODALITY', host: '127.0.0.1', description: 'test modality' }],
    edit: (raw) => {
      (raw['audit'] as Record<string, unknown>)['atna'] = atna;
    },
  });

  // A modality stores two images: the node records their receipt, which goes out as "DICOM Instances Transferred".
  await synthesize({ outDir: join(work, 'synth'), patients: 1, seed: 5 });
  const store = await run('storescu', [
    '-aet',
    'MODALITY',
    '-aec',
    n.aeTitle,
    '127.0.0.1',
    String(n.port),
    ...filesIn(join(work, 'synth')).slice(0, 2),
  ]);
  assert.equal(store.code, 0, store.stderr);
  // Every kind of record, with every field filled, including an emergency and a consent reference.
  const everything = (action: (typeof AUDIT_ACTIONS)[number], i: number): AuditEvent => ({
    action,
    outcome: i % 3 === 0 ? 'failure' : 'success',
    description: `test ${action} <with> "markup" & 'quotes'`,
    user: { id: `user-${i}`, name: 'Dr. É. van Dijk', roleCode: '01.015', organizationUra: '10000002' },
    responsibleUser: { id: 'resp-1', name: 'Dr. R. Verantwoordelijk' },
    accessPoint: { node: 'test', ip: '10.1.2.3', aeTitle: 'PACS' },
    patient: { bsn: '999990019' },
    objects: {
      studyInstanceUid: '1.2.3.4',
      seriesInstanceUid: '1.2.3.4.1',
      sopInstanceUids: ['1.2.3.4.1.1', '1.2.3.4.1.2'],
      transferId: 'tr-1',
      shareId: 'sh-1',
    },
    grounds: { purpose: 'treatment', authorization: 'consent', consentReference: 'consent-42', emergency: i === 0 },
  });
  for (const [i, action] of AUDIT_ACTIONS.entries()) await n.node.audit.record(everything(action, i));
  const total = (await n.node.audit.list({ limit: 100_000 })).length;
  await repository.until(`${total} messages at the repository`, () => repository.received().length >= total);

  const messages = repository.received().map((line) => {
    const m = HEADER.exec(line);
    assert.ok(m !== null, `an RFC 5424 message with the IHE MSGID: ${line.slice(0, 120)}`);
    return { time: m[1]!, xml: m[4]! };
  });
  const validation = await validate(
    xmllint,
    join(work, 'messages'),
    messages.map((m) => m.xml),
  );
  assert.equal(validation.code, 0, `every message is a valid DICOM audit message: ${validation.stderr.slice(0, 2000)}`);
  // The schema is no formality: a message the standard does not allow is refused.
  const sample = messages[0]!.xml;
  for (const broken of [
    sample.replace(/EventOutcomeIndicator="\d+"/, 'EventOutcomeIndicator="3"'),
    sample.replace(/<EventID [^>]*\/>/, ''),
    sample.replace(/ UserIsRequestor="\w+"/g, ''),
  ]) {
    assert.notEqual(broken, sample);
    assert.notEqual(
      (await validate(xmllint, join(work, 'broken'), [broken])).code,
      0,
      `refused: ${broken.slice(0, 200)}`,
    );
  }
  const sequences = messages.map((m) =>
    Number(Buffer.from(/type="auditSequence" value="([^"]+)"/.exec(m.xml)![1]!, 'base64').toString()),
  );
  assert.deepEqual(
    sequences,
    (await n.node.audit.list({ limit: 100_000 })).map((r) => r.sequence),
    'every record once, in order',
  );

  const received = messages.find(
    (m) =>
      attribute(m.xml, 'EventID', 'csd-code') === '110104' &&
      attribute(m.xml, 'EventIdentification', 'EventActionCode') === 'C' &&
      m.xml.includes('MODALITY'),
  );
  assert.ok(received !== undefined, 'the C-STORE receipt is a DICOM Instances Transferred (create) message');
  assert.match(received.xml, /ParticipantObjectTypeCodeRole="1"/, 'with the patient');
  assert.match(received.xml, /<ParticipantObjectIDTypeCode csd-code="110180" codeSystemName="DCM"/, 'and the study');
  const emergency = messages.find((m) => m.xml.includes('user-0'))!.xml;
  assert.match(emergency, /<PurposeOfUse csd-code="ETREAT"/);
  assert.match(emergency, /EventOutcomeIndicator="4"/);
  assert.ok(
    emergency.includes('ParticipantObjectID="999990019^^^&amp;2.16.840.1.113883.2.4.6.3&amp;ISO"'),
    'the BSN with its assigning authority',
  );
  assert.ok(
    emergency.includes('test create &lt;with&gt; &quot;markup&quot; &amp; &apos;quotes&apos;'),
    'text is escaped',
  );
  assert.ok(emergency.includes('Dr. É. van Dijk'), 'names keep their accents (UTF-8)');
  const loginFailure = messages.find((m) => m.xml.includes('test login-failure'))!.xml;
  assert.match(loginFailure, /<EventID csd-code="110114"[^>]*\/><EventTypeCode csd-code="110122"/);

  // The repository goes away; the node records on, undisturbed, and everything arrives once it is back.
  const unreachable = (): number =>
    logLines(n).filter((l) => String(l['msg']).startsWith('audit export: the audit repository is not reachable'))
      .length;
  const unreachableBefore = unreachable();
  await repository.stop();
  // record() resolves once the record is in the trail; the export to the repository is not part of it.
  const recorded = (await n.node.audit.list({ limit: 100_000 })).length;
  for (let i = 0; i < 20; i++)
    await n.node.audit.record({ ...everything('read', i + 1), description: `during the outage ${i}` });
  assert.equal(
    (await n.node.audit.list({ limit: 100_000 })).length,
    recorded + 20,
    'recording does not wait for the repository',
  );
  // The repository comes back once the exporter has found it gone, not after a guess at how long that takes.
  await waitFor('the exporter to find the repository gone', async () => unreachable() > unreachableBefore);
  await repository.start();
  await repository.until(
    'the backlog at the repository',
    () => repository.received().filter((l) => l.includes('during the outage')).length >= 20,
  );
  const after = repository
    .received()
    .map((l) => Number(Buffer.from(/type="auditSequence" value="([^"]+)"/.exec(l)![1]!, 'base64').toString()));
  const expected = (await n.node.audit.list({ limit: 100_000 })).map((r) => r.sequence);
  assert.deepEqual(
    [...new Set(after)].sort((a, b) => a - b),
    expected,
    'no record is missing (a message may come twice, never not at all)',
  );
  assert.ok(
    logLines(n).some((l) => String(l['msg']).startsWith('audit export: the audit repository is not reachable')),
    'the outage is logged',
  );
  assert.ok(
    !JSON.stringify(logLines(n).filter((l) => l['part'] === 'atna')).includes('999990019'),
    'the log names no patient',
  );
});

test('ATNA export: an audit repository whose certificate the node does not trust receives nothing', async (t) => {
  const ca = createTestCa({ commonName: 'Beeldbrug test CA' });
  const impostor = issueNodeCertificate(createTestCa({ commonName: 'somebody else' }), {
    commonName: 'arr.test',
    organization: { name: 'X', ura: '10000009' },
    hosts: ['127.0.0.1'],
  });
  let bytes = 0;
  let connections = 0;
  const server = createServer({ key: impostor.keyPem, cert: impostor.certPem }, (socket) =>
    socket.on('data', (d: Buffer) => (bytes += d.length)),
  );
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const work = tempDir(t);
  const client = issueNodeCertificate(ca, {
    commonName: 'noord.test',
    organization: { name: 'Testziekenhuis', ura: '12345678' },
  });
  writeFileSync(join(work, 'node.crt'), client.certPem);
  writeFileSync(join(work, 'node.key'), client.keyPem, { mode: 0o600 });
  writeFileSync(join(work, 'ca.crt'), ca.certPem);
  const n = await startTestNode(t, {
    edit: (raw) => {
      (raw['audit'] as Record<string, unknown>)['atna'] = {
        host: '127.0.0.1',
        port,
        tls: { certFile: join(work, 'node.crt'), keyFile: join(work, 'node.key'), caFile: join(work, 'ca.crt') },
        pollMs: 100,
      };
    },
  });
  await n.node.audit.record({
    action: 'read',
    outcome: 'success',
    description: 'x',
    user: { id: 'u', name: 'U' },
    accessPoint: { node: 'n' },
    patient: { bsn: '999990019' },
    objects: {},
    grounds: {},
  });
  await waitFor(
    'a refused connection in the log',
    async () =>
      connections > 0 &&
      logLines(n).some((l) => String(l['msg']).startsWith('audit export: the audit repository is not reachable')),
  );
  assert.equal(bytes, 0, 'no audit message went to a repository that could not prove who it is');
});

test('ATNA export: after the trail is put back to an older copy (and accepted), its new records go out, not taken for sent ones', async (t) => {
  const ca = createTestCa({ commonName: 'Beeldbrug test CA' });
  const repositoryCert = issueNodeCertificate(ca, {
    commonName: 'arr.test',
    organization: { name: 'ARR', ura: '10000001' },
    hosts: ['127.0.0.1'],
  });
  let received = '';
  const server = createServer({ key: repositoryCert.keyPem, cert: repositoryCert.certPem }, (socket) =>
    socket.on('data', (d: Buffer) => (received += d.toString('utf8'))),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const client = issueNodeCertificate(ca, {
    commonName: 'noord.test',
    organization: { name: 'Testziekenhuis', ura: '12345678' },
  });
  const work = tempDir(t);
  const path = join(work, 'audit.sqlite');
  const witnessFile = join(work, 'witness.json');
  const key = randomBytes(32);
  const logged: string[] = [];
  const logger = createLogger({
    level: 'info',
    destination: new Writable({ write: (chunk: Buffer, _e, done) => (logged.push(chunk.toString('utf8')), done()) }),
  });
  const exporter = (trail: ChainedAuditTrail): AtnaExporter =>
    new AtnaExporter({
      trail,
      source: { node: 'noord', ura: '12345678', aeTitle: 'NOORD' },
      host: '127.0.0.1',
      port,
      tls: { cert: client.certPem, key: client.keyPem, ca: ca.certPem },
      cursor: fileExportCursor(join(work, 'atna-cursor')),
      leases: SOLE_NODE,
      pollMs: 50,
      logger,
    });

  const trail = await openSqliteAuditTrail(path, { key, witnessFile });
  for (let n = 1; n <= 3; n += 1) await trail.record(event(`before the backup ${n}`));
  await trail.close();
  copyFileSync(path, join(work, 'backup.sqlite'));
  const running = await openSqliteAuditTrail(path, { key, witnessFile });
  await running.record(event('after the backup 4'));
  await running.record(event('after the backup 5'));
  const first = exporter(running);
  first.start();
  await waitFor(
    'records 1 to 5 at the repository',
    async () => first.exported === 5 && received.includes('after the backup 5'),
  );
  await first.close();
  await running.close();

  rmSync(path);
  copyFileSync(join(work, 'backup.sqlite'), path);
  const restored = await openSqliteAuditTrail(path, { key, witnessFile });
  t.after(() => restored.close());
  assert.deepEqual(await restored.acceptHead({ ...event('restored from backup'), action: 'configuration-change' }), {
    ok: true,
    sequence: 4,
  });
  const fifth = await restored.record(event('after the restore 5'));
  const second = exporter(restored);
  t.after(() => second.close());
  second.start();
  // Before the fix the exporter took the new records 4 and 5 for the ones it had sent and never sent them.
  await waitFor(
    'records 4 and 5 of the restored trail at the repository',
    async () => received.includes('restored from backup') && received.includes(fifth.description),
  );
  assert.ok(
    logged.some((l) => l.includes('put back to an older copy')),
    'the export says why it sends again',
  );
});

test('ATNA export with two nodes on one database: one exports at a time, every record once; when it stops, the other goes on from its cursor', async (t) => {
  const rsyslogd = requireTool(t, 'rsyslogd');
  const server = await startPostgres(t);
  if (rsyslogd === undefined || server === undefined) return;
  const db = await server.database('hospital');
  const work = tempDir(t);
  const { repository, atna } = await auditRepository(t, rsyslogd, work);
  const shared =
    (keysOf?: { audit: string; store: string }) =>
    (raw: Record<string, unknown>): void => {
      raw['database'] = { kind: 'postgresql', ...db };
      const audit = raw['audit'] as Record<string, unknown>;
      audit['atna'] = atna;
      if (keysOf !== undefined) {
        audit['keyFile'] = keysOf.audit;
        (raw['store'] as Record<string, unknown>)['encryptionKeyFile'] = keysOf.store;
      }
    };
  const a = await startTestNode(t, { aeTitle: 'BB_A', edit: shared() });
  const keys = loadConfig(a.configPath);
  const b = await startTestNode(t, {
    aeTitle: 'BB_B',
    edit: shared({ audit: keys.audit.keyFile, store: keys.store.encryptionKeyFile }),
  });
  const sequences = (): number[] =>
    repository
      .received()
      .map((l) => Number(Buffer.from(/type="auditSequence" value="([^"]+)"/.exec(l)![1]!, 'base64').toString()));
  const trail = async (): Promise<number[]> => (await a.node.audit.list({ limit: 100_000 })).map((r) => r.sequence);
  const standingBy = (n: TestNode): boolean =>
    logLines(n).some((l) => l['msg'] === 'audit export: another node of this hospital exports the trail');

  for (let i = 0; i < 5; i += 1) {
    await a.node.audit.record(event(`recorded on A ${i}`));
    await b.node.audit.record(event(`recorded on B ${i}`));
  }
  const all = await trail();
  await repository.until('every record of the shared trail at the repository', () => sequences().length >= all.length);
  assert.deepEqual(sequences(), all, 'every record once, in order: only one node sends');
  assert.ok(standingBy(a) !== standingBy(b), 'one node exports, the other stands by');
  const [exporting, other] = standingBy(b) ? [a, b] : [b, a];

  // The exporting node stops (its lease is not handed over: it runs out, as when a node dies).
  await exporting.node.close();
  for (let i = 0; i < 5; i += 1) await other.node.audit.record(event(`after the stop ${i}`));
  const later = (await other.node.audit.list({ limit: 100_000 })).map((r) => r.sequence);
  await waitFor('the records after the stop at the repository', async () => sequences().length >= later.length);
  assert.deepEqual(sequences(), later, 'the other node went on after the last record sent, not from the start');
});

test('ATNA export cursor on PostgreSQL: a node moved to the server starts from its embedded cursor, then from the shared row', async (t) => {
  const server = await startPostgres(t);
  if (server === undefined) return;
  const pool = openPostgresPool(await server.database('hospital'));
  t.after(() => pool.end());
  const embeddedFile = join(tempDir(t), 'atna-cursor');
  await fileExportCursor(embeddedFile).write({ sequence: 7, hash: 'abc' });
  const cursor = await openPostgresExportCursor(pool, 'arr.test:6514', { embeddedFile });
  assert.deepEqual(await cursor.read(), { sequence: 7, hash: 'abc' }, 'not the whole trail again after the move');
  await cursor.write({ sequence: 9, hash: 'def' });
  assert.deepEqual(await cursor.read(), { sequence: 9, hash: 'def' });
  const other = await openPostgresExportCursor(pool, 'other.test:6514', { embeddedFile: join(tempDir(t), 'none') });
  assert.deepEqual(await other.read(), { sequence: 0, hash: undefined }, 'each audit repository its own position');
  assert.deepEqual(
    await (await openPostgresExportCursor(pool, 'arr.test:6514', { embeddedFile })).read(),
    { sequence: 9, hash: 'def' },
    'another node reads where this one got',
  );
});
