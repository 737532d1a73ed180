// Every error the node's HTTPS listener answers is RFC 9457 problem details with a catalog code, and none carries
// fastify's or the parser's own words.
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { test } from 'node:test';
import type { IssuedCertificate } from '../../src/auth/index.ts';
import { ErrorCatalog } from '../../src/errors/index.ts';
import { startExchangeNode } from '../support/exchange.ts';
import { signedIn } from '../support/sign-in.ts';

interface Reply {
  status: number;
  contentType: string;
  body: Record<string, unknown>;
  raw: string;
}

function ask(
  port: number,
  ca: string,
  method: string,
  path: string,
  o: { client?: IssuedCertificate; body?: Buffer; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        ca,
        agent: false,
        ...(o.client !== undefined ? { key: o.client.keyPem, cert: o.client.certPem } : {}),
        headers: { ...o.headers, ...(o.body !== undefined ? { 'content-length': String(o.body.length) } : {}) },
      },
      (res) => {
        let raw = '';
        res.on('data', (d: Buffer) => (raw += d.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type']),
            body: JSON.parse(raw) as Record<string, unknown>,
            raw,
          }),
        );
      },
    );
    // A server that closes after an oversize body may reset the upload; the answer has arrived by then or not at all.
    req.on('error', reject);
    req.end(o.body);
  });
}

const leaks = [
  /FST_/,
  /Unexpected token/i,
  /at .*\(/,
  /\/work\/|\/src\//,
  /\.ts\b/,
  /SELECT |INSERT /i,
  /JSON at position/i,
];

function assertProblem(r: Reply, status: number, code: keyof typeof ErrorCatalog): void {
  assert.equal(r.status, status, r.raw);
  assert.match(r.contentType, /^application\/problem\+json/);
  assert.equal(r.body['status'], status);
  assert.equal(r.body['code'], code);
  assert.equal(r.body['title'], ErrorCatalog[code].summary);
  assert.equal(r.body['type'], `https://beeldbrug.nl/problems/${code.toLowerCase().replaceAll('_', '-')}`);
  assert.equal(typeof r.body['detail'], 'string');
  for (const leak of leaks) assert.doesNotMatch(r.raw, leak, `leaks ${String(leak)}: ${r.raw}`);
}

test('the node answers malformed requests, unknown routes and refusals with problem details', async (t) => {
  const n = await startExchangeNode(t);
  const json = { 'content-type': 'application/json' };

  assertProblem(
    await ask(n.port, n.ca.certPem, 'POST', '/exchange/v1/transfers', {
      client: n.partner,
      body: Buffer.from('{"transferId": '),
      headers: json,
    }),
    400,
    'REQUEST_INVALID',
  );
  assertProblem(
    await ask(n.port, n.ca.certPem, 'POST', '/exchange/v1/transfers', {
      client: n.partner,
      body: Buffer.from('hello'),
      headers: { 'content-type': 'text/x-unknown' },
    }),
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  );
  assertProblem(
    await ask(n.port, n.ca.certPem, 'POST', '/timeline/v1/studies', {
      client: n.partner,
      body: Buffer.from(JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) })),
      headers: json,
    }),
    413,
    'BODY_TOO_LARGE',
  );
  assertProblem(
    await ask(n.port, n.ca.certPem, 'GET', '/no/such/route', { client: n.partner }),
    404,
    'ROUTE_NOT_FOUND',
  );
  assertProblem(
    await ask(n.port, n.ca.certPem, 'PATCH', '/exchange/v1/hello', { client: n.partner }),
    404,
    'ROUTE_NOT_FOUND',
  );

  const noSession = await ask(n.port, n.ca.certPem, 'GET', '/api/v1/session');
  assertProblem(noSession, 401, 'SIGN_IN_REQUIRED');
  assert.equal(noSession.body['reason'], 'no-session');

  const noCertificate = await ask(n.port, n.ca.certPem, 'GET', '/exchange/v1/hello');
  assertProblem(noCertificate, 401, 'SIGN_IN_REQUIRED');

  const auditor = await signedIn(t, n, { username: 'anna', name: 'Anna Audit', role: 'auditor' });
  const refused = await auditor.call('POST', '/api/v1/outbox', {});
  assert.equal(refused.status, 403, refused.body);
  const body = JSON.parse(refused.body) as Record<string, unknown>;
  assert.equal(body['code'], 'ACCESS_DENIED');
  assert.equal(body['reason'], 'role-not-allowed');

  // Sign-in failures keep one answer that does not say which part failed.
  const badSignIn = await ask(n.port, n.ca.certPem, 'POST', '/api/v1/session', {
    body: Buffer.from('{not json'),
    headers: json,
  });
  assertProblem(badSignIn, 400, 'REQUEST_INVALID');
});
