// The timeline across a network as it runs: a registry and three hospital nodes on loopback, every certificate and the
// network key made with the `beeldbrug` CLI. Noord's radiologist asks for a patient's studies; the registry names only
// the hospitals that know the patient and may be asked; those answer after asking the registry themselves; a chosen
// study comes over the exchange protocol into Noord's node.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { HttpsRegistryClient, pseudonymOf, readNetworkKeyFile } from '../../src/registry/index.ts';
import { Tag } from '../../src/dicom/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { signTimelineRequest, type Timeline } from '../../src/timeline/index.ts';
import { call, midden, noord, startExchangeNode } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { beeldbrug, networkCertificates } from '../support/pki-cli.ts';
import { addAccount, cliAs, cliLogin, signedIn } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import {
  byHolder,
  importStudies,
  lines,
  network,
  patientPortal,
  portalClient,
  radiologist,
  radiologistAt,
  recorded,
  registryOrg,
  registryProcess,
  timelineOf,
  timelineRequestsAt,
  traag,
  zuid,
} from '../support/timeline-network.ts';
import { heldInstances, testAccess } from '../support/patient-data.ts';
import { findscuAnswers } from '../support/dcmtk.ts';

test('timeline: permit for one hospital and deny for another shows the first only; a revoke takes effect at the next query', async (t) => {
  const net = await network(t);
  const { p, nodes } = net;
  const permit = await net.consents.recordConsent({
    bsn: p.bsn,
    decision: 'permit',
    actor: byHolder(midden.ura),
    ...recorded,
  });
  await net.consents.recordConsent({ bsn: p.bsn, decision: 'deny', actor: byHolder(zuid.ura), ...recorded });

  const first = await timelineOf(nodes.noord, p.bsn, { includeReports: true });
  assert.equal(first.mode, 'registry');
  assert.deepEqual(
    first.sources.map((s) => [s.ura, s.status]),
    [[midden.ura, 'answered']],
    'Zuid is not even asked: the patient denied it',
  );
  assert.equal(first.studies.length, 2);
  assert.ok(first.studies.every((s) => s.source.ura === midden.ura));
  const dates = first.studies.map((s) => s.studyDate ?? '');
  assert.deepEqual(dates, [...dates].sort().reverse(), 'newest first');
  const expected = new Map(p.studies.slice(0, 2).map((s) => [s.studyInstanceUid, s]));
  for (const s of first.studies) {
    const e = expected.get(s.studyInstanceUid);
    assert.ok(e !== undefined, 'only the studies Midden holds');
    assert.equal(s.studyDate, e.studyDate);
    assert.deepEqual(
      s.modalities.filter((m) => m !== 'SR' && m !== 'DOC'),
      [e.modality],
    );
    assert.equal(s.instances, e.instances);
    assert.equal(s.series, e.series);
    assert.ok(s.hasReport);
    if (e.reportKind === 'sr') assert.ok((s.reportText ?? '').length > 20, 'the report text of a structured report');
  }
  assert.equal((await timelineRequestsAt(nodes.zuid, p.bsn)).length, 0, 'Zuid got no request for this patient');
  const atMidden = await timelineRequestsAt(nodes.midden, p.bsn);
  assert.equal(atMidden.length, 1);
  assert.equal(atMidden[0]?.outcome, 'success');
  const asker = radiologistAt(nodes.noord);
  assert.deepEqual(
    atMidden[0]?.user,
    { id: asker.id, name: radiologist.name, roleCode: radiologist.roleCode, organizationUra: noord.ura },
    'the source logs the person signed in at Noord',
  );
  assert.equal(atMidden[0]?.grounds.consentReference, `Consent/${permit.id}`);
  const atNoord = await nodes.noord.n.node.audit.list({ bsn: p.bsn, action: 'query' });
  assert.equal(atNoord.length, 1, 'the requester logs the question too');
  assert.deepEqual(
    atNoord[0]?.user,
    { id: asker.id, name: radiologist.name, roleCode: radiologist.roleCode, organizationUra: noord.ura },
    'in the name of the signed-in person',
  );

  await net.consents.revokeConsent(permit.id);
  const after = await timelineOf(nodes.noord, p.bsn);
  assert.deepEqual(after.sources, []);
  assert.deepEqual(after.studies, []);
  assert.equal((await timelineRequestsAt(nodes.midden, p.bsn)).length, 1, 'after the revoke Midden is not asked again');
});

