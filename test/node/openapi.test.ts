// The node's API description: every route the router holds is in it with who may call it, it is valid OpenAPI 3.1 by
// a validator nobody here wrote, and its schemas are the ones the routes validate with (what the schema refuses, the
// route refuses too).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { call, startExchangeNode } from '../support/exchange.ts';
import { signedIn } from '../support/sign-in.ts';

interface Operation {
  summary: string;
  description: string;
  security: Record<string, string[]>[];
  parameters?: { name: string; in: string; schema: Record<string, unknown> }[];
  requestBody?: { content: Record<string, { schema?: Record<string, unknown> }> };
  responses: Record<string, { description: string }>;
}

test('GET /api/v1/openapi.json describes every route, validates as OpenAPI 3.1, and its schemas are the routes’ own', async (t) => {
  const n = await startExchangeNode(t);
  assert.equal((await call(n.port, 'GET', '/api/v1/openapi.json', n.ca.certPem)).status, 401, 'not for strangers');
  const viaCertificate = await call(n.port, 'GET', '/api/v1/openapi.json', n.ca.certPem, n.own);
  assert.equal(viaCertificate.status, 200, 'our own systems read it by certificate');
  const radiologist = await signedIn(t, n, { username: 'c.bakker', name: 'Dr. C. Bakker', role: 'radiologist' });
  const a = await radiologist.call('GET', '/api/v1/openapi.json');
  assert.equal(a.status, 200, a.body);
  const doc = JSON.parse(a.body) as {
    openapi: string;
    info: { version: string };
    paths: Record<string, Record<string, Operation>>;
  };

  const validator = new Validator();
  const result = await validator.validate(doc);
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
  assert.equal(doc.openapi, '3.1.0');
  assert.match(doc.info.version, /^\d+\.\d+\.\d+/);

  // Every route of the router is described, with a summary of its own.
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, op })),
  );
  const routes = (n.n.node.https?.routes ?? [])
    .filter((r) => !r.url.includes('*'))
    .map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
  assert.deepEqual(documented.map((d) => d.route).sort(), [...new Set(routes)].sort());
  for (const { route, op } of documented) {
    assert.ok(!op.summary.startsWith(route.split(' ')[0] ?? '-'), `${route} has a summary of its own: ${op.summary}`);
    assert.ok(op.description.length > 0, `${route} says who may call it`);
  }

  // Who may call, as security requirements.
  const op = (method: string, path: string): Operation => {
    const o = doc.paths[path]?.[method];
    assert.ok(o !== undefined, `${method} ${path}`);
    return o;
  };
  assert.deepEqual(op('get', '/health').security, []);
  assert.deepEqual(op('post', '/exchange/v1/transfers').security, [{ mutualTLS: [] }]);
  assert.deepEqual(op('get', '/api/v1/audit').security, [{ sessionCookie: [] }, { bearerSession: [] }]);
  assert.deepEqual(op('post', '/api/v1/outbox').security, [
    { sessionCookie: [] },
    { bearerSession: [] },
    { mutualTLS: [] },
  ]);
  assert.match(op('get', '/api/v1/audit').description, /Signed in as auditor, with two factors/);
  assert.match(
    op('post', '/api/v1/inbox/{transferId}/reject').responses['409']?.description ?? '',
    /TRANSFER_NOT_DELIVERED/,
  );

  // The send request's schema is the one the route validates with: what it calls required and allowed, the route does.
  const send = op('post', '/api/v1/outbox').requestBody?.content['application/json']?.schema as {
    required: string[];
    properties: Record<string, { enum?: string[] }>;
    additionalProperties: boolean;
  };
  assert.deepEqual(send.required.sort(), ['purpose', 'studyInstanceUid', 'to']);
  assert.deepEqual(send.properties['purpose']?.enum, ['transfer', 'consultation', 'internal']);
  assert.equal(send.additionalProperties, false);
  const refused = await radiologist.call('POST', '/api/v1/outbox', {
    studyInstanceUid: '1.2.3',
    to: '10000002',
    purpose: 'sightseeing',
  });
  assert.equal(refused.status, 400, 'a purpose outside the enum is refused by the route as by the schema');
  const extra = await radiologist.call('POST', '/api/v1/outbox', {
    studyInstanceUid: '1.2.3',
    to: '10000002',
    purpose: 'transfer',
    colour: 'blue',
  });
  assert.equal(extra.status, 400, 'a field the schema does not allow is refused');

  // Query schemas become parameters; a value outside them is refused by the route.
  const list = op('get', '/api/v1/inbox').parameters ?? [];
  assert.deepEqual(
    list.map((p) => [p.name, p.in, (p.schema as { enum?: string[] }).enum]),
    [['state', 'query', ['open', 'delivered', 'imported', 'failed', 'rejected']]],
  );
  assert.equal((await radiologist.call('GET', '/api/v1/inbox?state=lost')).status, 400);
  assert.equal((await radiologist.call('GET', '/api/v1/inbox?state=rejected')).status, 200);
});
