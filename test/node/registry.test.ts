// The registry at its edges: who may call it (mutual TLS, the same CA as the nodes, its own client list), what it
// refuses (a node registering for another organization, a consent without the required parts, a BSN instead of a
// pseudonym), its rate limit per client, and its query log.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type TestContext, test } from 'node:test';
import { createTestCa, issueNodeCertificate, type IssuedCertificate } from '../../src/auth/index.ts';
import { parseRegistryConfig } from '../../src/config/index.ts';
import { BeeldbrugError } from '../../src/errors/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { HttpsRegistryClient, PSEUDONYM_SYSTEM, pseudonymOf, startRegistry } from '../../src/registry/index.ts';
import { call, midden, noord, send } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { tempDir } from '../support/tmp.ts';
import { syncLogFile } from '../support/log-file.ts';

const outsider = { name: 'Onbekend Ziekenhuis', ura: '10000077' };
const key = Buffer.alloc(32, 7);
const URA = 'http://fhir.nl/fhir/NamingSystem/ura';

/** The patients' own channel: a portal of its own organization, named by the common name of its certificate too. */
const portal = {
  name: 'Patiëntenportaal',
  ura: '10000050',
  role: 'patient-portal',
  commonName: 'portaal.test',
} as const;

async function registry(
  t: TestContext,
  rateLimit = { perSecond: 1000, burst: 1000 },
  o: { seed?: (dataDir: string) => void } = {},
) {
  const dir = tempDir(t);
  if (o.seed !== undefined) {
    mkdirSync(join(dir, 'data'));
    o.seed(join(dir, 'data'));
  }
  const ca = createTestCa({ commonName: 'Regio CA' });
  const own = issueNodeCertificate(ca, {
    commonName: 'registry.test',
    organization: { name: 'Regio', ura: '10000099' },
    hosts: ['127.0.0.1'],
  });
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  writeFileSync(join(dir, 'registry.crt'), own.certPem);
  writeFileSync(join(dir, 'registry.key'), own.keyPem);
  const raw = {
    registry: { name: 'test registry', organization: { name: 'Regio', ura: '10000099' } },
    dataDir: 'data',
    listen: { host: '127.0.0.1', port: 0 },
    tls: { certFile: 'registry.crt', keyFile: 'registry.key', caFile: 'ca.crt' },
    clients: [noord, midden, portal],
    rateLimit,
  };
  const logFile = join(dir, 'registry.log');
  const running = await startRegistry(
    parseRegistryConfig(raw, join(dir, 'registry.yaml')),
    createLogger({ level: 'info', destination: syncLogFile(logFile) }),
  );
  t.after(() => running.close());
  const cert = (org: { name: string; ura: string }, from = ca, commonName = `${org.ura}.test`): IssuedCertificate =>
    issueNodeCertificate(from, { commonName, organization: { name: org.name, ura: org.ura }, hosts: ['127.0.0.1'] });
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
  assert.ok(
    r.routes.every((route) => route.access === 'partner' || (route.url === '/health' && route.access === 'public')),
    'only the liveness check is open',
  );
  const search = `/fhir/DocumentReference?subject:identifier=${encodeURIComponent(`${PSEUDONYM_SYSTEM}|${pseudonymOf('111222333', key)}`)}`;
  assert.equal((await call(r.port, 'GET', '/health', r.ca.certPem)).status, 200);
  assert.equal((await call(r.port, 'GET', search, r.ca.certPem)).status, 401, 'no certificate');
  const foreignCa = createTestCa({ commonName: 'Other CA' });
  assert.equal(
    (await call(r.port, 'GET', search, r.ca.certPem, r.cert(noord, foreignCa))).status,
    401,
    'a certificate from another CA',
  );
  assert.equal(
    (await call(r.port, 'GET', search, r.ca.certPem, r.cert(outsider))).status,
    403,
    'an organization not on the client list',
  );
  assert.equal((await call(r.port, 'GET', search, r.ca.certPem, r.cert(noord))).status, 200);
  for (const route of r.routes.filter((x) => x.access === 'partner')) {
    const url = route.url.replace(':id', '1');
    const a = await call(
      r.port,
      route.method,
      url,
      r.ca.certPem,
      undefined,
      route.method === 'GET' || route.method === 'DELETE' ? undefined : {},
    );
    assert.equal(a.status, 401, `${route.method} ${route.url} without a certificate`);
  }
});

