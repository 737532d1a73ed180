// Node-to-node HTTPS with mutual TLS and a trust list (certificates from the project's PKI, as `beeldbrug pki` makes
// them): a partner gets in; no certificate, a foreign CA, an expired certificate, or a trusted certificate of an
// organization that is not a partner are each refused and logged. Only the liveness route is open. The route inventory
// comes from the router: every route (partner, own-organization, staff sign-in and staff routes) refuses callers without
// the credentials it declares.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  createIntermediateCa,
  createTestCa,
  type IssuedCertificate,
  issueNodeCertificate,
} from '../../src/auth/index.ts';
import { BeeldbrugError } from '../../src/errors/index.ts';
import { openSqliteInbox, sendStudy, verifyReceipt } from '../../src/exchange/index.ts';
import { createLogger, silentLogger } from '../../src/log/index.ts';
import { PassThrough } from 'node:stream';
import { type Answer, call, midden, noord, send, startExchangeNode, studyHeldBy } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { logLines } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { testAccess } from '../support/patient-data.ts';

test('exchange HTTPS: partners by mutual TLS and URA; everything else refused and logged', async (t) => {
  const { n, port, ca, partner } = await startExchangeNode(t);
  assert.equal(n.node.https?.port, port);
  const stranger = issueNodeCertificate(ca, {
    commonName: 'zuid.test',
    organization: { name: 'Ziekenhuis Zuid', ura: '10000003' },
  });
  const expired = issueNodeCertificate(ca, {
    commonName: 'old.test',
    organization: midden,
    validDays: 1,
    notBefore: new Date(Date.now() - 30 * 86_400_000),
  });
  const foreign = issueNodeCertificate(createTestCa({ commonName: 'not our CA' }), {
    commonName: 'foreign.test',
    organization: midden,
  });

  assert.deepEqual(
    await call(port, 'GET', '/health', ca.certPem),
    { status: 200, body: '{"status":"ok"}' },
    'liveness is open and says nothing else',
  );
  const hello = await call(port, 'GET', '/exchange/v1/hello', ca.certPem, partner);
  assert.equal(hello.status, 200);
  assert.deepEqual(JSON.parse(hello.body), { organization: noord, caller: { name: midden.name, ura: midden.ura } });

  // The route inventory, from the router itself: every route refuses a caller without the credentials it declares.
  const routes = n.node.https?.routes ?? [];
  const partnerRoutes = routes.filter((r) => r.access === 'partner');
  assert.ok(partnerRoutes.length > 0);
  assert.deepEqual(
    routes.filter((r) => r.access === 'public').map((r) => r.url),
    ['/health', '/', '/share', '/assets/*', '/favicon.svg', '/api/v1/workspace'],
    "the only open routes: liveness, the web app's files (its staff page, and its share recipients' page), and what its sign-in page shows",
  );
  const workspace = await call(port, 'GET', '/api/v1/workspace', ca.certPem);
  assert.deepEqual(
    Object.keys(JSON.parse(workspace.body) as object).sort(),
    ['organization', 'signIn'],
    "the sign-in page learns the hospital's name and how to sign in, nothing else",
  );
  assert.deepEqual(
    routes.filter((r) => r.access === 'sign-in').map((r) => `${r.method} ${r.url}`),
    ['POST /api/v1/session'],
    'the only route that takes no session or certificate',
  );
  const selfSigned = createTestCa({ commonName: 'self-signed Midden' });
  const certificateRefusals: [string, IssuedCertificate | undefined, number][] = [
    ['no certificate', undefined, 401],
    ['a self-signed certificate', selfSigned, 401],
    ['a certificate from another CA', foreign, 401],
    ['an expired certificate', expired, 401],
    ['a trusted certificate of an organization that is not a partner', stranger, 403],
  ];
  const tried = new Set<string>();
  for (const route of routes) {
    const url = route.url.replaceAll(/:(\w+)/g, '1.2.3');
    const calls: [string, Promise<Answer>, number | 'refused'][] = [];
    if (route.access === 'public') continue;
    if (route.access === 'sign-in') {
      calls.push(['no credentials', call(port, route.method, url, ca.certPem), 'refused']);
      calls.push([
        'a partner certificate and no credentials',
        call(port, route.method, url, ca.certPem, partner),
        'refused',
      ]);
    } else if (typeof route.access === 'object') {
      // A route for people; where our own systems may call it too, a certificate of another organization is a 403.
      const ownSystems = route.access.systems !== undefined;
      calls.push(['no session', call(port, route.method, url, ca.certPem), 401]);
      calls.push([
        'a partner certificate and no session',
        call(port, route.method, url, ca.certPem, partner),
        ownSystems ? 403 : 401,
      ]);
      calls.push([
        'a made-up session token',
        send(port, route.method, url, ca.certPem, undefined, undefined, { authorization: `Bearer ${'x'.repeat(43)}` }),
        401,
      ]);
      if (ownSystems)
        for (const [what, cert, status] of certificateRefusals)
          calls.push([what, call(port, route.method, url, ca.certPem, cert), status]);
    } else {
      for (const [what, cert, status] of certificateRefusals)
        calls.push([what, call(port, route.method, url, ca.certPem, cert), status]);
      if (route.access === 'own-organization')
        calls.push([
          "a partner certificate on our own systems' route",
          call(port, route.method, url, ca.certPem, partner),
          403,
        ]);
    }
    for (const [what, answer, expected] of calls) {
      const a = await answer;
      if (expected === 'refused')
        assert.ok(
          a.status === 400 || a.status === 401,
          `${route.method} ${route.url} with ${what}: ${String(a.status)}`,
        );
      else assert.equal(a.status, expected, `${route.method} ${route.url} with ${what}`);
      assert.doesNotMatch(a.body, /Noord|10000001|999\d{6}/, 'a refusal tells nothing about the node or a patient');
    }
    tried.add(
      typeof route.access === 'object'
        ? route.access.systems !== undefined
          ? 'person-or-own-system'
          : 'user'
        : route.access,
    );
  }
  assert.deepEqual(
    [...tried].sort(),
    ['partner', 'person-or-own-system', 'sign-in', 'user'],
    'every kind of route was tried',
  );
  assert.equal((await call(port, 'GET', '/exchange/v1/nothing-here', ca.certPem, partner)).status, 404);

  await waitFor(
    'the refusals in the log',
    async () => logLines(n).filter((l) => String(l['msg']).startsWith('refused')).length >= 4 * partnerRoutes.length,
  );
  const reasons = new Set(
    logLines(n)
      .filter((l) => String(l['msg']).startsWith('refused'))
      .map((l) => l['reason']),
  );
  for (const r of ['no-client-certificate', 'untrusted-certificate', 'organization-not-trusted', 'no-session'])
    assert.ok(reasons.has(r), `a refusal for ${r} is logged`);
});

