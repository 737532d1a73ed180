// Node-to-node HTTPS with mutual TLS and a trust list (certificates from the project's PKI, as `beeldbrug pki` makes
// them): a partner gets in; no certificate, a foreign CA, an expired certificate, or a trusted certificate of an
// organization that is not a partner are each refused and logged. Only the liveness route is open.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { createTestCa, type IssuedCertificate, issueNodeCertificate } from '../../src/auth/index.ts';
import { freePort, waitFor } from '../support/net.ts';
import { logLines, startTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';

interface Answer {
  status: number | 'tls-error';
  body: string;
}

function get(port: number, path: string, ca: string, client?: IssuedCertificate): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path, ca, ...(client !== undefined ? { key: client.keyPem, cert: client.certPem } : {}), agent: false },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', (e) => resolve({ status: 'tls-error', body: e.message }));
    req.end();
  });
}

test('exchange HTTPS: partners by mutual TLS and URA; everything else refused and logged', async (t) => {
  const pki = tempDir(t);
  const ca = createTestCa({ commonName: 'Beeldbrug test CA' });
  const noord = { name: 'Ziekenhuis Noord', ura: '10000001' };
  const midden = { name: 'Ziekenhuis Midden', ura: '10000002' };
  const server = issueNodeCertificate(ca, { commonName: 'noord.test', organization: noord, hosts: ['127.0.0.1'] });
  writeFileSync(join(pki, 'ca.crt'), ca.certPem);
  writeFileSync(join(pki, 'node.crt'), server.certPem);
  writeFileSync(join(pki, 'node.key'), server.keyPem);
  const port = await freePort();
  const n = await startTestNode(t, {
    edit: (raw) => {
      raw['node'] = { name: 'Noord', organization: noord };
      raw['exchange'] = {
        listen: { host: '127.0.0.1', port },
        tls: { certFile: join(pki, 'node.crt'), keyFile: join(pki, 'node.key'), caFile: join(pki, 'ca.crt') },
        partners: [{ ura: midden.ura, name: midden.name, baseUrl: 'https://127.0.0.1:1' }],
      };
    },
  });
  assert.equal(n.node.https?.port, port);

  const partner = issueNodeCertificate(ca, { commonName: 'midden.test', organization: midden });
  const stranger = issueNodeCertificate(ca, { commonName: 'zuid.test', organization: { name: 'Ziekenhuis Zuid', ura: '10000003' } });
  const expired = issueNodeCertificate(ca, { commonName: 'old.test', organization: midden, validDays: 1, notBefore: new Date(Date.now() - 30 * 86_400_000) });
  const foreign = issueNodeCertificate(createTestCa({ commonName: 'not our CA' }), { commonName: 'foreign.test', organization: midden });

  assert.deepEqual(await get(port, '/health', ca.certPem), { status: 200, body: '{"status":"ok"}' }, 'liveness is open and says nothing else');
  const hello = await get(port, '/exchange/v1/hello', ca.certPem, partner);
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
      const a = await get(port, route.url, ca.certPem, cert);
      assert.equal(a.status, status, `${route.method} ${route.url} with ${what}`);
      assert.doesNotMatch(a.body, /Noord|10000001/, 'a refusal tells nothing about the node');
    }
  }
  assert.equal((await get(port, '/exchange/v1/nothing-here', ca.certPem, partner)).status, 404);

  await waitFor('the refusals in the log', async () => logLines(n).filter((l) => String(l['msg']).startsWith('refused')).length >= 4 * partnerRoutes.length, 5000);
  const reasons = new Set(logLines(n).filter((l) => String(l['msg']).startsWith('refused')).map((l) => l['reason']));
  for (const r of ['no-client-certificate', 'untrusted-certificate', 'organization-not-trusted']) assert.ok(reasons.has(r), `a refusal for ${r} is logged`);
});