test('registry: a node registers only its own organization; consents and search parameters are validated with a clear FHIR error', async (t) => {
  const r = await registry(t);
  const p = pseudonymOf('111222333', key);
  const asNoord = r.cert(noord);
  const foreign = await call(
    r.port,
    'POST',
    '/fhir/DocumentReference',
    r.ca.certPem,
    asNoord,
    documentReference(p, midden.ura),
  );
  assert.equal(foreign.status, 403);
  assert.match(foreign.body, /registers its own organization \(URA 10000001\)/);
  assert.equal(
    (await call(r.port, 'POST', '/fhir/DocumentReference', r.ca.certPem, asNoord, documentReference(p, noord.ura)))
      .status,
    201,
  );
  assert.equal(
    (await call(r.port, 'POST', '/fhir/DocumentReference', r.ca.certPem, asNoord, documentReference(p, noord.ura)))
      .status,
    200,
    'idempotent',
  );

  // A plain BSN where the pseudonym belongs is refused, and says why.
  const bsnSubject = {
    ...documentReference(p, noord.ura),
    subject: { identifier: { system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: '111222333' } },
  };
  const refused = await call(r.port, 'POST', '/fhir/DocumentReference', r.ca.certPem, asNoord, bsnSubject);
  assert.equal(refused.status, 400);
  assert.match(refused.body, /OperationOutcome.*never by a BSN/);

  const consent = {
    resourceType: 'Consent',
    extension: [{ url: 'urn:beeldbrug:fhir:consent-channel', valueCode: 'fax' }],
    patient: { identifier: { system: PSEUDONYM_SYSTEM, value: p } },
    performer: [{ display: 'Balie' }],
    provision: {
      type: 'permit',
      actor: [],
      code: [{ coding: [{ system: 'urn:beeldbrug:data-category', code: 'imaging' }] }],
    },
  };
  const bad = await call(r.port, 'POST', '/fhir/Consent', r.ca.certPem, asNoord, consent);
  assert.equal(bad.status, 400);
  const issues = (JSON.parse(bad.body) as { issue: { diagnostics: string }[] }).issue
    .map((i) => i.diagnostics)
    .join('\n');
  assert.match(
    issues,
    /extension: an extension urn:beeldbrug:fhir:consent-channel has valueCode patient-portal or care-provider/,
  );
  assert.match(issues, /provision\.actor: one actor/);
  assert.equal(
    (await call(r.port, 'GET', '/fhir/DocumentReference?subject:identifier=nonsense', r.ca.certPem, asNoord)).status,
    400,
  );
  assert.equal((await call(r.port, 'POST', '/fhir/Consent/999/$revoke', r.ca.certPem, asNoord)).status, 404);
  const otherHolder = await call(r.port, 'POST', '/authorization/v1/release-decisions', r.ca.certPem, asNoord, {
    patient: { pseudonym: p },
    holder: { ura: midden.ura },
    requester: { ura: noord.ura },
    dataCategory: 'imaging',
  });
  assert.equal(otherHolder.status, 403, 'a node asks about its own release only');
});

