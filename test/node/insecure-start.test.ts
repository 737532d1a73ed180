// What an outside probe found the node starting with: a key readable by others, the store key doubling as the audit
// key, its own certificate expired, the system's public CA bundle as the trust list, a DICOM peer at a wildcard
// address. Each one stops the start with CONFIG_INSECURE, the configuration key and the fix, and doctor reports it.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { rootCertificates } from 'node:tls';
import { parse as parseYaml } from 'yaml';
import { createTestCa, issueNodeCertificate } from '../../src/auth/index.ts';
import { initNode } from '../../src/cli/init-command.ts';
import { type Config, parseConfig } from '../../src/config/index.ts';
import { BeeldbrugError } from '../../src/errors/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { runDoctor, startNode } from '../../src/node/index.ts';
import { insecureResolvedPeers, wildcardHost } from '../../src/node/secure-defaults.ts';
import { tempDir } from '../support/tmp.ts';

const organization = { name: 'Testziekenhuis', ura: '12345678' };

interface Setup {
  dir: string;
  raw: Record<string, unknown>;
  /** A DICOM TLS listener with files issued by a test CA, written 0600 (and the CA file) in `dir/pki`. */
  tlsListener(o?: { notBefore?: Date; validDays?: number }): { certFile: string; keyFile: string; caFile: string };
}

