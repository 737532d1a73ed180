// An embedded node moved to a PostgreSQL server: switched over before its records are moved it refuses to start (no
// second trail, index or set of accounts beside the first); `beeldbrug migrate` copies and verifies the trail, the
// study index and the accounts; then it starts, serves the studies it had, signs its people in, and records on.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { totpCode, totpStep } from '../../src/auth/index.ts';
import { migrateFromCli } from '../../src/cli/migrate-command.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { openAccounts } from '../../src/node/index.ts';
import { NodeRecords } from '../../src/node/node-store.ts';
import { openSqliteShareStore, openSqliteUploadStore, type Share, type Upload } from '../../src/share/index.ts';
import { BeeldbrugError } from '../../src/errors/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { Tag } from '../../src/dicom/index.ts';
import { run } from '../dimse/helpers.ts';
import { findscuAnswers } from '../support/dcmtk.ts';
import { startPostgres } from '../support/postgres.ts';
import { restartTestNode, startTestNode } from '../support/node.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

const PACS = 'PACS_AE';
const PARTNER_PASSWORD = 'a partner passphrase';

const SHARE: Share = {
  shareId: 'share-1',
  studies: [{ studyInstanceUid: '1.2.3', studyDate: '20261201', description: 'CT thorax', modalities: ['CT'] }],
  recipient: { name: 'J. de Vries', email: 'j@example.nl', mobile: '+31612345678', isPatient: true },
  patient: { bsn: '999990019' },
  patientName: 'Vries^J^de',
  createdBy: { id: 'acc-1', name: 'S. Jansen' },
  createdAt: '2026-12-01T09:00:00.000Z',
  expiresAt: '2099-12-08T09:00:00.000Z',
  maxOpens: 10,
  opens: 0,
  downloads: 0,
  wrongCodes: 0,
  lockedAt: null,
  revokedAt: null,
  revokedBy: null,
  deidentify: null,
  upload: true,
};
const UPLOAD: Upload = {
  uploadId: 'upload-1',
  uploader: { id: 'share:share-1', name: 'J. de Vries', shareId: 'share-1' },
  fileName: 'cd.zip',
  size: 1234,
  state: 'receiving',
  createdAt: '2026-12-01T09:30:00.000Z',
  result: null,
  problem: null,
};

/** A field of an SSH key blob: its length, then its bytes. */
const sshString = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);

