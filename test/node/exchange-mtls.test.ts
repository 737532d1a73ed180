// Node-to-node HTTPS with mutual TLS and a trust list (certificates from the project's PKI, as `beeldbrug pki` makes
// them): a partner gets in; no certificate, a foreign CA, an expired certificate, or a trusted certificate of an
// organization that is not a partner are each refused and logged. Only the liveness route is open.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestCa, type IssuedCertificate, issueNodeCertificate } from '../../src/auth/index.ts';
import { call, midden, noord, startExchangeNode } from '../support/exchange.ts';
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

  const partnerRoutes = n.node.https?.routes.filter((r) => r.access === 'partner') ?? [];
  assert.ok(partnerRoutes.length > 0);
  assert.deepEqual(n.node.https?.routes.filter((r) => r.access === 'public').map((r) => r.url), ['/health'], 'the only open route');
  for (const route of partnerRoutes) {
    const refusals: [string, IssuedCertificate | undefined, number][] = [
      ['no certificate', undefined, 401],
      ['a certificate from another CA', foreign, 401],
      ['an expired certificate', expired, 401],
      ['a trusted certificate of an organization that is not a partner', stranger, 403],
    ];
    for (const [what, cert, status] of refusals) {
      const a = await call(port, route.method, route.url, ca.certPem, cert);
      assert.equal(a.status, status, `${route.method} ${route.url} with ${what}`);
      assert.doesNotMatch(a.body, /Noord|10000001/, 'a refusal tells nothing about the node');
    }
  }
  assert.equal((await call(port, 'GET', '/exchange/v1/nothing-here', ca.certPem, partner)).status, 404);

  await waitFor('the refusals in the log', async () => logLines(n).filter((l) => String(l['msg']).startsWith('refused')).length >= 4 * partnerRoutes.length, 5000);
  const reasons = new Set(logLines(n).filter((l) => String(l['msg']).startsWith('refused')).map((l) => l['reason']));
  for (const r of ['no-client-certificate', 'untrusted-certificate', 'organization-not-trusted']) assert.ok(reasons.has(r), `a refusal for ${r} is logged`);
});
