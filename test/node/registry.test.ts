// The registry at its edges: who may call it (mutual TLS, the same CA as the nodes, its own client list), what it
// refuses (a node registering for another organization, a consent without the required parts, a BSN instead of a
// pseudonym), its rate limit per client, and its query log.
import assert from 'node:assert/strict';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { createTestCa, issueNodeCertificate, type IssuedCertificate } from '../../src/auth/index.ts';
import { parseRegistryConfig } from '../../src/config/index.ts';
import { BeeldbrugError } from '../../src/errors/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { HttpsRegistryClient, PSEUDONYM_SYSTEM, pseudonymOf, startRegistry } from '../../src/registry/index.ts';
import { call, midden, noord } from '../support/exchange.ts';
import { tempDir } from '../support/tmp.ts';

const outsider = { name: 'Onbekend Ziekenhuis', ura: '10000077' };
const key = Buffer.alloc(32, 7);
const URA = 'http://fhir.nl/fhir/NamingSystem/ura';

async function registry(t: TestContext, rateLimit = { perSecond: 1000, burst: 1000 }) {
  const dir = tempDir(t);
  const ca = createTestCa({ commonName: 'Regio CA' });
  const own = issueNodeCertificate(ca, { commonName: 'registry.test', organization: { name: 'Regio', ura: '10000099' }, hosts: ['127.0.0.1'] });
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  writeFileSync(join(dir, 'registry.crt'), own.certPem);
  writeFileSync(join(dir, 'registry.key'), own.keyPem);
  const raw = {
    registry: { name: 'test registry', organization: { name: 'Regio', ura: '10000099' } },
    dataDir: 'data',
    listen: { host: '127.0.0.1', port: 0 },
    tls: { certFile: 'registry.crt', keyFile: 'registry.key', caFile: 'ca.crt' },
    clients: [noord, midden],
    rateLimit,
  };
  const logFile = join(dir, 'registry.log');
  const running = await startRegistry(parseRegistryConfig(raw, join(dir, 'registry.yaml')), createLogger({ level: 'info', destination: createWriteStream(logFile) }));
  t.after(() => running.close());
  const cert = (org: { name: string; ura: string }, from = ca): IssuedCertificate => issueNodeCertificate(from, { commonName: `${org.ura}.test`, organization: org, hosts: ['127.0.0.1'] });
  return { port: running.port, ca, cert, logFile, routes: running.routes };
}

const documentReference = (pseudonym: string, custodian: string) => ({
  resourceType: 'DocumentReference',
  status: 'current',
  subject: { identifier: { system: PSEUDONYM_SYSTEM, value: pseudonym } },
  custodian: { identifier: { system: URA, value: custodian } },
  category: [{ coding: [{ system: 'urn:beeldbrug:data-category', code: 'imaging' }] }],
});

test('registry: only certificates of the network CA naming an organization on its client list get in; every route declares it', async (t) => {
  const r = await registry(t);
  assert.ok(r.routes.every((route) => route.access === 'partner' || (route.url === '/health' && route.access === 'public')), 'only the liveness check is open');
  const search = `/fhir/DocumentReference?subject:identifier=${encodeURIComponent(`${PSEUDONYM_SYSTEM}|${pseudonymOf('111222333', key)}`)}`;
  assert.equal((await call(r.port, 'GET', '/health', r.ca.certPem)).status, 200);
  assert.equal((await call(r.port, 'GET', search, r.ca.certPem)).status, 401, 'no certificate');
  const foreignCa = createTestCa({ commonName: 'Other CA' });
  assert.equal((await call(r.port, 'GET', search, r.ca.certPem, r.cert(noord, foreignCa))).status, 401, 'a certificate from another CA');
  assert.equal((await call(r.port, 'GET', search, r.ca.certPem, r.cert(outsider))).status, 403, 'an organization not on the client list');
  assert.equal((await call(r.port, 'GET', search, r.ca.certPem, r.cert(noord))).status, 200);
  for (const route of r.routes.filter((x) => x.access === 'partner')) {
    const url = route.url.replace(':id', '1');
    const a = await call(r.port, route.method, url, r.ca.certPem, undefined, route.method === 'GET' || route.method === 'DELETE' ? undefined : {});
    assert.equal(a.status, 401, `${route.method} ${route.url} without a certificate`);
  }
});

