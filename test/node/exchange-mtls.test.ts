// Node-to-node HTTPS with mutual TLS and a trust list (certificates from the project's PKI, as `beeldbrug pki` makes
// them): a partner gets in; no certificate, a foreign CA, an expired certificate, or a trusted certificate of an
// organization that is not a partner are each refused and logged. Only the liveness route is open. The route inventory
// comes from the router: every route (partner, own-organization, staff sign-in and staff routes) refuses callers without
// the credentials it declares.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestCa, type IssuedCertificate, issueNodeCertificate } from '../../src/auth/index.ts';
import { type Answer, call, midden, noord, send, startExchangeNode } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { logLines } from '../support/node.ts';

test('exchange HTTPS: partners by mutual TLS and URA; everything else refused and logged', async (t) => {
  const { n, port, ca, partner } = await startExchangeNode(t);
  assert.equal(n.node.https?.port, port);
  const stranger = issueNodeCertificate(ca, { commonName: 'zuid.test', organization: { name: 'Ziekenhuis Zuid', ura: '10000003' } });
  const expired = issueNodeCertificate(ca, { commonName: 'old.test', organization: midden, validDays: 1, notBefore: new Date(Date.now() - 30 * 86_400_000) });
  const foreign = issueNodeCertificate(createTestCa({ commonName: 'not our CA' }), { commonName: 'foreign.test', organization: midden });

  assert.deepEqual(await call(port, 'GET', '/health', ca.certPem), { status: 200, body: '{"status":"ok"}' }, 'liveness is open and says nothing else');
  const hello = await call(port, 'GET', '/exchange/v1/hello', ca.certPem, partner);
  assert.equal(hello.status, 200);
  assert.deepEqual(JSON.parse(hello.body), { organization: noord, caller: { name: midden.name, ura: midden.ura } });

  // The route inventory, from the router itself: every route refuses a caller without the credentials it declares.
  const routes = n.node.https?.routes ?? [];
  const partnerRoutes = routes.filter((r) => r.access === 'partner');
  assert.ok(partnerRoutes.length > 0);
  assert.deepEqual(routes.filter((r) => r.access === 'public').map((r) => r.url), ['/health'], 'the only open route');
  assert.deepEqual(routes.filter((r) => r.access === 'sign-in').map((r) => `${r.method} ${r.url}`), ['POST /api/v1/session'], 'the only route that takes no session or certificate');
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
      calls.push(['a partner certificate and no credentials', call(port, route.method, url, ca.certPem, partner), 'refused']);
    } else if (typeof route.access === 'object') {
      calls.push(['no session', call(port, route.method, url, ca.certPem), 401]);
      calls.push(['a partner certificate and no session', call(port, route.method, url, ca.certPem, partner), 401]);
      calls.push(['a made-up session token', send(port, route.method, url, ca.certPem, undefined, undefined, { authorization: `Bearer ${'x'.repeat(43)}` }), 401]);
    } else {
      for (const [what, cert, status] of certificateRefusals) calls.push([what, call(port, route.method, url, ca.certPem, cert), status]);
      if (route.access === 'own-organization') calls.push(["a partner certificate on our own systems' route", call(port, route.method, url, ca.certPem, partner), 403]);
    }
    for (const [what, answer, expected] of calls) {
      const a = await answer;
      if (expected === 'refused') assert.ok(a.status === 400 || a.status === 401, `${route.method} ${route.url} with ${what}: ${String(a.status)}`);
      else assert.equal(a.status, expected, `${route.method} ${route.url} with ${what}`);
      assert.doesNotMatch(a.body, /Noord|10000001|999\d{6}/, 'a refusal tells nothing about the node or a patient');
    }
    tried.add(typeof route.access === 'object' ? 'user' : route.access);
  }
  assert.deepEqual([...tried].sort(), ['own-organization', 'partner', 'sign-in', 'user'], 'every kind of route was tried');
  assert.equal((await call(port, 'GET', '/exchange/v1/nothing-here', ca.certPem, partner)).status, 404);

  await waitFor('the refusals in the log', async () => logLines(n).filter((l) => String(l['msg']).startsWith('refused')).length >= 4 * partnerRoutes.length);
  const reasons = new Set(logLines(n).filter((l) => String(l['msg']).startsWith('refused')).map((l) => l['reason']));
  for (const r of ['no-client-certificate', 'untrusted-certificate', 'organization-not-trusted', 'no-session']) assert.ok(reasons.has(r), `a refusal for ${r} is logged`);
});
