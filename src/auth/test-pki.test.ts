import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { tempDir } from '../../test/support/tmp.ts';
import { requireTool } from '../../test/support/tools.ts';
import { certificatesOf, createIntermediateCa, createTestCa, issueNodeCertificate, organizationOf } from './index.ts';

const noord = { name: 'Ziekenhuis Noord', ura: '10000001' };

/**
 * A TLS server that asks for a client certificate, trusts `caPem` only, and notes the URA of each client it admits;
 * `attempt` connects with a certificate and says 'ok' when the server answered.
 */
async function mutualTlsServer(server: { keyPem: string; certPem: string }, caPem: string) {
  const seen: (string | undefined)[] = [];
  const srv = createServer(
    { key: server.keyPem, cert: server.certPem, ca: caPem, requestCert: true, rejectUnauthorized: true },
    (s: TLSSocket) => {
      seen.push(organizationOf(new X509Certificate(s.getPeerX509Certificate()?.raw ?? Buffer.alloc(0)))?.ura);
      s.end('ok');
    },
  );
  srv.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const address = srv.address();
  assert.ok(typeof address === 'object' && address !== null);
  const attempt = (c: { keyPem: string; certPem: string }): Promise<string> =>
    new Promise((resolve) => {
      const s = connect(
        { host: '127.0.0.1', port: address.port, key: c.keyPem, cert: c.certPem, ca: caPem },
        () => undefined,
      );
      let data = '';
      s.on('data', (d: Buffer) => (data += d.toString()));
      s.on('end', () => resolve(data === 'ok' ? 'ok' : 'closed'));
      s.on('error', (e) => resolve(`error: ${e.message}`));
    });
  return { seen, attempt, close: () => srv.close() };
}

