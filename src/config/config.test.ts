import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { BeeldbrugError } from '../errors/index.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  closestKey,
  ConfigInvalidError,
  configTemplate,
  loadConfig,
  loadRegistryConfig,
  parseConfig,
  parseRegistryConfig,
} from './index.ts';

const template = configTemplate({
  nodeName: 'Noord',
  organizationName: 'Ziekenhuis Noord',
  ura: '12345678',
  aeTitle: 'NOORD',
  dimsePort: 11112,
  peers: [{ aeTitle: 'PACS', host: '127.0.0.1', port: 4242, description: 'test PACS' }],
});

test('the init template is a valid configuration with defaults filled in', () => {
  const config = parseConfig(parseYaml(template), '/etc/beeldbrug/beeldbrug.yaml');
  assert.equal(config.dimse.aeTitle, 'NOORD');
  assert.equal(config.dimse.peers[0]?.port, 4242);
  assert.equal(config.dimse.peers[0]?.tls, false);
  assert.equal(config.dataDir, '/etc/beeldbrug/data', 'relative paths are anchored at the file');
  assert.equal(config.store.encryptionKeyFile, '/etc/beeldbrug/keys/store.key');
  assert.equal(config.audit.keyFile, '/etc/beeldbrug/keys/audit.key');
  assert.equal(config.audit.retentionYears, 5, 'audit records are kept 5 years unless configured longer');
  assert.ok(Object.isFrozen(config.dimse.listeners[0]), 'the configuration is frozen');
});

/** Sets (or, with undefined, deletes) the value at a path in a parsed YAML tree. */
function setAt(root: unknown, path: readonly (string | number)[], value: unknown): void {
  let node = root as Record<string | number, unknown>;
  for (const part of path.slice(0, -1)) node = node[part] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) delete node[last];
  else node[last] = value;
}

const invalid: [string, readonly (string | number)[], unknown, RegExp][] = [
  ['AE title too long', ['dimse', 'aeTitle'], 'A_VERY_LONG_AE_TITLE', /dimse\.aeTitle: .*16/],
  ['AE title with backslash', ['dimse', 'peers', 0, 'aeTitle'], 'PA\\CS', /dimse\.peers\[0\]\.aeTitle/],
  ['port out of range', ['dimse', 'listeners', 0, 'port'], 70000, /dimse\.listeners\[0\]\.port/],
  ['URA not 8 digits', ['node', 'organization', 'ura'], '123', /node\.organization\.ura: a URA number is 8 digits/],
  [
    'audit retention under 5 years',
    ['audit', 'retentionYears'],
    2,
    /audit\.retentionYears: NEN 7513 wants audit records kept at least 5 years/,
  ],
  ['no audit key', ['audit', 'keyFile'], undefined, /audit\.keyFile/],
  [
    'AGB code not 8 digits',
    ['node', 'organization', 'agb'],
    '12-34',
    /node\.organization\.agb: an AGB code is 8 digits/,
  ],
  ['unknown key', ['dimse', 'aeTitel'], 'X', /dimse\.aeTitel: unknown key; did you mean aeTitle\?/],
  [
    'missing key file setting',
    ['store', 'encryptionKeyFile'],
    undefined,
    /store\.encryptionKeyFile: missing: this key is required/,
  ],
  [
    'arrival notices over plain HTTP to another host',
    ['exchange'],
    exchangeWith({ notify: { url: 'http://ris.example.nl/arrivals' } }),
    /exchange\.notify\.url: https, or http on loopback only/,
  ],
  [
    'fetchFrom a PACS that is not a peer',
    ['exchange'],
    exchangeWith({ fetchFrom: { aeTitle: 'NOBODY' } }),
    /exchange\.fetchFrom\.aeTitle: NOBODY is not a dimse peer with a port/,
  ],
  [
    'an unknown patient-identity rule',
    ['exchange'],
    exchangeWith({ patientIdentity: 'merge' }),
    /exchange\.patientIdentity/,
  ],
  [
    'an identity provider over plain HTTP',
    ['auth', 'oidc'],
    oidcWith({ issuer: 'http://idp.example.nl' }),
    /auth\.oidc\.issuer/,
  ],
  [
    'an OIDC callback on another path',
    ['auth', 'oidc'],
    oidcWith({ redirectUri: 'https://bb.example.nl/callback' }),
    /auth\.oidc\.redirectUri: the path is \/api\/v1\/session\/oidc\/callback/,
  ],
  [
    'OIDC without any group mapped to a role',
    ['auth', 'oidc'],
    oidcWith({ roles: [] }),
    /auth\.oidc\.roles: map at least one group/,
  ],
  [
    'OIDC with an unknown role',
    ['auth', 'oidc'],
    oidcWith({ roles: [{ group: 'g', role: 'chief' }] }),
    /auth\.oidc\.roles\[0\]\.role/,
  ],
  [
    'OIDC without the HTTPS listener',
    ['auth', 'oidc'],
    oidcWith({}),
    /auth\.oidc: sign-in is served on the exchange HTTPS listener/,
  ],
];