/** A node as `beeldbrug init` writes it (no port is opened: every case is refused before that), changed by `change`. */
function configured(t: TestContext, change: (s: Setup) => void): Config {
  const dir = tempDir(t, 'beeldbrug-insecure-');
  const { configPath } = initNode(dir, {
    nodeName: 'test',
    organizationName: organization.name,
    ura: organization.ura,
    aeTitle: 'BB_TEST',
    dimsePort: 1,
    peers: [],
  });
  const raw = parseYaml(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  change({
    dir,
    raw,
    tlsListener: (o = {}) => {
      const ca = createTestCa({ commonName: 'test CA' });
      const own = issueNodeCertificate(ca, { commonName: 'node', organization, hosts: ['127.0.0.1'], ...o });
      const files = {
        certFile: join(dir, 'keys', 'node.crt'),
        keyFile: join(dir, 'keys', 'node.key'),
        caFile: join(dir, 'keys', 'ca.crt'),
      };
      writeFileSync(files.certFile, own.certPem, { mode: 0o600 });
      writeFileSync(files.keyFile, own.keyPem, { mode: 0o600 });
      writeFileSync(files.caFile, ca.certPem, { mode: 0o600 });
      (raw['dimse'] as { listeners: unknown[] }).listeners.push({ host: '127.0.0.1', port: 2, tls: files });
      return files;
    },
  });
  return parseConfig(raw, configPath);
}

/** The start is refused with CONFIG_INSECURE naming the key, the problem and a fix; doctor reports the same as critical. */
async function refused(config: Config, key: string, problem: RegExp): Promise<void> {
  const logger = createLogger({ level: 'silent' });
  await assert.rejects(startNode(config, logger), (err: unknown) => {
    assert.ok(err instanceof BeeldbrugError, String(err));
    assert.equal(err.code, 'CONFIG_INSECURE', err.message);
    const line = err.message.split('\n').findIndex((l) => l.startsWith(`  - ${key}: `));
    assert.ok(line > 0, `the refusal names ${key}:\n${err.message}`);
    assert.match(err.message.split('\n')[line] ?? '', problem);
    assert.match(err.message.split('\n')[line + 1] ?? '', /^ {4}Fix: \S/);
    return true;
  });
  const findings = await runDoctor(config);
  const finding = findings.find((f) => f.subject === key && f.level === 'critical');
  assert.ok(finding !== undefined, `doctor reports ${key}: ${JSON.stringify(findings)}`);
  assert.match(finding.finding, problem);
  assert.match(finding.finding, /the node refuses to start/);
  assert.ok((finding.fix ?? '').length > 0);
}

test('a store key, audit key, TLS private key or database password that others may read stops the start', async (t) => {
  await refused(
    configured(t, ({ dir }) => chmodSync(join(dir, 'keys', 'store.key'), 0o644)),
    'store.encryptionKeyFile',
    /store\.key is open to its group and all other users \(mode 0644\)/,
  );
  await refused(
    configured(t, ({ dir }) => chmodSync(join(dir, 'keys', 'audit.key'), 0o640)),
    'audit.keyFile',
    /audit\.key is open to its group \(mode 0640\)/,
  );
  await refused(
    configured(t, (s) => chmodSync(s.tlsListener().keyFile, 0o604)),
    'dimse.listeners[1].tls.keyFile',
    /node\.key is open to all other users \(mode 0604\).*TLS private key/,
  );
  await refused(
    configured(t, ({ dir, raw }) => {
      const passwordFile = join(dir, 'keys', 'db-password');
      writeFileSync(passwordFile, 'secret\n', { mode: 0o640 });
      raw['database'] = {
        kind: 'postgresql',
        host: '127.0.0.1',
        port: 1,
        name: 'beeldbrug',
        user: 'beeldbrug',
        passwordFile,
      };
    }),
    'database.passwordFile',
    /db-password is open to its group \(mode 0640\); it holds the database password/,
  );
});

test('the store key equal to the audit key stops the start', async (t) => {
  await refused(
    configured(t, ({ dir }) => copyFileSync(join(dir, 'keys', 'store.key'), join(dir, 'keys', 'audit.key'))),
    'audit.keyFile',
    /the audit key is the store key/,
  );
  // The same file named twice is the same key.
  await refused(
    configured(t, ({ raw }) => ((raw['audit'] as Record<string, unknown>)['keyFile'] = './keys/store.key')),
    'audit.keyFile',
    /the audit key is the store key/,
  );
});

test("the node's own certificate out of its validity stops the start", async (t) => {
  await refused(
    configured(t, (s) => s.tlsListener({ notBefore: new Date(Date.now() - 400 * 86_400_000), validDays: 365 })),
    'dimse.listeners[1].tls.certFile',
    /node\.crt expired on \d{4}-/,
  );
  await refused(
    configured(t, (s) => s.tlsListener({ notBefore: new Date(Date.now() + 86_400_000), validDays: 365 })),
    'dimse.listeners[1].tls.certFile',
    /is not valid before/,
  );
  // Not refused yet, but doctor warns a month ahead.
  const soon = configured(t, (s) =>
    s.tlsListener({ notBefore: new Date(Date.now() - 355 * 86_400_000), validDays: 365 }),
  );
  const findings = await runDoctor(soon);
  assert.ok(!findings.some((f) => f.level === 'critical'), JSON.stringify(findings));
  assert.match(
    findings.find((f) => f.subject === 'dimse.listeners[1].tls.certFile')?.finding ?? '',
    /node\.crt expires on \d{4}-\d\d-\d\d, in 9 days/,
  );
});

test("a public CA as the trust list stops the start: anyone who buys a certificate could claim a partner's URA", async (t) => {
  // One public root among the network's own CA.
  const oneRoot = configured(t, (s) => {
    const { caFile } = s.tlsListener();
    writeFileSync(caFile, `${readFileSync(caFile, 'utf8')}\n${rootCertificates[0]}\n`);
  });
  await refused(oneRoot, 'dimse.listeners[1].tls.caFile', /holds a public root CA/);
  // A bundle of many CAs, none of them known as public.
  const many = configured(t, (s) => {
    const { caFile } = s.tlsListener();
    writeFileSync(
      caFile,
      Array.from({ length: 25 }, (_, i) => createTestCa({ commonName: `private CA ${i}` }).certPem).join('\n'),
    );
  });
  await refused(many, 'dimse.listeners[1].tls.caFile', /holds 25 CA certificates, as a public bundle does/);
  const bundle = '/etc/ssl/certs/ca-certificates.crt';
  if (existsSync(bundle)) {
    const system = configured(t, (s) => {
      const files = s.tlsListener();
      files.caFile = bundle;
    });
    await refused(
      system,
      'dimse.listeners[1].tls.caFile',
      /is the system's public CA bundle \(\/etc\/ssl\/certs\/ca-certificates\.crt\)/,
    );
  }
});

test('a DICOM peer at a wildcard, broadcast or multicast address stops the start', async (t) => {
  for (const host of [
    '0.0.0.0',
    '::',
    '[::]',
    '::ffff:0.0.0.0',
    '0',
    '0x0',
    '255.255.255.255',
    '224.0.0.1',
    'ff02::1',
    '10.0.0.0/8',
    '*',
  ]) {
    const config = configured(
      t,
      ({ raw }) =>
        ((raw['dimse'] as Record<string, unknown>)['peers'] = [
          { aeTitle: 'PACS', host: '127.0.0.1' },
          { aeTitle: 'ANY', host },
        ]),
    );
    await refused(
      config,
      'dimse.peers[1].host',
      /the peer ANY has host .*: the allow-list would not tie that AE title to a machine/,
    );
  }
});

test('a peer whose host name resolves to a wildcard address is refused once resolved', (t) => {
  const config = configured(
    t,
    ({ raw }) =>
      ((raw['dimse'] as Record<string, unknown>)['peers'] = [
        { aeTitle: 'PACS', host: 'pacs.example.nl' },
        { aeTitle: 'RIS', host: 'ris.example.nl' },
      ]),
  );
  assert.deepEqual(
    insecureResolvedPeers(config, [
      { aeTitle: 'PACS', addresses: ['10.1.2.3'] },
      { aeTitle: 'RIS', addresses: ['10.1.2.4'] },
    ]),
    [],
  );
  const found = insecureResolvedPeers(config, [
    { aeTitle: 'PACS', addresses: ['10.1.2.3'] },
    { aeTitle: 'RIS', addresses: ['10.1.2.4', '0.0.0.0'] },
  ]);
  assert.deepEqual(
    found.map((f) => f.key),
    ['dimse.peers[1].host'],
  );
  assert.match(found[0]?.problem ?? '', /ris\.example\.nl, which resolves to 0\.0\.0\.0/);
});

test('an ordinary peer address is not taken for a wildcard', () => {
  for (const host of [
    '10.0.0.1',
    '192.168.1.255',
    'pacs.example.nl',
    '2001:db8::1',
    '127.0.0.1',
    'fe80::1',
    '10.0.0.0',
  ])
    assert.equal(wildcardHost(host), undefined, host);
});