test('a CA and a node certificate that X.509 parsers accept, chained and naming the organization', () => {
  const ca = createTestCa({ commonName: 'Beeldbrug test CA' });
  const leaf = issueNodeCertificate(ca, {
    commonName: 'noord.test',
    organization: noord,
    hosts: ['localhost', '127.0.0.1'],
  });
  const caCert = new X509Certificate(ca.certPem);
  const leafCert = new X509Certificate(leaf.certPem);
  assert.equal(caCert.ca, true);
  assert.equal(leafCert.ca, false);
  assert.ok(caCert.verify(caCert.publicKey), 'the CA is self-signed');
  assert.ok(leafCert.verify(caCert.publicKey), 'the leaf is signed by the CA');
  assert.ok(leafCert.checkIssued(caCert), 'issuer and authority key identifier match the CA');
  assert.equal(leafCert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(leafCert.checkHost('localhost'), 'localhost');
  assert.deepEqual(organizationOf(leafCert), noord);
  assert.equal(organizationOf(caCert), undefined, 'the CA names no organization');
  assert.ok(new Date(leafCert.validTo) > new Date());
  assert.throws(
    () => issueNodeCertificate(ca, { commonName: 'x', organization: { name: 'x', ura: '123' } }),
    /URA number is 8 digits/,
  );
});

test('an issuing CA under the root: its certificates carry it after the leaf, never the root', () => {
  const root = createTestCa({ commonName: 'Beeldbrug test root' });
  const issuing = createIntermediateCa(root, { commonName: 'Beeldbrug issuing CA' });
  const [issuingCert] = certificatesOf(issuing.certPem);
  assert.ok(issuingCert?.ca === true && issuingCert.checkIssued(new X509Certificate(root.certPem)));
  const chain = certificatesOf(
    issueNodeCertificate(issuing, { commonName: 'noord.test', organization: noord }).certPem,
  );
  assert.equal(chain.length, 2);
  assert.ok(chain[0]?.verify(issuingCert.publicKey), 'the leaf is signed by the issuing CA');
  assert.equal(chain[1]?.fingerprint256, issuingCert.fingerprint256);
  assert.deepEqual(organizationOf(chain[0] ?? issuingCert), noord);
});

test('openssl verifies a chain through the issuing CA and reads the UZI otherName', (t) => {
  if (requireTool(t, 'openssl') === undefined) return;
  const dir = tempDir(t);
  const root = createTestCa({ commonName: 'Beeldbrug test root' });
  const issuing = createIntermediateCa(root, { commonName: 'Beeldbrug issuing CA' });
  const leaf = issueNodeCertificate(issuing, { commonName: 'noord.test', organization: noord, hosts: ['127.0.0.1'] });
  const [leafCert] = certificatesOf(leaf.certPem);
  writeFileSync(join(dir, 'root.pem'), root.certPem);
  writeFileSync(join(dir, 'issuing.pem'), issuing.certPem);
  writeFileSync(join(dir, 'leaf.pem'), leafCert?.toString() ?? '');
  const verify = spawnSync(
    'openssl',
    [
      'verify',
      '-x509_strict',
      '-purpose',
      'sslserver',
      '-CAfile',
      join(dir, 'root.pem'),
      '-untrusted',
      join(dir, 'issuing.pem'),
      join(dir, 'leaf.pem'),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(verify.status, 0, verify.stderr + verify.stdout);
  const without = spawnSync('openssl', ['verify', '-CAfile', join(dir, 'root.pem'), join(dir, 'leaf.pem')], {
    encoding: 'utf8',
  });
  assert.notEqual(without.status, 0, 'not without the issuing CA');
  const text = spawnSync('openssl', ['x509', '-noout', '-text', '-in', join(dir, 'leaf.pem')], {
    encoding: 'utf8',
  }).stdout;
  assert.match(text, /othername: 2\.5\.5\.5::[\d.]+-1-\d{8}-S-10000001-00\.000-\d{8}|othername:\s*<unsupported>/);
});

test('openssl verifies the chain and reads the extensions', (t) => {
  if (requireTool(t, 'openssl') === undefined) return;
  const dir = tempDir(t);
  const ca = createTestCa({ commonName: 'Beeldbrug test CA' });
  const leaf = issueNodeCertificate(ca, { commonName: 'noord.test', organization: noord, hosts: ['127.0.0.1'] });
  writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  writeFileSync(join(dir, 'leaf.pem'), leaf.certPem);
  const verify = spawnSync(
    'openssl',
    ['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')],
    { encoding: 'utf8' },
  );
  assert.equal(verify.status, 0, verify.stderr + verify.stdout);
  const text = spawnSync('openssl', ['x509', '-noout', '-text', '-in', join(dir, 'leaf.pem')], {
    encoding: 'utf8',
  }).stdout;
  assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
  assert.match(text, /IP Address:127\.0\.0\.1/);
});

test('mutual TLS with these certificates: trusted peers connect, an expired or foreign certificate does not', async () => {
  const ca = createTestCa({ commonName: 'Beeldbrug test CA' });
  const server = issueNodeCertificate(ca, { commonName: 'server', organization: noord, hosts: ['127.0.0.1'] });
  const client = issueNodeCertificate(ca, {
    commonName: 'client',
    organization: { name: 'Ziekenhuis Zuid', ura: '10000003' },
  });
  const expired = issueNodeCertificate(ca, {
    commonName: 'old',
    organization: noord,
    validDays: 1,
    notBefore: new Date(Date.now() - 10 * 86_400_000),
  });
  const otherCa = createTestCa({ commonName: 'someone else' });
  const foreign = issueNodeCertificate(otherCa, { commonName: 'foreign', organization: noord });

  const { seen, attempt, close } = await mutualTlsServer(server, ca.certPem);
  try {
    assert.equal(await attempt(client), 'ok');
    assert.deepEqual(seen, ['10000003'], 'the server reads the client URA from its certificate');
    assert.notEqual(await attempt(expired), 'ok', 'an expired certificate is refused');
    assert.notEqual(await attempt(foreign), 'ok', 'a certificate from another CA is refused');
    assert.equal(seen.length, 1);
  } finally {
    close();
  }
});

test('mutual TLS through an issuing CA on both sides, trusting the root only', async () => {
  const root = createTestCa({ commonName: 'Beeldbrug test root' });
  const issuing = createIntermediateCa(root, { commonName: 'Beeldbrug issuing CA' });
  const server = issueNodeCertificate(issuing, { commonName: 'server', organization: noord, hosts: ['127.0.0.1'] });
  const client = issueNodeCertificate(issuing, {
    commonName: 'client',
    organization: { name: 'Ziekenhuis Zuid', ura: '10000003' },
  });
  const { seen, attempt, close } = await mutualTlsServer(server, root.certPem);
  try {
    assert.equal(await attempt(client), 'ok');
    assert.deepEqual(seen, ['10000003']);
    const leafOnly = { keyPem: client.keyPem, certPem: certificatesOf(client.certPem)[0]?.toString() ?? '' };
    assert.notEqual(
      await attempt(leafOnly),
      'ok',
      'a client that leaves out the issuing CA cannot be chained to the root',
    );
  } finally {
    close();
  }
});