/** A minimal valid auth.oidc section with changed settings. */
function oidcWith(changed: Record<string, unknown>): Record<string, unknown> {
  return {
    issuer: 'https://idp.example.nl/realms/noord',
    clientId: 'beeldbrug',
    clientSecretFile: 'keys/oidc-secret',
    redirectUri: 'https://bb.example.nl:8443/api/v1/session/oidc/callback',
    roles: [{ group: 'radiologie', role: 'radiologist' }],
    ...changed,
  };
}

/** A minimal valid exchange section with extra settings. */
function exchangeWith(extra: Record<string, unknown>): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: 8443 },
    tls: { certFile: 'n.crt', keyFile: 'n.key', caFile: 'ca.crt' },
    ...extra,
  };
}

for (const [name, path, value, message] of invalid) {
  test(`an invalid configuration names the key: ${name}`, () => {
    const raw: unknown = parseYaml(template);
    setAt(raw, path, value);
    assert.throws(
      () => parseConfig(raw, 'x.yaml'),
      (err: unknown) => err instanceof BeeldbrugError && err.code === 'CONFIG_INVALID' && message.test(err.message),
    );
  });
}

test('arrival notices may go to https anywhere or plain http on loopback', () => {
  for (const url of [
    'https://ris.example.nl/arrivals',
    'http://127.0.0.1:9000/arrivals',
    'http://localhost/arrivals',
  ]) {
    const raw: unknown = parseYaml(template);
    setAt(raw, ['exchange'], exchangeWith({ notify: { url } }));
    assert.equal(parseConfig(raw, 'x.yaml').exchange?.notify?.url, url);
  }
});

test('an identity provider section: defaults filled in, its files anchored at the configuration file', () => {
  const raw = parseYaml(template) as Record<string, unknown>;
  raw['exchange'] = exchangeWith({ partners: [{ ura: '10000002', name: 'Ziekenhuis Midden' }] });
  setAt(raw, ['auth', 'oidc'], oidcWith({ caFile: 'keys/idp-ca.crt' }));
  const oidc = parseConfig(raw, '/etc/beeldbrug/beeldbrug.yaml').auth.oidc;
  assert.equal(oidc?.clientSecretFile, '/etc/beeldbrug/keys/oidc-secret');
  assert.equal(oidc?.caFile, '/etc/beeldbrug/keys/idp-ca.crt');
  assert.deepEqual(oidc?.scopes, ['openid', 'profile']);
  assert.deepEqual(oidc?.claims, { username: 'preferred_username', name: 'name', groups: 'groups' });
  assert.deepEqual(oidc?.twoFactorAmr, ['mfa']);
});

test('an audit repository section: port 6514 by default, its TLS files anchored at the configuration file', () => {
  const raw = parseYaml(template) as Record<string, unknown>;
  setAt(raw, ['audit', 'atna'], {
    host: 'arr.example.nl',
    tls: { certFile: 'keys/node.crt', keyFile: 'keys/node.key', caFile: 'keys/arr-ca.crt' },
  });
  const atna = parseConfig(raw, '/etc/beeldbrug/beeldbrug.yaml').audit.atna;
  assert.equal(atna?.port, 6514);
  assert.equal(atna?.tls.caFile, '/etc/beeldbrug/keys/arr-ca.crt');
  setAt(raw, ['audit', 'atna'], { host: 'arr.example.nl' });
  assert.throws(
    () => parseConfig(raw, '/etc/beeldbrug/beeldbrug.yaml'),
    /audit\.atna\.tls/,
    'syslog without TLS is not offered',
  );
});

// A typo in a key is the most common mistake in a hand-edited file: the message names the key it most likely meant.
const mistyped: [string, readonly (string | number)[], RegExp][] = [
  ['a typo at the top level', ['exchnage'], /^exchnage: unknown key; did you mean exchange\?$/],
  ['another case', ['dimse', 'aetitle'], /^dimse\.aetitle: unknown key; did you mean aeTitle\?$/],
  [
    'two letters swapped, in a list element',
    ['dimse', 'peers', 0, 'hsot'],
    /^dimse\.peers\[0\]\.hsot: unknown key; did you mean host\?$/,
  ],
  [
    'the start of a longer key',
    ['store', 'encryptionKey'],
    /^store\.encryptionKey: unknown key; did you mean encryptionKeyFile\?$/,
  ],
  [
    'three levels down',
    ['auth', 'lockout', 'atempts'],
    /^auth\.lockout\.atempts: unknown key; did you mean attempts\?$/,
  ],
  [
    'a key indented under the wrong section',
    ['store', 'retentionYears'],
    /^store\.retentionYears: unknown key here; retentionYears belongs in audit \(check the indentation\)$/,
  ],
  [
    'nothing close: the keys that are there',
    ['log', 'colour'],
    /^log\.colour: unknown key; the keys in log are level$/,
  ],
];

