import assert from 'node:assert/strict';
import { copyFileSync, existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import type { AuditEvent } from '../audit/index.ts';
import { acceptAuditHeadFromCli, verifyAuditFromCli } from './audit-command.ts';
import { initNode } from './init-command.ts';
import { loadConfig } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { auditWitnessFile, openAuditTrail } from '../node/index.ts';

const read: AuditEvent = {
  action: 'read',
  outcome: 'success',
  description: 'viewed',
  user: { id: 'u1', name: 'Dr. A' },
  accessPoint: { node: 'test' },
  patient: { bsn: '999990019' },
  objects: {},
  grounds: { purpose: 'treatment' },
};

function captured(): { out: PassThrough; text: () => string } {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  return { out, text: () => Buffer.concat(chunks).toString('utf8') };
}

test('a node whose audit file was emptied or rolled back refuses to open its trail; verify says where; accept-head is recorded', async (t) => {
  const dir = tempDir(t);
  const { configPath } = initNode(dir, {
    nodeName: 'n',
    organizationName: 'Testziekenhuis',
    ura: '12345678',
    aeTitle: 'BB_TEST',
    dimsePort: 11112,
    peers: [],
  });
  const config = loadConfig(configPath);
  const witness = auditWitnessFile(config);
  assert.equal(
    witness,
    join(dir, 'audit-witness', 'head.json'),
    'a new node keeps its witness outside the data folder',
  );
  const auditFile = join(config.dataDir, 'audit.sqlite');

  const trail = await openAuditTrail(config);
  for (let n = 1; n <= 3; n += 1) await trail.record(read);
  await trail.close();
  copyFileSync(auditFile, join(dir, 'backup-3.sqlite'));
  const more = await openAuditTrail(config);
  await more.record(read);
  await more.record(read);
  await more.close();
  assert.equal(statSync(witness).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'audit-witness')).mode & 0o777, 0o700);

  // The file replaced by an empty one: the node does not start on it.
  rmSync(auditFile);
  writeFileSync(auditFile, '');
  await assert.rejects(
    () => openAuditTrail(config),
    (err: unknown) =>
      err instanceof BeeldbrugError &&
      err.code === 'AUDIT_TRAIL_BROKEN' &&
      /ends at record 0, but its witness .* names record 5/.test(err.message),
  );
  const empty = captured();
  assert.equal(await verifyAuditFromCli(config, empty.out), 1);
  assert.match(empty.text(), /audit trail BROKEN at record 1: records 1 to 5 are missing/);

  // An older copy put back (a backup restored, or an attacker's rollback): still refused until an administrator accepts it.
  copyFileSync(join(dir, 'backup-3.sqlite'), auditFile);
  for (const p of [`${auditFile}-wal`, `${auditFile}-shm`]) rmSync(p, { force: true });
  await assert.rejects(() => openAuditTrail(config), /AUDIT_TRAIL_BROKEN|names record 5/);
  const rolledBack = captured();
  assert.equal(await verifyAuditFromCli(config, rolledBack.out), 1);
  assert.match(rolledBack.text(), /BROKEN at record 4: records 4 to 5 are missing/);
  const accepted = captured();
  assert.equal(
    await acceptAuditHeadFromCli(config, 'restored from the backup of Monday after a disk failure', accepted.out),
    0,
  );
  assert.match(accepted.text(), /witness moved to record 4/);
  const after = await openAuditTrail(config);
  t.after(() => after.close());
  const acceptance = (await after.list({ action: 'configuration-change' }))[0];
  assert.match(
    acceptance?.description ?? '',
    /restored from the backup of Monday.*names record 5/,
    'the gap stays visible to an auditor',
  );
  assert.match(acceptance?.user.id ?? '', /^os:/);
  const intact = captured();
  assert.equal(await verifyAuditFromCli(config, intact.out), 0);
  assert.match(intact.text(), /audit trail intact: 4 records verified/);
  assert.equal(existsSync(join(config.dataDir, 'audit-witness.json')), false, 'the configured witness is the only one');
});

test('a witness the node cannot write is a configuration error that names the key', async (t) => {
  const dir = tempDir(t);
  const { configPath } = initNode(dir, {
    nodeName: 'n',
    organizationName: 'Testziekenhuis',
    ura: '12345678',
    aeTitle: 'BB_TEST',
    dimsePort: 11112,
    peers: [],
  });
  // A file where the witness's folder should be: no folder can be made there, whoever runs the test.
  writeFileSync(join(dir, 'audit-witness'), 'not a folder');
  await assert.rejects(
    () => openAuditTrail(loadConfig(configPath)),
    (err: unknown) =>
      err instanceof BeeldbrugError && err.code === 'CONFIG_INVALID' && err.message.startsWith('audit.witnessFile:'),
  );
});
