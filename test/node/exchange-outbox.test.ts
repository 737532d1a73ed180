// The sending side's outbox with real nodes: a partner that is down is retried with back-off across a restart of the
// sender, a refusal fails at once with its reason, and the outbox API answers only the hospital's own systems.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { issueNodeCertificate } from '../../src/auth/index.ts';
import { SignJWT } from 'jose';
import { call, midden, noord, send, startExchangeNode, type ExchangeNode } from '../support/exchange.ts';
import { addAccount, cliAs, cliLogin, signedIn } from '../support/sign-in.ts';
import { freePort, waitFor } from '../support/net.ts';
import { restartTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { run } from '../support/processes.ts';
import { requireTool } from '../support/tools.ts';
import { importSynthPatient } from '../support/patient-data.ts';

const radiologist = {
  username: 'c.bakker',
  name: 'Dr. C. Bakker',
  role: 'radiologist' as const,
  uziRoleCode: '01.015',
};

test('a partner that is down is tried again with back-off; a restart of the sender loses nothing; once up it gets the study', async (t) => {
  const receiverPort = await freePort();
  let sender = await startExchangeNode(t, {
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiverPort}` }],
    outbox: { firstRetrySeconds: 1, maxRetrySeconds: 2 },
  });
  const study = await importSynthPatient(t, sender.n.node, 41);
  const bakker = await signedIn(t, sender, radiologist);
  const queued = await bakker.call('POST', '/api/v1/outbox', {
    studyInstanceUid: study.studyInstanceUid,
    to: midden.ura,
    purpose: 'transfer',
    urgency: 'urgent',
    reason: 'overplaatsing IC',
  });
  assert.equal(queued.status, 202, queued.body);
  const transferId = (JSON.parse(queued.body) as { transferId: string; state: string }).transferId;
  assert.deepEqual(
    (await sender.n.node.outbox?.get(transferId))?.request.user,
    { id: bakker.id, name: radiologist.name, roleCode: radiologist.uziRoleCode },
    'the transfer is asked for by the signed-in person',
  );

  const outboxOf = (s: ExchangeNode) => {
    const o = s.n.node.outbox;
    assert.ok(o !== undefined);
    return o;
  };
  await waitFor(
    'a first failed attempt',
    async () =>
      ((await outboxOf(sender).get(transferId))?.attempts ?? 0) >= 1 &&
      (await outboxOf(sender).get(transferId))?.state === 'queued',
  );
  const waiting = await outboxOf(sender).get(transferId);
  assert.match(waiting?.lastError ?? '', /ECONNREFUSED|PARTNER_UNREACHABLE/);
  assert.ok(Date.parse(waiting?.nextAttemptAt ?? '') > Date.parse(waiting?.updatedAt ?? ''), 'the next attempt waits');

  sender = { ...sender, n: await restartTestNode(t, sender.n) };
  assert.equal((await outboxOf(sender).get(transferId))?.state, 'queued', 'the queue survives the restart');

  const receiver = await startExchangeNode(t, { ca: sender.ca, us: midden, partners: [noord], port: receiverPort });
  await waitFor('delivery', async () => (await outboxOf(sender).get(transferId))?.state === 'delivered');
  const done = await outboxOf(sender).get(transferId);
  assert.ok((done?.attempts ?? 0) >= 2, `attempts: ${done?.attempts}`);
  assert.equal(done?.instances, study.instances);
  assert.equal(done?.sent, study.instances);
  assert.equal(done?.lastError, null);
  assert.ok((done?.receipt ?? '').split('.').length === 3, 'the signed receipt is kept');
  assert.equal((await receiver.n.node.store.index.stats()).instances, study.instances);

  const shown = await call(sender.port, 'GET', `/api/v1/outbox/${transferId}`, sender.ca.certPem, sender.own);
  assert.equal(shown.status, 200);
  assert.equal((JSON.parse(shown.body) as { state: string }).state, 'delivered');
});

test("a refusal by the partner fails the transfer at once, with the partner's reason", async (t) => {
  // The receiver does not have Noord on its trust list: a considered 403, not a passing fault.
  const receiver = await startExchangeNode(t, { us: midden, partners: [{ name: 'Ziekenhuis Zuid', ura: '10000003' }] });
  const sender = await startExchangeNode(t, {
    ca: receiver.ca,
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiver.port}` }],
  });
  const study = await importSynthPatient(t, sender.n.node, 42);
  const queued = await call(sender.port, 'POST', '/api/v1/outbox', sender.ca.certPem, sender.own, {
    studyInstanceUid: study.studyInstanceUid,
    to: midden.ura,
    purpose: 'transfer',
    reason: '',
  });
  assert.equal(queued.status, 202, queued.body);
  const transferId = (JSON.parse(queued.body) as { transferId: string }).transferId;
  await waitFor('failure', async () => (await sender.n.node.outbox?.get(transferId))?.state === 'failed');
  const failed = await sender.n.node.outbox?.get(transferId);
  assert.equal(failed?.attempts, 1, 'no retries after a refusal');
  assert.match(failed?.lastError ?? '', /PARTNER_REFUSED.*403.*organization-not-trusted/);
  const list = await call(sender.port, 'GET', '/api/v1/outbox?state=failed', sender.ca.certPem, sender.own);
  assert.deepEqual(
    (JSON.parse(list.body) as { transfers: { transferId: string }[] }).transfers.map((x) => x.transferId),
    [transferId],
  );
});