test('a partner configured with the right address but another URA: the handshake stops it, nothing arrives', async (t) => {
  const ca = createTestCa({ commonName: 'regio test CA' });
  const receiverData = tempDir(t);
  const receiver = await startExchangeNode(t, { ca, us: midden, partners: [noord], dataDir: receiverData });
  // Zuid's URA, Midden's address: an operator's slip, or a DNS entry pointing at the wrong hospital.
  const zuid = { name: 'Ziekenhuis Zuid', ura: '10000003', baseUrl: `https://127.0.0.1:${receiver.port}` };
  const sender = await startExchangeNode(t, { ca, us: noord, partners: [zuid] });

  const { study } = await studyHeldBy(t, sender.n, 32);

  const request = {
    studyInstanceUid: study.studyInstanceUid,
    to: zuid,
    purpose: 'transfer' as const,
    urgency: 'routine' as const,
    reason: 'Overplaatsing',
    user: { id: 'radioloog-7', name: 'Dr. C. Bakker' },
  };
  const senderLog: string[] = [];
  const logStream = new PassThrough();
  logStream.on('data', (line: Buffer) => senderLog.push(line.toString()));
  const failed = await sendStudy(request, {
    access: testAccess(sender.n.node, 'exchange'),
    tls: sender.tls,
    logger: createLogger({ level: 'info', destination: logStream }),
    attempts: 8,
  }).then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(failed instanceof BeeldbrugError, `the send fails with a catalog error, got ${String(failed)}`);
  assert.equal(failed.code, 'PARTNER_IDENTITY_MISMATCH');
  assert.match(failed.message, /URA 10000002/, 'the error names the URA the server presented');
  assert.match(failed.message, /10000003/, 'and the one configured');
  assert.ok(!senderLog.some((l) => l.includes('trying again')), 'the wrong organization is not tried again');

  assert.equal((await receiver.n.node.store.index.stats()).instances, 0, 'no instance arrived');
  const inbox = openSqliteInbox(join(receiverData, 'exchange.sqlite'));
  try {
    assert.deepEqual(
      await inbox.list(),
      [],
      "the other hospital's inbox lists nothing: not even the manifest got through",
    );
  } finally {
    await inbox.close();
  }
});

test('certificates from an issuing CA under the root, as UZI server certificates are: mutual TLS, partner check and receipt hold', async (t) => {
  const root = createTestCa({ commonName: 'regio test root' });
  const issuing = createIntermediateCa(root, { commonName: 'regio issuing CA' });
  const identity = (org: { name: string; ura: string }): IssuedCertificate =>
    issueNodeCertificate(issuing, { commonName: `${org.ura}.test`, organization: org, hosts: ['127.0.0.1'] });
  const receiver = await startExchangeNode(t, { ca: root, identity: identity(midden), us: midden, partners: [noord] });
  const sender = await startExchangeNode(t, {
    ca: root,
    identity: identity(noord),
    us: noord,
    partners: [{ ...midden, baseUrl: `https://127.0.0.1:${receiver.port}` }],
  });

  const hello = await call(receiver.port, 'GET', '/exchange/v1/hello', root.certPem, identity(noord));
  assert.equal(hello.status, 200, hello.body);
  assert.deepEqual(JSON.parse(hello.body).caller, { name: noord.name, ura: noord.ura });

  const { study } = await studyHeldBy(t, sender.n, 33);
  const result = await sendStudy(
    {
      studyInstanceUid: study.studyInstanceUid,
      to: { ...midden, baseUrl: `https://127.0.0.1:${receiver.port}` },
      purpose: 'transfer',
      urgency: 'routine',
      reason: 'Overplaatsing',
      user: { id: 'radioloog-7', name: 'Dr. C. Bakker' },
    },
    { access: testAccess(sender.n.node, 'exchange'), tls: sender.tls, logger: silentLogger() },
  );
  assert.equal(result.sent, study.instances);
  const receipt = await verifyReceipt(result.receipt, root.certPem);
  assert.ok(receipt.ok, 'the receipt, signed with a certificate under the issuing CA, verifies against the root');
  assert.equal(receipt.claims.receiver.ura, midden.ura);
});