for (const [name, path, message] of mistyped) {
  test(`an unknown key is an error that names the key it most likely meant: ${name}`, () => {
    const raw: unknown = parseYaml(template);
    const real = path.slice(0, -1);
    setAt(raw, path, real.length === 0 ? {} : 'x');
    if (path[0] === 'store' && path[1] === 'encryptionKey') setAt(raw, ['store', 'encryptionKeyFile'], undefined);
    let issues: readonly { path: string; message: string }[] = [];
    assert.throws(
      () => parseConfig(raw, 'x.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof ConfigInvalidError);
        issues = err.issues;
        return true;
      },
    );
    const text = issues.map((i) => `${i.path}: ${i.message}`);
    assert.ok(
      text.some((t) => message.test(t)),
      text.join('\n'),
    );
  });
}

test('the registry configuration gets the same suggestions', () => {
  const raw = {
    registry: { name: 'r', organization: { name: 'o', ura: '12345678' } },
    dataDir: 'd',
    listen: { host: '127.0.0.1', port: 1 },
    tls: { certFile: 'c', keyFile: 'k', caFile: 'a' },
    clients: [{ ura: '12345678', name: 'n' }],
    workres: 2,
  };
  assert.throws(() => parseRegistryConfig(raw, 'registry.yaml'), /workres: unknown key; did you mean workers\?/);
});

test('closestKey guesses only when the typed key is close', () => {
  assert.equal(closestKey('prot', ['host', 'port']), 'port');
  assert.equal(closestKey('timeout', ['timeouts', 'maxPduLength']), 'timeouts');
  assert.equal(closestKey('xyz', ['host', 'port']), undefined);
  assert.equal(closestKey('a', ['ab', 'abc']), 'ab');
  assert.equal(closestKey('description', ['host', 'port', 'tls']), undefined);
});

test('the mistakes of a first start get a message that says what to do', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beeldbrug-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const node = join(dir, 'beeldbrug.yaml');
  writeFileSync(node, template);
  assert.throws(() => loadConfig(dir), /is a folder; --config wants the configuration file: .*beeldbrug\.yaml$/);
  assert.throws(
    () => loadConfig(join(dir, 'nope.yaml')),
    /nope\.yaml: there is no such file \(`beeldbrug init DIR` writes one\)/,
  );
  writeFileSync(join(dir, 'empty.yaml'), '\n');
  assert.throws(() => loadConfig(join(dir, 'empty.yaml')), /empty\.yaml is empty; `beeldbrug init DIR` writes/);
  assert.throws(
    () => loadRegistryConfig(node),
    /beeldbrug\.yaml is a node's configuration \(`beeldbrug start --config .*`\), not the registry's/,
  );
  const registry = join(dir, 'registry.yaml');
  writeFileSync(registry, 'registry: { name: r }\nclients: []\n');
  assert.throws(
    () => loadConfig(registry),
    /registry\.yaml is the registry's configuration \(`beeldbrug registry start --config .*`\), not a node's/,
  );
  const raw = parseYaml(template) as Record<string, unknown>;
  setAt(raw, ['node', 'name'], '');
  assert.throws(() => parseConfig(raw, 'x.yaml'), /node\.name: must not be empty/);
});

test('a value of the wrong type because of YAML quoting says to quote it, or not', () => {
  const cases: [string, string, RegExp][] = [
    [
      'ura: "12345678"',
      'ura: 01234567',
      /node\.organization\.ura: write it in quotes, as text: unquoted, YAML reads 1234567 as a number \(and drops leading zeros\)/,
    ],
    ['port: 11112', 'port: "11112"', /dimse\.listeners\[0\]\.port: write the number without quotes: 11112/],
    ['aeTitle: "NOORD"', 'aeTitle: 12345', /dimse\.aeTitle: write it in quotes/],
  ];
  for (const [good, bad, message] of cases) {
    assert.ok(template.includes(good), good);
    assert.throws(() => parseConfig(parseYaml(template.replace(good, bad)), 'x.yaml'), message);
  }
});