test("the outbox API answers only this hospital's own people and systems, takes the person from sign-in, and checks every request before queueing", async (t) => {
  const sender = await startExchangeNode(t, {
    us: noord,
    partners: [
      { ...midden, baseUrl: 'https://127.0.0.1:1' },
      { name: 'Ziekenhuis Zuid', ura: '10000003' },
    ],
  });
  const study = await importSynthPatient(t, sender.n.node, 43);
  const post = (client: typeof sender.own | undefined, body: unknown) =>
    call(sender.port, 'POST', '/api/v1/outbox', sender.ca.certPem, client, body);
  const good = { studyInstanceUid: study.studyInstanceUid, to: midden.ura, purpose: 'transfer' };

  // The person comes from sign-in: a body that names one is refused, whoever sends it.
  const bakker = await signedIn(t, sender, radiologist);
  for (const named of [
    { ...good, user: { id: 'radioloog-9', name: 'Dr. Collega' } },
    { ...good, userName: 'Dr. Collega' },
  ]) {
    for (const r of [await bakker.call('POST', '/api/v1/outbox', named), await post(sender.own, named)]) {
      assert.equal(r.status, 400, r.body);
      assert.equal((JSON.parse(r.body) as { code: string }).code, 'REQUEST_INVALID');
      assert.match(r.body, /the person who acts comes from sign-in/);
    }
  }
  const admin = await signedIn(t, sender, { username: 'beheer', name: 'Beheer', role: 'admin' });
  assert.equal((await admin.call('POST', '/api/v1/outbox', good)).status, 403, 'an admin does not send studies');
  assert.equal((await post(undefined, good)).status, 401, 'no client certificate and no session');
  assert.equal((await post(sender.partner, good)).status, 403, 'a partner node may not make us send');
  const stranger = issueNodeCertificate(sender.ca, {
    commonName: 'x.test',
    organization: { name: 'Elders', ura: '99999999' },
  });
  assert.equal((await post(stranger, good)).status, 403, 'another organization under the same CA');

  const bad = await post(sender.own, { ...good, to: '', purpose: 'holiday' });
  assert.equal(bad.status, 400);
  assert.equal((JSON.parse(bad.body) as { problems: string[] }).problems.length, 2);
  const refusals: [unknown, number, string][] = [
    [{ ...good, to: '10000009' }, 404, 'PARTNER_UNKNOWN'],
    [{ ...good, to: '10000003' }, 404, 'PARTNER_UNKNOWN'], // on the trust list, but without an address to send to
    [{ ...good, studyInstanceUid: '1.2.3.4' }, 404, 'NOT_FOUND'],
    [{ ...good, purpose: 'consultation' }, 422, 'SEND_NOT_ALLOWED'],
    [{ ...good, purpose: 'internal' }, 422, 'SEND_NOT_ALLOWED'],
  ];
  for (const [body, status, code] of refusals) {
    const r = await post(sender.own, body);
    assert.equal(r.status, status, r.body);
    const problem = JSON.parse(r.body) as { code: string; status: number; type: string };
    assert.equal(problem.code, code);
    assert.equal(problem.status, status);
    assert.equal(problem.type, `https://beeldbrug.nl/problems/${code.toLowerCase().replaceAll('_', '-')}`);
  }
  assert.deepEqual(await sender.n.node.outbox?.list(), [], 'nothing refused was queued');

  const ok = await post(sender.own, { ...good, purpose: 'consultation', consentReference: 'toestemming-2026-0042' });
  assert.equal(ok.status, 202, ok.body);
  assert.equal((await sender.n.node.outbox?.list())?.length, 1);
  const cn = (await sender.n.node.outbox?.list())?.[0]?.request.user;
  assert.match(cn?.id ?? '', /^system:/, 'a system of ours that sends in its own name is recorded as that system');
  const byBakker = await bakker.call('POST', '/api/v1/outbox', { ...good, to: midden.name });
  assert.equal(byBakker.status, 202, byBakker.body);
  const asked = (await sender.n.node.audit.list({ action: 'send' })).map((r) => r.user.name);
  assert.ok(
    asked.includes(radiologist.name),
    `the signed-in person is the user of the send record: ${asked.join(', ')}`,
  );
  assert.equal((await call(sender.port, 'GET', '/api/v1/outbox', sender.ca.certPem, sender.partner)).status, 403);
  assert.equal(
    (
      await call(
        sender.port,
        'GET',
        '/api/v1/outbox/00000000-0000-4000-8000-000000000000',
        sender.ca.certPem,
        sender.own,
      )
    ).status,
    404,
  );
});