test('registry: a node registers only its own organization; consents and search parameters are validated with a clear FHIR error', async (t) => {
  const r = await registry(t);
  const p = pseudonymOf('111222333', key);
  const asNoord = r.cert(noord);
  const foreign = await call(r.port, 'POST', '/fhir/DocumentReference', r.ca.certPem, asNoord, documentReference(p, midden.ura));
  assert.equal(foreign.status, 403);
  assert.match(foreign.body, /registers its own organization \(URA 10000001\)/);
  assert.equal((await call(r.port, 'POST', '/fhir/DocumentReference', r.ca.certPem, asNoord, documentReference(p, noord.ura))).status, 201);
  assert.equal((await call(r.port, 'POST', '/fhir/DocumentReference', r.ca.certPem, asNoord, documentReference(p, noord.ura))).status, 200, 'idempotent');

  // A plain BSN where the pseudonym belongs is refused, and says why.
  const bsnSubject = { ...documentReference(p, noord.ura), subject: { identifier: { system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: '111222333' } } };
  const refused = await call(r.port, 'POST', '/fhir/DocumentReference', r.ca.certPem, asNoord, bsnSubject);
  assert.equal(refused.status, 400);
  assert.match(refused.body, /OperationOutcome.*never by a BSN/);

  const consent = {
    resourceType: 'Consent',
    patient: { identifier: { system: PSEUDONYM_SYSTEM, value: p } },
    performer: [{ display: 'Balie' }],
    provision: { type: 'permit', actor: [], code: [{ coding: [{ system: 'urn:beeldbrug:data-category', code: 'imaging' }] }] },
  };
  const bad = await call(r.port, 'POST', '/fhir/Consent', r.ca.certPem, asNoord, consent);
  assert.equal(bad.status, 400);
  const issues = (JSON.parse(bad.body) as { issue: { diagnostics: string }[] }).issue.map((i) => i.diagnostics).join('\n');
  assert.match(issues, /extension: an extension urn:beeldbrug:fhir:consent-channel/);
  assert.match(issues, /provision\.actor: one actor/);
  assert.equal((await call(r.port, 'GET', '/fhir/DocumentReference?subject:identifier=nonsense', r.ca.certPem, asNoord)).status, 400);
  assert.equal((await call(r.port, 'POST', '/fhir/Consent/999/$revoke', r.ca.certPem, asNoord)).status, 404);
  const otherHolder = await call(r.port, 'POST', '/authorization/v1/release-decisions', r.ca.certPem, asNoord, { patient: { pseudonym: p }, holder: { ura: midden.ura }, requester: { ura: noord.ura }, dataCategory: 'imaging' });
  assert.equal(otherHolder.status, 403, 'a node asks about its own release only');
});

test('registry: each client has its own rate limit; every question gets a log line naming who asked, about which pseudonym, and the answer', async (t) => {
  const r = await registry(t, { perSecond: 1, burst: 5 });
  const tls = (org: { name: string; ura: string }) => {
    const c = r.cert(org);
    return { key: c.keyPem, cert: c.certPem, ca: r.ca.certPem };
  };
  const noordClient = new HttpsRegistryClient({ baseUrl: `https://127.0.0.1:${r.port}`, tls: tls(noord), networkKey: key, ourUra: noord.ura });
  const middenClient = new HttpsRegistryClient({ baseUrl: `https://127.0.0.1:${r.port}`, tls: tls(midden), networkKey: key, ourUra: midden.ura });
  t.after(() => {
    noordClient.close();
    middenClient.close();
  });
  for (let i = 0; i < 5; i++) assert.deepEqual(await noordClient.locate('111222333', 'treatment'), []);
  await assert.rejects(noordClient.locate('111222333', 'treatment'), (e) => e instanceof BeeldbrugError && e.code === 'REGISTRY_UNREACHABLE' && /answered 429/.test(e.message));
  assert.equal((await middenClient.mayRelease('111222333', noord.ura, 'imaging')).decision, 'deny', 'another client is not held back');
  const raw = await call(r.port, 'GET', `/fhir/DocumentReference?subject:identifier=${encodeURIComponent(`${PSEUDONYM_SYSTEM}|${pseudonymOf('111222333', key)}`)}`, r.ca.certPem, r.cert(noord));
  assert.equal(raw.status, 429);

  const log = readFileSync(r.logFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  const questions = log.filter((l) => l['op'] === 'locate' || l['op'] === 'release');
  assert.equal(questions.length, 6, 'five localization questions and one release question');
  const pseudonym = pseudonymOf('111222333', key);
  for (const q of questions) {
    assert.ok(q['client'] === noord.ura || q['client'] === midden.ura);
    assert.ok(String(q['pseudonym']).includes(pseudonym));
    assert.ok('answer' in q);
  }
  assert.ok(log.some((l) => l['msg'] === 'rate limit: request refused' && l['client'] === noord.ura));
  assert.ok(!readFileSync(r.logFile, 'utf8').includes('111222333'), 'no BSN in the registry log');
});

test('registry configuration errors name the key', () => {
  assert.throws(
    () => parseRegistryConfig({ registry: { name: 'x', organization: { name: 'x', ura: '1' } }, dataDir: 'd', listen: { host: 'h', port: 1 }, tls: { certFile: 'a', keyFile: 'b', caFile: 'c' }, clients: [] }, 'r.yaml'),
    (e) => e instanceof BeeldbrugError && /registry\.organization\.ura: a URA number is 8 digits/.test(e.message) && /clients: no node could call the registry/.test(e.message),
  );
});