test('registry: each client has its own rate limit; every question gets a log line naming who asked, about which pseudonym, and the answer', async (t) => {
  const r = await registry(t, { perSecond: 1, burst: 5 });
  const tls = (org: { name: string; ura: string }) => {
    const c = r.cert(org);
    return { key: c.keyPem, cert: c.certPem, ca: r.ca.certPem };
  };
  const noordClient = new HttpsRegistryClient({
    baseUrl: `https://127.0.0.1:${r.port}`,
    tls: tls(noord),
    networkKey: key,
    ourUra: noord.ura,
  });
  const middenClient = new HttpsRegistryClient({
    baseUrl: `https://127.0.0.1:${r.port}`,
    tls: tls(midden),
    networkKey: key,
    ourUra: midden.ura,
  });
  t.after(() => {
    noordClient.close();
    middenClient.close();
  });
  for (let i = 0; i < 5; i++) assert.deepEqual(await noordClient.locate('111222333', 'treatment'), []);
  await assert.rejects(
    noordClient.locate('111222333', 'treatment'),
    (e) => e instanceof BeeldbrugError && e.code === 'REGISTRY_UNREACHABLE' && /answered 429/.test(e.message),
  );
  assert.equal(
    (await middenClient.mayRelease('111222333', noord.ura, 'imaging')).decision,
    'deny',
    'another client is not held back',
  );
  const raw = await call(
    r.port,
    'GET',
    `/fhir/DocumentReference?subject:identifier=${encodeURIComponent(`${PSEUDONYM_SYSTEM}|${pseudonymOf('111222333', key)}`)}`,
    r.ca.certPem,
    r.cert(noord),
  );
  assert.equal(raw.status, 429);

  const readLog = (): Record<string, unknown>[] =>
    readFileSync(r.logFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const isQuestion = (l: Record<string, unknown>): boolean => l['op'] === 'locate' || l['op'] === 'release';
  // The registry's logger writes on its own time: wait for the lines, a busy machine may not have written them yet.
  await waitFor('the six question log lines and the refusal', async () => {
    const lines = readLog();
    return lines.filter(isQuestion).length >= 6 && lines.some((l) => l['msg'] === 'rate limit: request refused');
  });
  const log = readLog();
  const questions = log.filter(isQuestion);
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
    () =>
      parseRegistryConfig(
        {
          registry: { name: 'x', organization: { name: 'x', ura: '1' } },
          dataDir: 'd',
          listen: { host: 'h', port: 1 },
          tls: { certFile: 'a', keyFile: 'b', caFile: 'c' },
          clients: [],
        },
        'r.yaml',
      ),
    (e) =>
      e instanceof BeeldbrugError &&
      /registry\.organization\.ura: a URA number is 8 digits/.test(e.message) &&
      /clients: no node could call the registry/.test(e.message),
  );
});

// Who may change what: a consent belongs to the organization that recorded it, and to the patient's own channel.
const CHANNEL = 'urn:beeldbrug:fhir:consent-channel';
const consentBody = (
  pseudonym: string,
  decision: 'permit' | 'deny',
  actor: { role: 'CST' | 'IRCP'; ura: string } | { role: 'CST' | 'IRCP'; type: 'V4' },
  channel?: 'care-provider' | 'patient-portal',
) => ({
  resourceType: 'Consent',
  status: 'active',
  ...(channel !== undefined ? { extension: [{ url: CHANNEL, valueCode: channel }] } : {}),
  patient: { identifier: { system: PSEUDONYM_SYSTEM, value: pseudonym } },
  performer: [{ identifier: { value: 'balie-7' }, display: 'Balie' }],
  provision: {
    type: decision,
    actor: [
      {
        role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: actor.role }] },
        reference: {
          identifier:
            'ura' in actor
              ? { system: URA, value: actor.ura }
              : { system: 'urn:oid:2.16.840.1.113883.2.4.15.1060', value: actor.type },
        },
      },
    ],
    code: [{ coding: [{ system: 'urn:beeldbrug:data-category', code: 'imaging' }] }],
  },
});
const json = (a: { body: string }): Record<string, unknown> => JSON.parse(a.body) as Record<string, unknown>;
const errorCode = (a: { body: string }): unknown =>
  (json(a)['issue'] as { details?: { coding: { code: string }[] } }[])[0]?.details?.coding[0]?.code;