test('an embedded node moves its audit trail, study index and accounts to PostgreSQL with beeldbrug migrate, and goes on there', async (t) => {
  if (requireTool(t, 'storescu') === undefined) return;
  const server = await startPostgres(t);
  if (server === undefined) return;
  const s = await server.database('moved_node');
  const synth = await synthesize({ outDir: join(tempDir(t), 'synth'), patients: 1, seed: 11 });
  const study = synth.patients[0]!.studies[0]!;
  const n = await startTestNode(t, { peers: [{ aeTitle: PACS, host: '127.0.0.1', port: 1, description: 'PACS' }] });
  const stored = await run('storescu', ['-aet', PACS, '-aec', n.aeTitle, '127.0.0.1', String(n.port), ...study.files]);
  assert.equal(stored.code, 0, stored.stderr);
  const before = await n.node.audit.list({ limit: 100_000 });
  assert.ok(before.some((r) => r.action === 'receive' && r.objects.studyInstanceUid === study.studyInstanceUid));
  await n.node.close();

  const embeddedConfig = loadConfig(n.configPath);
  const raw = parseYaml(readFileSync(n.configPath, 'utf8')) as Record<string, unknown>;
  raw['database'] = { kind: 'postgresql', ...s };
  writeFileSync(n.configPath, stringifyYaml(raw));
  await assert.rejects(
    restartTestNode(t, n),
    (err: unknown) =>
      err instanceof BeeldbrugError &&
      err.code === 'DATA_NOT_MIGRATED' &&
      new RegExp(
        `index\\.sqlite \\(${study.files.length} instances\\) is not in the database: stop the node and run \`beeldbrug migrate`,
      ).test(err.message),
  );

  // A partner account with an SSH key and a session, made on the embedded node: moved as they are.
  const embeddedAccounts = await openAccounts(embeddedConfig);
  const { account, totpSecret } = await embeddedAccounts.createLocal({
    username: 'kliniek',
    name: 'Servicedesk',
    role: 'partner',
    organization: 'Kliniek Noord',
    password: PARTNER_PASSWORD,
  });
  const keyBlob = Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(randomBytes(32))]);
  const key = await embeddedAccounts.addSshKey(account.id, `ssh-ed25519 ${keyBlob.toString('base64')} beheer@noord`);
  const signedIn = await embeddedAccounts.signIn({
    username: 'kliniek',
    password: PARTNER_PASSWORD,
    code: totpCode(totpSecret, totpStep(new Date())),
  });
  assert.ok(signedIn.ok);
  await embeddedAccounts.close();
  // A share with a recipient's session, and an upload holding a study in the quarantine.
  const embeddedShares = openSqliteShareStore(join(embeddedConfig.dataDir, 'share.sqlite'));
  await embeddedShares.insert(SHARE, 'token-hash');
  await embeddedShares.opened(SHARE.shareId, { tokenHash: 'session-hash', expiresAt: SHARE.expiresAt });
  await embeddedShares.close();
  mkdirSync(join(embeddedConfig.dataDir, 'quarantine'), { recursive: true });
  const embeddedUploads = openSqliteUploadStore(join(embeddedConfig.dataDir, 'quarantine', 'uploads.sqlite'));
  await embeddedUploads.insertUpload(UPLOAD);
  await embeddedUploads.holdStudy({
    studyInstanceUid: '1.2.3',
    uploader: UPLOAD.uploader,
    receivedAt: SHARE.createdAt,
  });
  await embeddedUploads.close();
  const records = new NodeRecords(loadConfig(n.configPath), createLogger({ level: 'silent' }));
  t.after(() => records.close());
  for (const [left, open] of [
    [/the shares in \S+share\.sqlite \(1 row of share\) is not in the database/, () => records.shares()],
    [/the uploads in \S+uploads\.sqlite \(1 row of upload\) is not in the database/, () => records.uploads()],
  ] as const)
    await assert.rejects(
      open(),
      (err: unknown) => err instanceof BeeldbrugError && err.code === 'DATA_NOT_MIGRATED' && left.test(err.message),
    );
  await assert.rejects(
    openAccounts(loadConfig(n.configPath)),
    (err: unknown) =>
      err instanceof BeeldbrugError &&
      err.code === 'DATA_NOT_MIGRATED' &&
      /the accounts in \S+accounts\.sqlite \(1 row of account\) is not in the database/.test(err.message),
    '`beeldbrug user` on the server refuses too, before the accounts are moved',
  );

  const out: string[] = [];
  const sink = { write: (chunk: string) => (out.push(chunk), true) } as unknown as NodeJS.WritableStream;
  assert.equal(await migrateFromCli(loadConfig(n.configPath), sink), 0, out.join(''));
  assert.match(out.join(''), new RegExp(`audit trail: ${before.length} records copied from \\S+audit\\.sqlite`));
  assert.match(
    out.join(''),
    new RegExp(
      `audit trail verified on the PostgreSQL server 127\\.0\\.0\\.1:${s.port}, database moved_node: ${before.length} records`,
    ),
  );

  assert.match(
    out.join(''),
    new RegExp(
      `index\\.sqlite: ${study.files.length} instances copied; verified on the PostgreSQL server \\S+, database moved_node: ${study.files.length} instances, digest [0-9a-f]{64}`,
    ),
  );
  assert.match(out.join(''), /accounts\.sqlite \(ssh_key\): 1 row copied; verified: 1 row, digest [0-9a-f]{64}/);
  assert.match(out.join(''), /accounts\.sqlite \(account\): 1 row copied; verified: 1 row,/);
  const movedAccounts = await openAccounts(loadConfig(n.configPath));
  try {
    assert.equal((await movedAccounts.session(signedIn.token))?.account.id, account.id, 'the session goes on');
    assert.equal((await movedAccounts.checkPassword('kliniek', PARTNER_PASSWORD)).ok, true);
    assert.deepEqual(await movedAccounts.sshKeysOf(account.id), [key]);
    assert.equal((await movedAccounts.accountForSshKey('kliniek', 'ssh-ed25519', keyBlob))?.id, account.id);
  } finally {
    await movedAccounts.close();
  }
  const movedShares = await records.shares();
  assert.deepEqual(await movedShares.byTokenHash('token-hash'), { ...SHARE, opens: 1 });
  assert.equal((await movedShares.session('session-hash'))?.shareId, SHARE.shareId, "the recipient's session goes on");
  await movedShares.close();
  const movedUploads = await records.uploads();
  assert.deepEqual(await movedUploads.getUpload(UPLOAD.uploadId), UPLOAD);
  assert.deepEqual(
    (await movedUploads.studies({ states: ['held'] })).map((s) => s.studyInstanceUid),
    ['1.2.3'],
    'a study waiting for a person still waits',
  );
  await movedUploads.close();
  const out2: string[] = [];
  const sink2 = { write: (chunk: string) => (out2.push(chunk), true) } as unknown as NodeJS.WritableStream;
  assert.equal(await migrateFromCli(loadConfig(n.configPath), sink2), 0, out2.join(''));
  assert.match(
    out2.join(''),
    new RegExp(`0 instances copied \\(${study.files.length} were there from an earlier run\\)`),
  );

  const moved = await restartTestNode(t, n);
  const [found] = await findscuAnswers(
    t,
    ['-aet', PACS, '-aec', n.aeTitle, '127.0.0.1', String(moved.port)],
    ['QueryRetrieveLevel=STUDY', `StudyInstanceUID=${study.studyInstanceUid}`, 'NumberOfStudyRelatedInstances'],
  );
  assert.equal(Number(found?.string(Tag.NumberOfStudyRelatedInstances)), study.files.length, 'the study is found');
  const after = await moved.node.audit.list({ limit: 100_000 });
  assert.deepEqual(
    after.slice(0, before.length).map((r) => r.hash),
    before.map((r) => r.hash),
    'the trail on the database is the one the node kept',
  );
  const again = await run('storescu', [
    '-aet',
    PACS,
    '-aec',
    n.aeTitle,
    '127.0.0.1',
    String(moved.port),
    ...study.files,
  ]);
  assert.equal(again.code, 0, again.stderr);
  const moves = (await moved.node.audit.list({ afterSequence: before.length, limit: 100_000 })).filter(
    (r) => r.action === 'configuration-change' && r.description.includes('records moved from its data folder'),
  );
  assert.deepEqual(
    moves.map((r) => r.user.id),
    [`os:${userInfo().username}`, `os:${userInfo().username}`],
    'each run of migrate is one record, by the operating-system user who ran it',
  );
  assert.deepEqual(
    moves.map((r) => /\(audit trail (\d+) records copied/.exec(r.description)?.[1]).sort(),
    ['0', String(before.length)],
    'the first run copied the trail, the second found it there',
  );
  assert.match(
    moves.find((r) => r.description.includes(`${before.length} records copied`))?.description ?? '',
    new RegExp(
      `; \\S+index\\.sqlite: ${study.files.length} instances; .*account: 1 row; session: 1 row; ssh_key: 1 row`,
    ),
  );
  const last = (await moved.node.audit.list({ afterSequence: before.length, limit: 100_000 })).at(-1);
  assert.equal(last?.action, 'receive', 'the node records on, into the database');
  assert.ok((last?.sequence ?? 0) > before.length);
  assert.deepEqual(await moved.node.audit.verify(), { ok: true, records: last!.sequence });
});
