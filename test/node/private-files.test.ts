// Every file the node writes is for its own user only (0600), every folder too (0700): the data folder holds the
// accounts (argon2 hashes, sealed TOTP secrets), the audit trail, the index and the images. Run under umask 022, as a
// service manager may start it, so that what counts is the mode the node asks for, not the umask.
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { AccountStore, totpCode, totpSealingKey, totpStep } from '../../src/auth/index.ts';
import { initNode } from '../../src/cli/init-command.ts';
import { parseConfig } from '../../src/config/index.ts';
import { readEncryptionKeyFile } from '../../src/store/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { filesIn } from '../support/dicom-files.ts';
import { call, startExchangeNode } from '../support/exchange.ts';
import { restartTestNode } from '../support/node.ts';
import { beeldbrugCli, run } from '../support/processes.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

/** Every file and folder below `dir` (and `dir` itself) whose mode is not 0600 for a file or 0700 for a folder. */
function notPrivate(dir: string): string[] {
  const wrong: string[] = [];
  const check = (path: string): void => {
    const s = lstatSync(path);
    const mode = s.mode & 0o777;
    if (s.isDirectory()) {
      if (mode !== 0o700) wrong.push(`${path}/ ${mode.toString(8)}`);
      for (const e of readdirSync(path)) check(join(path, e));
    } else if (mode !== 0o600) {
      wrong.push(`${path} ${mode.toString(8)}`);
    }
  };
  check(dir);
  return wrong;
}

function withUmask(t: { after(fn: () => void): void }, mask: number): void {
  const before = process.umask(mask);
  t.after(() => process.umask(before));
}

test('a node that stored studies, signed people in and kept its audit trail has only private files and folders', async (t) => {
  if (requireTool(t, 'storescu') === undefined) return;
  withUmask(t, 0o022);
  const { n, port, ca } = await startExchangeNode(t, {
    dimsePeers: [{ aeTitle: 'MODALITY', host: '127.0.0.1', description: 'test modality' }],
  });
  const work = tempDir(t);
  const synth = await synthesize({ outDir: join(work, 'synth'), patients: 2, seed: 19 });
  const stored = await run(
    'storescu',
    ['-aet', 'MODALITY', '-aec', n.aeTitle, '127.0.0.1', String(n.port), ...filesIn(join(work, 'synth'))],
    120_000,
  );
  assert.equal(stored.code, 0, stored.stderr);
  assert.equal((await n.node.store.index.stats()).instances, synth.files);

  // As `beeldbrug user add` does, but without its start-up tightening of the data folder, which would hide what the node left.
  const config = parseConfig(parseYaml(readFileSync(n.configPath, 'utf8')) as Record<string, unknown>, n.configPath);
  const accounts = await AccountStore.openFile(join(config.dataDir, 'accounts.sqlite'), {
    sessionIdleMinutes: 30,
    sessionMaxHours: 12,
    lockoutAttempts: 5,
    lockoutMinutes: 15,
    totpKey: totpSealingKey(readEncryptionKeyFile(config.store.encryptionKeyFile)),
  });
  const { totpSecret } = await accounts.createLocal({
    username: 'c.bakker',
    name: 'Dr. C. Bakker',
    role: 'radiologist',
    password: 'a long enough passphrase',
  });
  await accounts.close();
  assert.equal(
    (
      await call(port, 'POST', '/api/v1/session', ca.certPem, undefined, {
        username: 'c.bakker',
        password: 'wrong passphrase!',
        code: '000000',
      })
    ).status,
    401,
  );
  const code = totpCode(totpSecret, totpStep(new Date()));
  assert.equal(
    (
      await call(port, 'POST', '/api/v1/session', ca.certPem, undefined, {
        username: 'c.bakker',
        password: 'a long enough passphrase',
        code,
      })
    ).status,
    200,
  );
  assert.ok((await n.node.audit.list({ action: 'login' })).length >= 1);

  const dataDir = join(n.dir, 'data');
  assert.ok(
    readdirSync(dataDir).some((f) => f.endsWith('-wal')),
    'the databases are open, with their write-ahead logs',
  );
  assert.deepEqual(notPrivate(dataDir), [], 'while the node runs');
  assert.deepEqual(notPrivate(join(n.dir, 'keys')), []);
  await n.node.close();
  assert.deepEqual(notPrivate(dataDir), [], 'after it stopped');
});

test('a data folder an older version left open to others is made private at start', async (t) => {
  withUmask(t, 0o022);
  const { n } = await startExchangeNode(t);
  await n.node.close();
  const dataDir = join(n.dir, 'data');
  chmodSync(dataDir, 0o755);
  for (const f of readdirSync(dataDir)) if (statSync(join(dataDir, f)).isFile()) chmodSync(join(dataDir, f), 0o644);
  assert.notDeepEqual(notPrivate(dataDir), []);
  const again = await restartTestNode(t, n);
  assert.deepEqual(notPrivate(dataDir), []);
  await again.node.close();
});

test('`beeldbrug init` writes its configuration, keys and folders for its own user only', async (t) => {
  withUmask(t, 0o022);
  const dir = join(tempDir(t), 'node');
  initNode(dir, {
    nodeName: 'test',
    organizationName: 'Testziekenhuis',
    ura: '12345678',
    aeTitle: 'BB_TEST',
    dimsePort: 11112,
    peers: [],
  });
  assert.deepEqual(notPrivate(dir), [], 'in-process, under umask 022');
  const cliDir = join(tempDir(t), 'cli-node');
  const r = await run(process.execPath, [...beeldbrugCli, 'init', cliDir, '--ura', '12345678'], 60_000);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(notPrivate(cliDir), [], 'from the command line');
});