async function consentNetwork(t: TestContext, o: Parameters<typeof registry>[2] = {}) {
  const r = await registry(t, undefined, o);
  const asNoord = r.cert(noord);
  const asMidden = r.cert(midden);
  const asPortal = r.cert(portal, r.ca, portal.commonName);
  const as = (who: IssuedCertificate) => (method: string, path: string, body?: unknown) =>
    call(r.port, method, path, r.ca.certPem, who, body);
  return { r, noordCalls: as(asNoord), middenCalls: as(asMidden), portalCalls: as(asPortal), asPortal };
}

test("registry: a hospital cannot revoke or change another hospital's consent; to it the consent does not exist", async (t) => {
  const { r, noordCalls, middenCalls } = await consentNetwork(t);
  const p = pseudonymOf('111222333', key);
  const recorded = await middenCalls(
    'POST',
    '/fhir/Consent',
    consentBody(p, 'permit', { role: 'CST', ura: midden.ura }, 'care-provider'),
  );
  assert.equal(recorded.status, 201, recorded.body);
  const id = String(json(recorded)['id']);
  const unknown = await noordCalls('POST', '/fhir/Consent/AAAAAAAAAAAAAAAAAAAAAA/$revoke');

  const revoke = await noordCalls('POST', `/fhir/Consent/${id}/$revoke`);
  assert.equal(revoke.status, 404);
  assert.equal(revoke.body, unknown.body, 'the same answer as for a consent that does not exist');
  assert.equal(errorCode(revoke), 'NOT_FOUND');
  const change = await noordCalls(
    'PUT',
    `/fhir/Consent/${id}`,
    consentBody(p, 'deny', { role: 'CST', ura: midden.ura }),
  );
  assert.equal(change.status, 404);
  const changeOwnTerms = await noordCalls(
    'PUT',
    `/fhir/Consent/${id}`,
    consentBody(p, 'deny', { role: 'CST', ura: noord.ura }),
  );
  assert.equal(changeOwnTerms.status, 404, 'not even with terms Noord could record itself');

  const still = await middenCalls('GET', `/fhir/Consent/${id}`);
  assert.equal(still.status, 200);
  assert.equal(json(still)['status'], 'active', 'the consent is untouched');
  assert.equal((json(still)['provision'] as { type: string }).type, 'permit');
  const release = await middenCalls('POST', '/authorization/v1/release-decisions', {
    patient: { pseudonym: p },
    holder: { ura: midden.ura },
    requester: { ura: noord.ura },
    dataCategory: 'imaging',
  });
  assert.deepEqual(
    json(release),
    { decision: 'permit', consentReference: `Consent/${id}` },
    'and still permits, naming its random id',
  );

  // The recorder changes and revokes its own; a revoked consent is not changed any more.
  const own = await middenCalls('PUT', `/fhir/Consent/${id}`, consentBody(p, 'deny', { role: 'CST', ura: midden.ura }));
  assert.equal(own.status, 200, own.body);
  assert.equal((json(own)['provision'] as { type: string }).type, 'deny');
  assert.equal((await middenCalls('POST', `/fhir/Consent/${id}/$revoke`)).status, 200);
  const afterRevoke = await middenCalls(
    'PUT',
    `/fhir/Consent/${id}`,
    consentBody(p, 'permit', { role: 'CST', ura: midden.ura }),
  );
  assert.equal(afterRevoke.status, 409);
  assert.equal(errorCode(afterRevoke), 'CONSENT_REVOKED');

  const log = readFileSync(r.logFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const refusals = log.filter((l) => l['consent'] === id && l['refused'] === 'not-found');
  assert.equal(refusals.length, 3, 'each refusal is logged, with the client that tried');
  assert.ok(
    refusals.every(
      (l) => l['client'] === noord.ura && /CN=10000001\.test/.test(String(l['subject'])) && l['exists'] === true,
    ),
  );
});

test('registry: a consent is read by id and listed only by its recorder; ids are 128 random bits that counting does not find', async (t) => {
  const { noordCalls, middenCalls } = await consentNetwork(t);
  const p = pseudonymOf('111222333', key);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const a = await middenCalls(
      'POST',
      '/fhir/Consent',
      consentBody(p, i % 2 === 0 ? 'permit' : 'deny', { role: 'CST', ura: midden.ura }),
    );
    assert.equal(a.status, 201, a.body);
    ids.push(String(json(a)['id']));
  }
  for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{22}$/, '16 random bytes, base64url');
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(
    new Set(ids.map((id) => id.slice(0, 4))).size,
    ids.length,
    'consecutive consents share no prefix a counter would show',
  );

  for (const id of ids) {
    const read = await noordCalls('GET', `/fhir/Consent/${id}`);
    assert.equal(read.status, 404, 'another hospital reading by id');
    assert.equal(errorCode(read), 'NOT_FOUND');
  }
  for (let n = 1; n <= 20; n++) {
    assert.equal((await noordCalls('GET', `/fhir/Consent/${n}`)).status, 404, `counting: Consent/${n}`);
    assert.equal(
      (await middenCalls('GET', `/fhir/Consent/${n}`)).status,
      404,
      'row numbers are not ids, not even for the recorder',
    );
  }
  const search = `/fhir/Consent?patient:identifier=${encodeURIComponent(`${PSEUDONYM_SYSTEM}|${p}`)}`;
  assert.deepEqual(
    (json(await noordCalls('GET', search))['entry'] as unknown[]).length,
    0,
    'another hospital lists none of them',
  );
  assert.deepEqual(
    (json(await middenCalls('GET', search))['entry'] as { resource: { id: string } }[]).map((e) => e.resource.id),
    ids,
  );
  assert.equal((await middenCalls('GET', `/fhir/Consent/${ids[0] ?? ''}`)).status, 200);
});