test("send from the PACS menu: a C-MOVE (DCMTK movescu) to the partner's AE title queues the study and the partner gets it", async (t) => {
  if (requireTool(t, 'movescu') === undefined) return;
  const receiver = await startExchangeNode(t, { us: midden, partners: [noord] });
  const sender = await startExchangeNode(t, {
    ca: receiver.ca,
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiver.port}`, aeTitle: 'ZH_MIDDEN' }],
    dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', description: 'the PACS (no port: it only calls us)' }],
  });
  const study = await importSynthPatient(t, sender.n.node, 44);
  const move = await run('movescu', [
    '-S',
    '-aet',
    'PACS_NOORD',
    '-aec',
    sender.n.aeTitle,
    '-aem',
    'ZH_MIDDEN',
    '127.0.0.1',
    String(sender.n.port),
    '-k',
    'QueryRetrieveLevel=STUDY',
    '-k',
    `StudyInstanceUID=${study.studyInstanceUid}`,
  ]);
  assert.equal(move.code, 0, move.stderr);
  const queued = (await sender.n.node.outbox?.list()) ?? [];
  assert.equal(queued.length, 1);
  assert.equal(queued[0]?.request.studyInstanceUid, study.studyInstanceUid);
  assert.equal(queued[0]?.request.partnerUra, midden.ura);
  assert.equal(queued[0]?.request.user.name, 'PACS_NOORD', 'the calling PACS is named as the requester');
  await waitFor(
    'delivery',
    async () => (await sender.n.node.outbox?.get(queued[0]?.transferId ?? ''))?.state === 'delivered',
  );
  assert.equal((await receiver.n.node.store.index.stats()).instances, study.instances);

  // An AE title that is neither a peer nor a partner stays an unknown move destination.
  const unknown = await run('movescu', [
    '-S',
    '-aet',
    'PACS_NOORD',
    '-aec',
    sender.n.aeTitle,
    '-aem',
    'NOBODY',
    '127.0.0.1',
    String(sender.n.port),
    '-k',
    'QueryRetrieveLevel=STUDY',
    '-k',
    `StudyInstanceUID=${study.studyInstanceUid}`,
  ]);
  assert.match(unknown.stdout + unknown.stderr, /MoveDestinationUnknown/);
  assert.equal((await sender.n.node.outbox?.list())?.length, 1);
});

test('beeldbrug send to a partner that is down says why and when the node tries again, and gives up with exit 1 after the bound the user set', async (t) => {
  const downPort = await freePort();
  // Retries a minute apart: the CLI must stop on its own bound, not wait for the node's next attempt.
  const sender = await startExchangeNode(t, {
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${downPort}` }],
    outbox: { firstRetrySeconds: 60, maxRetrySeconds: 120 },
  });
  const study = await importSynthPatient(t, sender.n.node, 45);
  const secret = await addAccount(t, sender, radiologist);
  const sessionFile = join(tempDir(t), 'session.json');
  const caFile = join(tempDir(t), 'ca.crt');
  writeFileSync(caFile, sender.ca.certPem);
  const login = await cliLogin(sender, sessionFile, caFile, radiologist.username, secret);
  assert.equal(login.code, 0, login.stderr);

  const byAttempts = await cliAs(sessionFile, [
    'send',
    '--study',
    study.studyInstanceUid,
    '--to',
    midden.ura,
    '--purpose',
    'transfer',
    '--max-attempts',
    '1',
  ]);
  assert.equal(byAttempts.code, 1, byAttempts.stdout + byAttempts.stderr);
  assert.match(
    byAttempts.stderr,
    /attempt 1 failed: .*(ECONNREFUSED|PARTNER_UNREACHABLE).*; the node tries again at \d{4}-\d\d-\d\dT[\d:.]+Z \(in \d+ s\)/,
    'the reason and the next retry',
  );
  assert.match(
    byAttempts.stderr,
    /SEND_NOT_DELIVERED: not delivered after 1 attempt \(--max-attempts 1\): transfer [0-9a-f-]+ stays in the node's outbox and is tried again at /,
  );

  const byTime = await cliAs(sessionFile, [
    'send',
    '--study',
    study.studyInstanceUid,
    '--to',
    midden.ura,
    '--purpose',
    'transfer',
    '--give-up-after',
    '1s',
  ]);
  assert.equal(byTime.code, 1, byTime.stdout + byTime.stderr);
  assert.match(
    byTime.stderr,
    /SEND_NOT_DELIVERED: not delivered within 1 s \(--give-up-after\): transfer [0-9a-f-]+ stays in the node's outbox/,
  );
  const badBound = await cliAs(sessionFile, [
    'send',
    '--study',
    study.studyInstanceUid,
    '--to',
    midden.ura,
    '--purpose',
    'transfer',
    '--give-up-after',
    'soon',
  ]);
  assert.notEqual(badBound.code, 0);
  assert.match(badBound.stderr, /expected a time such as 90s, 10m or 2h/);
});