test('timeline: a patient unknown at a hospital causes no request there; a slow source times out without holding back the others', async (t) => {
  const net = await network(t);
  const { q, nodes } = net;
  // Consent for all hospitals: only the ones that know Q are asked, and Traag (slow) is made to know Q.
  await net.consents.recordConsent({
    bsn: q.bsn,
    decision: 'permit',
    actor: { role: 'holder', type: 'hospital' },
    ...recorded,
  });
  const traagClient = new HttpsRegistryClient({
    baseUrl: net.reg.baseUrl,
    tls: { key: net.slow.cert.keyPem, cert: net.slow.cert.certPem, ca: net.certs.ca.certPem },
    networkKey: readNetworkKeyFile(net.keyFile),
    ourUra: traag.ura,
  });
  t.after(() => traagClient.close());
  await traagClient.register({ add: [q.bsn] });

  const tl = await timelineOf(nodes.noord, q.bsn);
  const status = Object.fromEntries(tl.sources.map((s) => [s.ura, s.status]));
  assert.deepEqual(status, { [midden.ura]: 'answered', [traag.ura]: 'timed-out' });
  assert.equal(tl.studies.length, 3, "Midden's answer is intact");
  // Traag never answers while the test runs: that the timeline came back at all is the proof it did not wait for it.
  assert.equal((await timelineRequestsAt(nodes.zuid, q.bsn)).length, 0, 'Zuid does not know Q and got no request');
  assert.ok(!lines(nodes.zuid.n.logFile).some((l) => l['msg'] === 'timeline request'), "nothing in Zuid's request log");

  // What went over the wire to a source: the signed request, with the BSN and who asks, and nothing else of the patient.
  assert.equal(net.slow.bodies.length, 1);
  const sent = JSON.parse(net.slow.bodies[0] ?? '{}') as { request: string };
  assert.deepEqual(Object.keys(sent), ['request']);
  const claims = JSON.parse(Buffer.from(sent.request.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  assert.deepEqual(Object.keys(claims).sort(), [
    'bsn',
    'exp',
    'iat',
    'includeReports',
    'jti',
    'organization',
    'purpose',
    'requester',
  ]);
  assert.equal(claims['bsn'], q.bsn);
  assert.deepEqual(
    claims['requester'],
    { practitionerId: radiologistAt(nodes.noord).id, name: radiologist.name, roleCode: radiologist.roleCode },
    'the signed claims name the person signed in at Noord',
  );
  const [family, given] = q.name.split('^');
  for (const leak of [q.birthDate, family, given, q.patientId])
    assert.ok(leak === undefined || !net.slow.bodies[0]?.includes(leak), `no ${leak} on the wire`);
  // The registry never saw a BSN: not in its log, not in its database.
  const registryText =
    readFileSync(net.registryLog, 'utf8') + readFileSync(join(net.registryData, 'registry.sqlite')).toString('latin1');
  for (const bsn of [q.bsn, net.p.bsn]) assert.ok(!registryText.includes(bsn), 'no BSN at the registry');
  assert.ok(
    registryText.includes(pseudonymOf(q.bsn, readNetworkKeyFile(net.keyFile))),
    'the registry logs the pseudonym asked about',
  );
});

test('timeline: a node that skips the registry and asks a source directly gets nothing', async (t) => {
  const net = await network(t);
  const { p, q, nodes } = net;
  await net.consents.recordConsent({ bsn: p.bsn, decision: 'deny', actor: byHolder(zuid.ura), ...recorded });
  // Noord signs a perfectly valid request and sends it straight to Zuid (denied) and to Midden (no consent for Q).
  for (const [source, bsn] of [
    [nodes.zuid, p.bsn],
    [nodes.midden, q.bsn],
  ] as const) {
    const request = await signTimelineRequest(
      { bsn, requester: radiologist, organization: noord },
      { keyPem: nodes.noord.tls.key, certPem: nodes.noord.tls.cert },
    );
    const a = await call(source.port, 'POST', '/timeline/v1/studies', nodes.noord.ca.certPem, nodes.noord.own, {
      request,
    });
    assert.equal(a.status, 403, a.body);
    const refusal = JSON.parse(a.body) as Record<string, unknown>;
    assert.equal(refusal['code'], 'RELEASE_REFUSED');
    assert.equal(refusal['status'], 403);
    assert.equal(refusal['reason'], 'no-consent', 'the requesting node shows the reason to its user');
    assert.equal(refusal['detail'], 'the patient has not permitted release to your organization');
    assert.deepEqual(
      Object.keys(refusal).sort(),
      ['code', 'detail', 'instance', 'reason', 'status', 'title', 'type'],
      "nothing of the registry's answer beyond that",
    );
    const logged = await timelineRequestsAt(source, bsn);
    assert.equal(logged.length, 1);
    assert.equal(logged[0]?.outcome, 'failure', 'the refused request is logged with who asked');
  }
  // A request signed by Noord but sent over Zuid's connection, or replayed, or unsigned, is refused before anything.
  const signed = await signTimelineRequest(
    { bsn: q.bsn, requester: radiologist, organization: noord },
    { keyPem: nodes.noord.tls.key, certPem: nodes.noord.tls.cert },
  );
  const asZuid = await call(nodes.midden.port, 'POST', '/timeline/v1/studies', nodes.noord.ca.certPem, nodes.zuid.own, {
    request: signed,
  });
  assert.equal(asZuid.status, 400);
  assert.match(asZuid.body, /signed for URA 10000001/);
  const unsigned = await call(
    nodes.midden.port,
    'POST',
    '/timeline/v1/studies',
    nodes.noord.ca.certPem,
    nodes.noord.own,
    { bsn: q.bsn },
  );
  assert.equal(unsigned.status, 400);
  await net.consents.recordConsent({ bsn: q.bsn, decision: 'permit', actor: byHolder(midden.ura), ...recorded });
  const once = await call(nodes.midden.port, 'POST', '/timeline/v1/studies', nodes.noord.ca.certPem, nodes.noord.own, {
    request: signed,
  });
  assert.equal(once.status, 200);
  const replay = await call(
    nodes.midden.port,
    'POST',
    '/timeline/v1/studies',
    nodes.noord.ca.certPem,
    nodes.noord.own,
    { request: signed },
  );
  assert.equal(replay.status, 409);
  // Without a client certificate the source route is closed altogether.
  const anonymous = await call(nodes.midden.port, 'POST', '/timeline/v1/studies', nodes.noord.ca.certPem, undefined, {
    request: signed,
  });
  assert.equal(anonymous.status, 401);
});

test('timeline: a chosen study is retrieved from its source by its UID, verified, into the cache; bad BSNs are clear errors; without a registry the regional sources are asked', async (t) => {
  const net = await network(t);
  const { p, nodes } = net;
  await net.consents.recordConsent({
    bsn: p.bsn,
    decision: 'permit',
    actor: { role: 'holder', type: 'hospital' },
    ...recorded,
  });
  const tl = await timelineOf(nodes.noord, p.bsn);
  assert.deepEqual(tl.sources.map((s) => s.status).sort(), ['answered', 'answered']);
  const chosen = tl.studies.find((s) => s.source.ura === zuid.ura);
  assert.ok(chosen !== undefined);
  const asker = radiologistAt(nodes.noord);
  // Naming someone else in the body does not work, and neither does the node's own certificate without a person.
  const impostor = await asker.call('POST', '/api/v1/timeline/retrievals', {
    bsn: p.bsn,
    source: zuid.ura,
    studyInstanceUid: chosen.studyInstanceUid,
    requester: { practitionerId: 'collega-1', name: 'Dr. Collega', roleCode: '01.015' },
  });
  assert.equal(impostor.status, 400, impostor.body);
  assert.match(impostor.body, /REQUEST_INVALID.*the person who acts comes from sign-in/);
  const systemAlone = await call(
    nodes.noord.port,
    'POST',
    '/api/v1/timeline/retrievals',
    nodes.noord.ca.certPem,
    nodes.noord.own,
    { bsn: p.bsn, source: zuid.ura, studyInstanceUid: chosen.studyInstanceUid },
  );
  assert.equal(systemAlone.status, 403, systemAlone.body);
  assert.match(systemAlone.body, /assertion-required/);
  const r = await asker.call('POST', '/api/v1/timeline/retrievals', {
    bsn: p.bsn,
    source: zuid.ura,
    studyInstanceUid: chosen.studyInstanceUid,
  });
  assert.equal(r.status, 202, r.body);
  const { transferId } = JSON.parse(r.body) as { transferId: string };
  await waitFor('the retrieved study in Noord', async () => {
    const inbox = await asker.call('GET', '/api/v1/inbox');
    return (JSON.parse(inbox.body) as { transfers: { transferId: string; state: string }[] }).transfers.some(
      (x) => x.transferId === transferId && x.state !== 'open',
    );
  });
  const held = (await heldInstances(nodes.noord.n.node, chosen.studyInstanceUid)).map((i) => i.stored);
  assert.equal(held.length, chosen.instances, 'every instance arrived');
  const original = (await heldInstances(nodes.zuid.n.node, chosen.studyInstanceUid)).map((i) => i.stored);
  assert.deepEqual(
    held.map((i) => i.blob.sha256).sort(),
    original.map((i) => i.blob.sha256).sort(),
    'byte for byte what Zuid holds',
  );
  const sent = (await nodes.zuid.n.node.audit.list({ bsn: p.bsn })).find(
    (x) => x.action === 'retrieve' && x.outcome === 'success',
  );
  assert.equal(sent?.user.id, asker.id, 'the source names the person signed in at Noord');
  assert.equal(
    (await nodes.noord.n.node.audit.list({ bsn: p.bsn, action: 'retrieve' })).find((x) => x.outcome === 'success')?.user
      .id,
    asker.id,
    'and so does Noord',
  );
  // A study of another patient cannot be had under this patient's permit.
  const other = await asker.call('POST', '/api/v1/timeline/retrievals', {
    bsn: p.bsn,
    source: midden.ura,
    studyInstanceUid: net.q.studies[0]?.studyInstanceUid,
  });
  assert.equal(other.status, 502);
  assert.match(other.body, /no such study of this patient/);

  const bad = await asker.call('POST', '/api/v1/timeline', { bsn: '123456789' });
  assert.equal(bad.status, 400);
  assert.equal((JSON.parse(bad.body) as { code: string }).code, 'BSN_INVALID');
  // A person the node cannot name to other hospitals with a profession does not ask at all.
  const noRole = await signedIn(t, nodes.noord, {
    username: 'secretariaat',
    name: 'Secretariaat Radiologie',
    role: 'staff',
  });
  const unnamed = await noRole.call('POST', '/api/v1/timeline', { bsn: p.bsn });
  assert.equal(unnamed.status, 403, unnamed.body);
  assert.match(unnamed.body, /REQUESTER_UNNAMED.*has no UZI role code/);

  const regional = await timelineOf(nodes.oost, p.bsn);
  assert.equal(regional.mode, 'regional-sources', 'the answer says no registry was used');
  assert.deepEqual(
    regional.sources.map((s) => [s.ura, s.status]),
    [[midden.ura, 'answered']],
  );
  assert.equal(regional.studies.length, 2, 'Midden still asked the registry before answering');

  // The CLI, as a radiologist's terminal runs it: it signs in over HTTPS (password + TOTP), keeps the session in a file
  // only its user can read, and asks the node's API; it opens no database of the node and holds no key.
  const sessionFile = join(tempDir(t), 'beeldbrug', 'session.json');
  const caFile = join(tempDir(t), 'ca.crt');
  writeFileSync(caFile, nodes.noord.ca.certPem);
  const secret = await addAccount(t, nodes.noord, {
    username: 'j.bos',
    name: 'Dr. J. Bos',
    role: 'radiologist',
    uziRoleCode: '01.015',
  });
  const before = await cliAs(sessionFile, ['timeline', p.bsn]);
  assert.equal(before.code, 1);
  assert.match(before.stderr, /SIGN_IN_REQUIRED: not signed in .* beeldbrug login/);
  const login = await cliLogin(nodes.noord, sessionFile, caFile, 'j.bos', secret);
  assert.equal(login.code, 0, login.stderr);
  assert.match(
    login.stdout,
    /signed in at https:\/\/127\.0\.0\.1:\d+ as Dr\. J\. Bos \(radiologist, UZI role 01\.015\)/,
  );
  assert.equal(statSync(sessionFile).mode & 0o777, 0o600, 'the session file is private');
  assert.equal(statSync(join(sessionFile, '..')).mode & 0o777, 0o700);
  const cli = await cliAs(sessionFile, ['timeline', p.bsn, '--json']);
  assert.equal(cli.code, 0, cli.stderr);
  const fromCli = JSON.parse(cli.stdout) as Timeline;
  assert.deepEqual(
    fromCli.studies.map((s) => s.studyInstanceUid),
    tl.studies.map((s) => s.studyInstanceUid),
  );
  const cliAsked = (await nodes.noord.n.node.audit.list({ bsn: p.bsn, action: 'query' })).findLast((x) =>
    x.description.startsWith('timeline'),
  );
  assert.equal(cliAsked?.user.name, 'Dr. J. Bos', 'the node records the person signed in at the CLI');
  assert.equal(
    (await timelineRequestsAt(nodes.midden, p.bsn)).findLast(() => true)?.user.name,
    'Dr. J. Bos',
    'and so does the source',
  );
  const badCli = await cliAs(sessionFile, ['timeline', '123456780']);
  assert.notEqual(badCli.code, 0);
  assert.match(badCli.stderr, /BSN_INVALID: 123456780 is not a valid BSN/);
  // The study retrieved above is at Noord now: the same person sends it on to Midden and follows it to its receipt.
  const cliSend = await cliAs(sessionFile, [
    'send',
    '--study',
    chosen.studyInstanceUid,
    '--to',
    midden.name,
    '--purpose',
    'transfer',
    '--reason',
    'tweede lezing',
  ]);
  assert.equal(cliSend.code, 0, cliSend.stderr);
  assert.match(cliSend.stdout, /delivered to Ziekenhuis Midden \(URA 10000002\): transfer .*, receipt verified/);
  const queuedBy = (await nodes.noord.n.node.audit.list({ action: 'send' })).find((x) =>
    x.description.startsWith('study queued for sending'),
  );
  assert.equal(queuedBy?.user.name, 'Dr. J. Bos', 'the send is recorded in the name of the signed-in person');
  // Retrieving from the CLI follows the study until it has arrived, verified.
  const cliRetrieve = await cliAs(sessionFile, [
    'timeline',
    p.bsn,
    '--retrieve',
    chosen.studyInstanceUid,
    '--wait',
    '60',
  ]);
  assert.equal(cliRetrieve.code, 0, cliRetrieve.stderr);
  assert.match(
    cliRetrieve.stdout,
    /Ziekenhuis (Midden|Zuid) queued the study for us: transfer [0-9a-f-]+\narrived and verified: \d+ instances/,
  );
  const logout = await cliAs(sessionFile, ['logout']);
  assert.equal(logout.code, 0, logout.stderr);
  assert.ok(!existsSync(sessionFile), 'logout removes the saved session');
  assert.equal(
    (await nodes.noord.n.node.audit.list({ action: 'logout' })).findLast(() => true)?.user.name,
    'Dr. J. Bos',
  );
});

test('timeline: a source lists what its PACS holds beside its own copies (studies and, for the virtual PACS, series), a PACS-only study is retrieved through the node, and a PACS that is down leaves a partial answer', async (t) => {
  if (requireTool(t, 'Orthanc') === undefined || requireTool(t, 'findscu') === undefined) return;
  const net = await network(t, {
    middenPacs: true,
    // Noord's PACS looks at the other hospitals' studies through Noord's external AE title.
    noord: {
      dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', description: 'Noord PACS' }],
      timeline: { sourceTimeoutMs: 5000, externalAe: { aeTitle: 'BB_PRIORS', callers: ['PACS_NOORD'] } },
    },
  });
  const pacs = net.pacs;
  assert.ok(pacs !== undefined);
  // R's study is in Midden's PACS only: it never passed through Midden's node.
  const synth = await synthesize({
    outDir: join(tempDir(t), 'synth-pacs'),
    patients: 1,
    seed: 43,
    studiesPerPatient: [1, 1],
    modalities: ['CR'],
  });
  const r = synth.patients[0];
  const onlyInPacs = r?.studies[0];
  assert.ok(r !== undefined && onlyInPacs !== undefined);
  for (const f of onlyInPacs.files) await pacs.upload(f);
  const midNode = net.nodes.midden.n.node;
  const heldBefore = (await midNode.store.index.stats()).instances;
  // R is known at Midden (as its patient administration would register it) and permits Midden to release.
  const asMidden = new HttpsRegistryClient({
    baseUrl: net.reg.baseUrl,
    tls: net.nodes.midden.tls,
    networkKey: readNetworkKeyFile(net.keyFile),
    ourUra: midden.ura,
  });
  t.after(() => asMidden.close());
  await asMidden.register({ add: [r.bsn] });
  await net.consents.recordConsent({
    bsn: r.bsn,
    decision: 'permit',
    actor: { role: 'holder', ura: midden.ura },
    ...recorded,
  });

  const timeline = await timelineOf(net.nodes.noord, r.bsn);
  assert.deepEqual(
    timeline.sources.map((s) => [s.ura, s.status, s.reason]),
    [[midden.ura, 'answered', undefined]],
  );
  assert.deepEqual(
    timeline.studies.map((s) => s.studyInstanceUid),
    [onlyInPacs.studyInstanceUid],
    'the study only the PACS holds is listed',
  );
  assert.equal(timeline.studies[0]?.instances, onlyInPacs.instances, "with the PACS's own count");
  assert.ok(timeline.studies[0]?.modalities.includes('CR'));
  // Its series, as Noord's PACS opens the study: Midden asks its PACS (a series-level C-FIND).
  const series = await findscuAnswers(
    t,
    ['-aet', 'PACS_NOORD', '-aec', 'BB_PRIORS', '127.0.0.1', String(net.nodes.noord.n.port)],
    [
      'QueryRetrieveLevel=SERIES',
      `PatientID=${r.bsn}`,
      `StudyInstanceUID=${onlyInPacs.studyInstanceUid}`,
      'SeriesInstanceUID',
      'Modality',
      'NumberOfSeriesRelatedInstances',
    ],
  );
  assert.equal(series.length, onlyInPacs.series);
  assert.equal(
    series.reduce((n, d) => n + (d.number(Tag.NumberOfSeriesRelatedInstances) ?? 0), 0),
    onlyInPacs.instances,
  );
  assert.equal((await midNode.store.index.stats()).instances, heldBefore, 'listing fetched nothing');

  // Retrieval: Midden fetches the study from its PACS and sends it whole; Noord gets every instance.
  const asked = await radiologistAt(net.nodes.noord).call('POST', '/api/v1/timeline/retrievals', {
    bsn: r.bsn,
    source: midden.ura,
    studyInstanceUid: onlyInPacs.studyInstanceUid,
  });
  assert.equal(asked.status, 202, asked.body);
  const atNoord = () => testAccess(net.nodes.noord.n.node, 'query').patientStudies(r.bsn);
  await waitFor('the PACS-only study at Noord', async () => (await atNoord())[0]?.instances === onlyInPacs.instances);

  // The PACS goes down: Midden still answers with the copy it now holds, and says the list may be incomplete.
  await pacs.stop();
  const partial = await timelineOf(net.nodes.noord, r.bsn);
  assert.equal(partial.sources[0]?.status, 'answered');
  assert.match(partial.sources[0]?.reason ?? '', /the PACS could not be asked/);
  assert.deepEqual(
    partial.studies.map((s) => s.studyInstanceUid),
    [onlyInPacs.studyInstanceUid],
  );
});

test("timeline: when retention purges a patient's last study at a node without a PACS, the registry stops naming that hospital", async (t) => {
  const certs = networkCertificates(t, { noord, midden, registry: registryOrg, portal: patientPortal });
  const keyFile = join(tempDir(t), 'network.key');
  beeldbrug(['registry', 'network-key', '--out', keyFile]);
  const { registry } = await registryProcess(t, certs.dir);
  const reg = { baseUrl: `https://127.0.0.1:${registry.port}`, networkKeyFile: keyFile };
  // About three seconds of retention, so that the test does not wait seven days.
  const mid = await startExchangeNode(t, {
    ca: certs.ca,
    identity: certs.midden,
    us: midden,
    partners: [noord],
    registry: reg,
    retentionDays: 3 / 86_400,
  });
  const synth = await synthesize({
    outDir: join(tempDir(t), 'synth'),
    patients: 1,
    seed: 44,
    studiesPerPatient: [1, 1],
    modalities: ['CR'],
  });
  const p = synth.patients[0];
  assert.ok(p !== undefined);
  await importStudies(mid, p, [0]);
  await mid.n.node.localization?.flush();
  const asNoord = new HttpsRegistryClient({
    baseUrl: reg.baseUrl,
    tls: { key: certs.noord.keyPem, cert: certs.noord.certPem, ca: certs.ca.certPem },
    networkKey: readNetworkKeyFile(keyFile),
    ourUra: noord.ura,
  });
  t.after(() => asNoord.close());
  await portalClient(t, certs, reg.baseUrl, keyFile).recordConsent({
    bsn: p.bsn,
    decision: 'permit',
    actor: { role: 'holder', type: 'hospital' },
    ...recorded,
  });
  assert.deepEqual(
    (await asNoord.locate(p.bsn, 'treatment')).map((l) => l.ura),
    [midden.ura],
  );

  await waitFor('the purge', async () => (await mid.n.node.store.index.stats()).instances === 0);
  // The removal goes with the publisher's next batch; flushing asks for it now.
  await waitFor('the registry to forget Midden', async () => {
    await mid.n.node.localization?.flush();
    return (await asNoord.locate(p.bsn, 'treatment')).length === 0;
  });
  assert.ok((await mid.n.node.audit.list({ action: 'purge' })).length > 0);
});