test("registry: a hospital records only the patient's choices about itself; the rest goes through the patient portal", async (t) => {
  const { r, noordCalls, portalCalls, middenCalls } = await consentNetwork(t);
  const p = pseudonymOf('111222333', key);
  const refusedBodies = [
    ['a permit for another hospital to release', consentBody(p, 'permit', { role: 'CST', ura: midden.ura })],
    ['a permit for every hospital to release', consentBody(p, 'permit', { role: 'CST', type: 'V4' })],
    ['a permit for itself to receive', consentBody(p, 'permit', { role: 'IRCP', ura: noord.ura })],
    ['a deny about another hospital', consentBody(p, 'deny', { role: 'CST', ura: midden.ura })],
    [
      "its own permit, claimed as the patient's channel",
      consentBody(p, 'permit', { role: 'CST', ura: noord.ura }, 'patient-portal'),
    ],
  ] as const;
  for (const [what, body] of refusedBodies) {
    const a = await noordCalls('POST', '/fhir/Consent', body);
    assert.equal(a.status, 403, what);
    assert.equal(errorCode(a), 'REGISTRY_NOT_ALLOWED', what);
  }
  const search = `/fhir/Consent?patient:identifier=${encodeURIComponent(`${PSEUDONYM_SYSTEM}|${p}`)}`;
  assert.equal((json(await portalCalls('GET', search))['entry'] as unknown[]).length, 0, 'nothing was recorded');
  const release = {
    patient: { pseudonym: p },
    holder: { ura: midden.ura },
    requester: { ura: noord.ura },
    dataCategory: 'imaging',
  };
  assert.equal(json(await middenCalls('POST', '/authorization/v1/release-decisions', release))['decision'], 'deny');

  assert.equal(
    (await noordCalls('POST', '/fhir/Consent', consentBody(p, 'permit', { role: 'CST', ura: noord.ura }))).status,
    201,
    'its own release',
  );

  // The patient's channel records the broad permit; the channel is taken from its certificate, not from the body.
  const broad = await portalCalls('POST', '/fhir/Consent', consentBody(p, 'permit', { role: 'CST', type: 'V4' }));
  assert.equal(broad.status, 201, broad.body);
  assert.deepEqual(json(broad)['extension'], [{ url: CHANNEL, valueCode: 'patient-portal' }]);
  assert.equal(json(await middenCalls('POST', '/authorization/v1/release-decisions', release))['decision'], 'permit');
  assert.equal(
    (await noordCalls('POST', '/fhir/Consent', consentBody(p, 'deny', { role: 'IRCP', ura: noord.ura }))).status,
    201,
    'a deny for itself to receive',
  );
  assert.equal(
    json(await middenCalls('POST', '/authorization/v1/release-decisions', release))['decision'],
    'deny',
    "which wins over the patient's permit",
  );
  assert.equal(
    (
      await portalCalls(
        'POST',
        '/fhir/Consent',
        consentBody(p, 'deny', { role: 'CST', ura: midden.ura }, 'care-provider'),
      )
    ).status,
    403,
    'the portal is no care provider',
  );
  // A hospital cannot revoke what the patient recorded; the patient revokes what a hospital recorded.
  const broadId = String(json(broad)['id']);
  assert.equal((await noordCalls('POST', `/fhir/Consent/${broadId}/$revoke`)).status, 404);
  const listed = json(await portalCalls('GET', search))['entry'] as {
    resource: { id: string; organization: { identifier: { value: string } }[] };
  }[];
  assert.equal(listed.length, 3, 'the patient sees every consent');
  const noordOwn = listed.find((e) => e.resource.organization[0]?.identifier.value === noord.ura)?.resource.id ?? '';
  assert.equal((await portalCalls('POST', `/fhir/Consent/${noordOwn}/$revoke`)).status, 200);
  const history = json(await noordCalls('GET', `/fhir/Consent/${noordOwn}/_history`));
  const changedBy = (history['entry'] as { request: { method: string }; extension: { valueString: string }[] }[]).map(
    (e) => [e.request.method, e.extension[0]?.valueString ?? ''],
  );
  assert.deepEqual(
    changedBy.map(([m]) => m),
    ['POST', 'DELETE'],
  );
  assert.match(changedBy[0]?.[1] ?? '', /^URA 10000001, .*CN=10000001\.test.*, care-provider, Balie$/);
  assert.match(
    changedBy[1]?.[1] ?? '',
    /^URA 10000050, .*CN=portaal\.test.*, patient-portal/,
    'the history names the patient portal as the one who revoked',
  );

  // Every change has a log line naming the client organization and system.
  const log = readFileSync(r.logFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const changes = log.filter((l) => l['msg'] === 'consent recorded' || l['msg'] === 'consent revoked');
  assert.equal(changes.length, 4);
  for (const l of changes)
    assert.ok(
      typeof l['client'] === 'string' && /CN=/.test(String(l['subject'])) && typeof l['consent'] === 'string',
      JSON.stringify(l),
    );
  assert.equal(log.filter((l) => l['msg'] === 'consent refused').length, 6);
});

test('registry: the patient portal speaks for patients only from its own certificate, and registers or asks nothing', async (t) => {
  const { r, portalCalls } = await consentNetwork(t);
  const p = pseudonymOf('111222333', key);
  // Another system of the portal's organization (another common name) is not the portal, and nothing else either.
  const otherSystem = r.cert(portal, r.ca, 'intranet.test');
  const asOther = await call(
    r.port,
    'POST',
    '/fhir/Consent',
    r.ca.certPem,
    otherSystem,
    consentBody(p, 'permit', { role: 'CST', type: 'V4' }),
  );
  assert.equal(asOther.status, 403);
  assert.equal(errorCode(asOther), 'REGISTRY_NOT_ALLOWED');
  const locate = await portalCalls(
    'GET',
    `/fhir/DocumentReference?subject:identifier=${encodeURIComponent(`${PSEUDONYM_SYSTEM}|${p}`)}`,
  );
  assert.equal(locate.status, 403, 'where a patient is known is for care providers to ask');
  assert.equal((await portalCalls('POST', '/fhir/DocumentReference', documentReference(p, portal.ura))).status, 403);
});

test('registry: consents recorded before random ids keep their number, readable by their recorder only, after the migration', async (t) => {
  const p = pseudonymOf('111222333', key);
  const { middenCalls, noordCalls } = await consentNetwork(t, {
    seed: (dataDir) => {
      // The consents table as the registry wrote it before random ids, with one consent of Midden's.
      const old = new DatabaseSync(join(dataDir, 'registry.sqlite'));
      old.exec(`CREATE TABLE consents (id INTEGER PRIMARY KEY, pseudonym BLOB NOT NULL, status TEXT NOT NULL, decision TEXT NOT NULL,
        category TEXT NOT NULL, actor_role TEXT NOT NULL, actor_ura TEXT, actor_type TEXT, period_start INTEGER NOT NULL, period_end INTEGER,
        recorded_at INTEGER NOT NULL, recorded_by_ura TEXT NOT NULL, recorded_by_id TEXT NOT NULL, recorded_by_name TEXT NOT NULL,
        channel TEXT NOT NULL, revoked_at INTEGER)`);
      old
        .prepare(
          `INSERT INTO consents VALUES (12, ?, 'active', 'permit', 'imaging', 'holder', '${midden.ura}', NULL, 0, NULL, 0, '${midden.ura}', 'b', 'Balie', 'care-provider', NULL)`,
        )
        .run(Buffer.from(p, 'base64url'));
      old.close();
    },
  });
  const release = await middenCalls('POST', '/authorization/v1/release-decisions', {
    patient: { pseudonym: p },
    holder: { ura: midden.ura },
    requester: { ura: noord.ura },
    dataCategory: 'imaging',
  });
  assert.deepEqual(
    json(release),
    { decision: 'permit', consentReference: 'Consent/12' },
    'the old consent still counts, under its old name',
  );
  assert.equal((await middenCalls('GET', '/fhir/Consent/12')).status, 200);
  assert.equal((await noordCalls('GET', '/fhir/Consent/12')).status, 404);
  assert.equal((await noordCalls('POST', '/fhir/Consent/12/$revoke')).status, 404);
  assert.equal((await middenCalls('POST', '/fhir/Consent/12/$revoke')).status, 200);
});

test('registry: an unknown route, a body that is not JSON and a refusal answer problem details without internals', async (t) => {
  const r = await registry(t);
  const unknown = await call(r.port, 'GET', '/fhir/Nothing', r.ca.certPem, r.cert(noord));
  const refused = await call(r.port, 'GET', '/fhir/Consent', r.ca.certPem, r.cert(outsider));
  const badJson = await send(
    r.port,
    'POST',
    '/fhir/Consent',
    r.ca.certPem,
    r.cert(noord),
    Buffer.from('{"resourceType":'),
    { 'content-type': 'application/json' },
  );
  for (const [a, status, code] of [
    [unknown, 404, 'ROUTE_NOT_FOUND'],
    [refused, 403, 'ACCESS_DENIED'],
    [badJson, 400, 'REQUEST_INVALID'],
  ] as const) {
    assert.equal(a.status, status, a.body);
    const body = JSON.parse(a.body) as { code: string; status: number; type: string; title: string; detail: string };
    assert.deepEqual([body.code, body.status], [code, status], a.body);
    assert.match(body.type, /^https:\/\/beeldbrug\.nl\/problems\//);
    assert.doesNotMatch(a.body, /FST_|Unexpected token|position \d|\.ts\b/);
  }
});