test('a system of ours acts for a person only with a verified assertion of the identity provider, and both are recorded', async (t) => {
  const idp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyFile = join(tempDir(t), 'idp.pub.pem');
  writeFileSync(keyFile, idp.publicKey.export({ type: 'spki', format: 'pem' }));
  const issuer = 'https://idp.noord.test';
  const audience = 'https://beeldbrug.noord.test';
  const sender = await startExchangeNode(t, {
    us: noord,
    partners: [{ ...midden, baseUrl: 'https://127.0.0.1:1' }],
    assertions: { audience, trustedKeys: [{ issuer, publicKeyFile: keyFile }] },
  });
  const study = await importSynthPatient(t, sender.n.node, 46);
  const jwt = (o: { key?: KeyObject; iss?: string; exp?: number } = {}) =>
    new SignJWT({ name: 'Dr. A. de Vries', uzi_role: '01.015' })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(o.iss ?? issuer)
      .setAudience(audience)
      .setSubject('uzi-900012345')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 5)
      .setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 120)
      .sign(o.key ?? idp.privateKey);
  const asRis = (assertion: string | undefined) =>
    send(
      sender.port,
      'POST',
      '/api/v1/outbox',
      sender.ca.certPem,
      sender.own,
      Buffer.from(JSON.stringify({ studyInstanceUid: study.studyInstanceUid, to: midden.ura, purpose: 'transfer' })),
      {
        'content-type': 'application/json',
        ...(assertion !== undefined ? { 'x-beeldbrug-on-behalf-of': assertion } : {}),
      },
    );

  for (const [why, bad] of [
    ['a bad signature', await jwt({ key: stranger.privateKey })],
    ['a wrong issuer', await jwt({ iss: 'https://idp.elders.test' })],
    ['an expired assertion', await jwt({ exp: Math.floor(Date.now() / 1000) - 60 })],
  ] as const) {
    const r = await asRis(bad);
    assert.equal(r.status, 403, `${why}: ${r.body}`);
    assert.match(r.body, /assertion-invalid/, why);
  }
  assert.deepEqual(await sender.n.node.outbox?.list(), [], 'nothing queued on a refused assertion');
  // The assertion counts only for our own systems: the same token without our certificate opens nothing.
  const noCertificate = await send(
    sender.port,
    'POST',
    '/api/v1/outbox',
    sender.ca.certPem,
    undefined,
    Buffer.from('{}'),
    { 'content-type': 'application/json', 'x-beeldbrug-on-behalf-of': await jwt() },
  );
  assert.equal(noCertificate.status, 401);

  const ok = await asRis(await jwt());
  assert.equal(ok.status, 202, ok.body);
  const record = (await sender.n.node.audit.list({ action: 'send' })).find((r) =>
    r.description.startsWith('study queued for sending'),
  );
  const cn = new X509Certificate(sender.own.certPem).subject
    .split('\n')
    .find((l) => l.startsWith('CN='))
    ?.slice(3);
  assert.equal(record?.user.id, `system:${cn}`, 'the system is the user');
  assert.deepEqual(
    record?.responsibleUser,
    { id: 'uzi-900012345', name: 'Dr. A. de Vries' },
    'the asserted person is the responsible user',
  );
  assert.deepEqual(
    (await sender.n.node.outbox?.list())?.[0]?.request.user,
    { id: 'uzi-900012345', name: 'Dr. A. de Vries', roleCode: '01.015' },
    'and the sender the partner is told of',
  );
});
