// The systemd units a hospital installs (deploy/systemd) pass systemd's own checks, are hardened, and may write
// exactly the folders `beeldbrug init` and `beeldbrug registry init` lay out for the node's state: nothing else.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { initNode } from '../src/cli/init-command.ts';
import { initRegistry } from '../src/cli/registry-command.ts';
import { run } from './support/processes.ts';
import { tempDir } from './support/tmp.ts';
import { requireTool } from './support/tools.ts';

const repo = resolve(import.meta.dirname, '..');
const units = join(repo, 'deploy/systemd');

/** The unit as it would be installed, but starting this checkout's launcher (verify wants an executable there). */
function installable(dir: string, unit: string): { path: string; text: string } {
  const text = readFileSync(join(units, unit), 'utf8');
  const path = join(dir, unit);
  writeFileSync(path, text.replaceAll('/opt/beeldbrug/bin/beeldbrug', join(repo, 'bin/beeldbrug')));
  return { path, text };
}

const setting = (text: string, key: string): string[] =>
  [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());

for (const unit of ['beeldbrug-node.service', 'beeldbrug-registry.service']) {
  test(`${unit}: systemd-analyze verify finds nothing, and its exposure is low`, async (t) => {
    if (requireTool(t, 'systemd-analyze') === undefined) return;
    const { path, text } = installable(tempDir(t), unit);
    const verify = await run('systemd-analyze', ['verify', path]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.equal(verify.stderr.trim(), '', 'no warnings either');
    const security = await run('systemd-analyze', ['security', '--offline=yes', path]);
    const exposure = /Overall exposure level for \S+: ([\d.]+)/.exec(security.stdout);
    assert.ok(exposure !== null, security.stdout + security.stderr);
    assert.ok(Number(exposure[1]) <= 2, `exposure ${exposure[1]} (0 best, 10 worst)`);
    for (const hardening of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes'])
      assert.ok(text.includes(`\n${hardening}\n`), hardening);
    assert.notEqual(setting(text, 'User')[0], 'root');
  });
}

test('the node unit may write only the data folder and the audit witness that `beeldbrug init` lays out', (t) => {
  const dir = join(tempDir(t), 'beeldbrug');
  const { configPath } = initNode(dir, {
    nodeName: 'Ziekenhuis Noord',
    organizationName: 'Ziekenhuis Noord',
    ura: '12345678',
    aeTitle: 'NOORD',
    dimsePort: 104,
    peers: [],
  });
  const unit = readFileSync(join(units, 'beeldbrug-node.service'), 'utf8');
  const installedAt = '/var/lib/beeldbrug';
  assert.deepEqual(setting(unit, 'ExecStart'), [
    `/opt/beeldbrug/bin/beeldbrug start --config ${installedAt}/beeldbrug.yaml`,
  ]);
  assert.equal(configPath, join(dir, 'beeldbrug.yaml'));
  const config = parseYaml(readFileSync(configPath, 'utf8')) as { dataDir: string; audit: { witnessFile: string } };
  const writable = setting(unit, 'ReadWritePaths').flatMap((p) => p.split(/\s+/));
  assert.deepEqual(writable, [join(installedAt, config.dataDir), join(installedAt, config.audit.witnessFile, '..')]);
});

test('the registry unit may write only the data folder that `beeldbrug registry init` lays out', (t) => {
  const dir = join(tempDir(t), 'beeldbrug-registry');
  const configPath = initRegistry(dir, {
    name: 'Beeldbrug registry',
    organization: { name: 'Beeldbrug', ura: '00000001' },
    host: '0.0.0.0',
    port: 8443,
    clients: [],
  });
  const unit = readFileSync(join(units, 'beeldbrug-registry.service'), 'utf8');
  const installedAt = '/var/lib/beeldbrug-registry';
  assert.deepEqual(setting(unit, 'ExecStart'), [
    `/opt/beeldbrug/bin/beeldbrug registry start --config ${installedAt}/${configPath.slice(dir.length + 1)}`,
  ]);
  const config = parseYaml(readFileSync(configPath, 'utf8')) as { dataDir: string };
  assert.deepEqual(setting(unit, 'ReadWritePaths'), [join(installedAt, config.dataDir)]);
});
