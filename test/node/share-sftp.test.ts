// Partner accounts over SFTP, driven by OpenSSH's own sftp client: a partner signs in with its password or a
// registered SSH key, finds the shares made to it in download (a zip with DICOMDIR, read as it is made), sends files
// into upload (they land in the quarantine, where staff see them), and sees nothing of another partner nor of the
// machine: `..`, absolute paths, links, and the other partner's zip by name all lead nowhere.
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { totpCode, totpStep } from '../../src/auth/index.ts';
import { parseConfig } from '../../src/config/index.ts';
import { openAccounts } from '../../src/node/index.ts';
import { call, type ExchangeNode, send } from '../support/exchange.ts';
import { freePort, waitFor } from '../support/net.ts';
import { importSynthPatient } from '../support/patient-data.ts';
import { run, type RunResult } from '../support/processes.ts';
import { zipEntryNames, startShareNode } from '../support/share-services.ts';
import { addAccount, PERSON_PASSWORD, signedIn } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

/** Runs OpenSSH's sftp with commands on standard input (a '-' before a command lets it fail without stopping). */
function sftp(
  node: { sftpPort: number },
  user: string,
  commands: string[],
  auth: { password: string; dir: string } | { identity: string },
): Promise<RunResult> {
  const common = [
    '-P',
    String(node.sftpPort),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
  ];
  if ('identity' in auth)
    return run(
      'sftp',
      [
        ...common,
        '-b',
        '-',
        '-o',
        'PreferredAuthentications=publickey',
        '-o',
        'IdentitiesOnly=yes',
        '-i',
        auth.identity,
        `${user}@127.0.0.1`,
      ],
      120_000,
      { env: { ...process.env, SSH_AUTH_SOCK: '' }, input: `${commands.join('\n')}\n` },
    );
  // A password comes from SSH_ASKPASS (sftp's -b would forbid asking for one): a script that prints it.
  const askpass = join(auth.dir, `askpass-${user}`);
  writeFileSync(askpass, `#!/bin/sh\necho '${auth.password}'\n`, { mode: 0o700 });
  chmodSync(askpass, 0o700);
  return run(
    'setsid',
    [
      '-w',
      'sftp',
      ...common,
      '-o',
      'PreferredAuthentications=password',
      '-o',
      'PubkeyAuthentication=no',
      '-o',
      'NumberOfPasswordPrompts=1',
      `${user}@127.0.0.1`,
    ],
    120_000,
    {
      env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
      input: `${commands.join('\n')}\n`,
    },
  );
}

async function setUp(t: TestContext): Promise<{ node: ExchangeNode; sftpPort: number; dir: string }> {
  const { node } = await startShareNode(t, {
    share: { sftp: { host: '127.0.0.1', port: await freePort() }, maxUploadBytes: 4 * 1024 * 1024 },
  });
  const sftpPort = node.n.node.sftpPort;
  assert.ok(sftpPort !== undefined);
  return { node, sftpPort, dir: tempDir(t) };
}

test('a partner signs in over SFTP and reaches only its own download and upload folders', async (t) => {
  if (requireTool(t, 'sftp') === undefined || requireTool(t, 'ssh-keygen') === undefined) return;
  const { node, sftpPort, dir } = await setUp(t);
  const staff = await signedIn(t, node, { username: 'secretaresse', name: 'Sanne Secretaresse', role: 'staff' });
  await addAccount(t, node, { username: 'noord', name: 'Servicedesk', role: 'partner', organization: 'Kliniek Noord' });
  await addAccount(t, node, { username: 'zuid', name: 'PACS-beheer', role: 'partner', organization: 'Kliniek Zuid' });
  // Zuid signs in with a key of its own, registered with its account.
  const identity = join(dir, 'zuid_ed25519');
  const keygen = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'beheer@zuid', '-f', identity]);
  assert.equal(keygen.code, 0, keygen.stderr);
  const config = parseConfig(
    parseYaml(readFileSync(node.n.configPath, 'utf8')) as Record<string, unknown>,
    node.n.configPath,
  );
  const accounts = await openAccounts(config);
  t.after(() => accounts.close());
  const zuidId = (await accounts.list()).find((a) => a.username === 'zuid')!.id;
  await accounts.addSshKey(zuidId, readFileSync(`${identity}.pub`, 'utf8'));

  const study = await importSynthPatient(t, node.n.node, 41);
  const made = await staff.call('POST', '/api/v1/shares', {
    studyInstanceUids: [study.studyInstanceUid],
    partner: 'noord',
  });
  assert.equal(made.status, 201, made.body);
  const shareId = (JSON.parse(made.body) as { shareId: string }).shareId;
  const unknownPartner = await staff.call('POST', '/api/v1/shares', {
    studyInstanceUids: [study.studyInstanceUid],
    partner: 'nobody',
  });
  assert.equal(unknownPartner.status, 404);

  // Noord, with its password: the share is its zip in download; an instance and a text file go into upload.
  const local = join(dir, 'noord');
  const notDicom = join(dir, 'brief.txt');
  writeFileSync(notDicom, 'not an image');
  // DICM where a Part 10 file has it, and nothing a data set is made of after it: refused only once it is read whole.
  const broken = join(dir, 'kapot.dcm');
  writeFileSync(broken, Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.from([0x02, 0x00, 0x00])]));
  const tooLarge = join(dir, 'groot.zip');
  writeFileSync(tooLarge, Buffer.alloc(5 * 1024 * 1024));
  const password = { password: PERSON_PASSWORD, dir };
  const listed = await sftp({ sftpPort }, 'noord', ['ls -l download'], password);
  assert.equal(listed.code, 0, listed.stderr);
  const zipName = new RegExp(`(\\d{4}-\\d\\d-\\d\\d_[A-Z-]+_${shareId.slice(0, 8)}\\.zip)`).exec(listed.stdout)?.[1];
  assert.ok(zipName !== undefined, listed.stdout);
  const noord = await sftp(
    { sftpPort },
    'noord',
    [
      `get download/${zipName} ${local}.zip`,
      'mkdir upload/cd',
      `put ${study.files[0]} upload/cd/IM1`,
      `-put ${notDicom} upload/brief.txt`,
      `put ${broken} upload/kapot.dcm`,
      `-put ${tooLarge} upload/groot.zip`,
      'ls -l upload',
      'ls -l upload/cd',
      `get upload/brief.txt.geweigerd.txt ${local}-refused.txt`,
    ],
    password,
  );
  assert.equal(noord.code, 0, noord.stderr + noord.stdout);
  const names = await zipEntryNames(`${local}.zip`);
  assert.ok(names.includes('DICOMDIR'), names.join());
  assert.equal(names.filter((n) => n.startsWith('DICOM/')).length, study.instances);
  assert.match(noord.stdout, /^--w------- 1 partner partner +\d+ .* IM1$/m, 'what was sent is listed, write-only');
  assert.doesNotMatch(noord.stderr, /read remote/, 'the zip is read to its end without an error');
  assert.match(readFileSync(`${local}-refused.txt`, 'utf8'), /brief\.txt was not taken in: .*neither a DICOM file/);
  assert.match(noord.stderr, /brief\.txt|close|Failure/i, 'the refused put is told to the client');
  assert.doesNotMatch(noord.stderr, /kapot/, 'what looks like DICOM is answered once it is durable, before it is read');
  assert.match(noord.stderr, /write remote "\/upload\/groot\.zip": Failure/, 'a file too large is refused as it comes');
  assert.doesNotMatch(noord.stdout, /^[-d][-rwx]{9} .* groot\.zip$/m, 'nothing is left of a file too large');

  // Taken in after the puts: the staff's quarantine shows the study, sent by Kliniek Noord, and the broken file's
  // refusal appears beside it.
  let held: { studyInstanceUid: string; uploader: { name: string } }[] = [];
  await waitFor('the instance taken into quarantine', async () => {
    held = (JSON.parse((await staff.call('GET', '/api/v1/quarantine')).body) as { studies: typeof held }).studies;
    return held.length > 0;
  });
  assert.deepEqual(
    held.map((s) => [s.studyInstanceUid, s.uploader.name]),
    [[study.studyInstanceUid, 'Servicedesk (Kliniek Noord)']],
  );
  let refusal = '';
  await waitFor("the broken file's refusal", async () => {
    const r = await sftp({ sftpPort }, 'noord', [`get upload/kapot.dcm.geweigerd.txt ${local}-kapot.txt`], password);
    if (r.code === 0) refusal = readFileSync(`${local}-kapot.txt`, 'utf8');
    return r.code === 0;
  });
  assert.match(refusal, /kapot\.dcm was not taken in: kapot\.dcm: /);

  // Zuid, with its key: an empty download folder, no way to Noord's zip or uploads, and none out of the folders.
  const zuid = await sftp(
    { sftpPort },
    'zuid',
    [
      'ls download',
      'ls upload',
      `-get download/${zipName} ${dir}/stolen.zip`,
      `-get /download/../download/${zipName} ${dir}/stolen.zip`,
      `-get ../../../../etc/passwd ${dir}/passwd`,
      `-get /etc/passwd ${dir}/passwd`,
      '-cd /etc',
      '-cd ../..',
      'pwd',
      '-ln -s /etc/passwd upload/passwd',
      '-symlink /etc upload/etc',
      '-mkdir /evil',
      '-put /etc/hostname /etc/hostname',
      '-put /etc/hostname download/x',
      '-rename upload download/x',
      '-rm upload/cd/IM1',
    ],
    { identity },
  );
  assert.equal(zuid.code, 0, zuid.stderr + zuid.stdout);
  const answers = zuid.stdout
    .split('\n')
    .filter((l) => !l.startsWith('sftp>'))
    .join('\n');
  assert.doesNotMatch(answers, new RegExp(zipName.replace(/\./g, '\\.')), "Noord's zip is not listed for Zuid");
  assert.doesNotMatch(answers, /IM1|brief/, "Noord's uploads are not listed for Zuid");
  assert.match(zuid.stdout, /Remote working directory: \/\n/);
  assert.equal((zuid.stderr.match(/not found|No such file/gi) ?? []).length >= 4, true, zuid.stderr);
  assert.match(zuid.stderr, /Permission denied/);

  // Nor on the web: another partner, signed in, finds Noord's share neither to download nor to view, and the tries are
  // recorded in its name.
  const west = await signedIn(t, node, {
    username: 'west',
    name: 'Beheer West',
    role: 'partner',
    organization: 'Kliniek West',
  });
  assert.deepEqual(JSON.parse((await west.call('GET', '/partner/v1/shares')).body), { shares: [] });
  for (const path of [`/partner/v1/shares/${shareId}/zip`, `/partner/v1/shares/${shareId}/dicomweb/studies`])
    assert.equal((await west.call('GET', path)).status, 404, path);
  assert.deepEqual(
    (await node.n.node.audit.list())
      .filter((r) => r.user.name === 'Beheer West (Kliniek West)' && r.outcome === 'failure')
      .map((r) => `${r.action}: ${r.description}`),
    [
      "download: download refused: no such share in the partner's folder",
      "read: viewing refused: no such share in the partner's folder",
    ],
  );

  // A wrong password signs nobody in, and the attempt is recorded; the partners' own steps are recorded by name.
  const wrong = await sftp({ sftpPort }, 'noord', ['ls'], { password: 'not the password', dir });
  assert.notEqual(wrong.code, 0);
  const audit = node.n.node.audit;
  assert.ok(
    (await audit.list({ action: 'login-failure' })).some(
      (r) => r.description === 'SFTP sign-in refused (wrong-password)',
    ),
  );
  const logins = (await audit.list({ action: 'login' })).filter((r) => r.description === 'signed in over SFTP');
  assert.deepEqual(
    [...new Set(logins.map((r) => `${r.user.name}: ${r.grounds.authorization?.replace(/SHA256:\S+/, 'SHA256:…')}`))],
    [
      'Servicedesk (Kliniek Noord): SFTP, partner account password',
      'PACS-beheer (Kliniek Zuid): SFTP, registered SSH key SHA256:…',
    ],
  );
  const downloads = await audit.list({ action: 'download' });
  assert.ok(
    downloads.some((r) => r.outcome === 'success' && r.user.name === 'Servicedesk (Kliniek Noord)'),
    'the download is recorded in the partner’s name',
  );
  assert.ok(!downloads.some((r) => r.user.name === 'PACS-beheer (Kliniek Zuid)'), 'Zuid reached nothing to download');
  assert.ok(
    (await audit.list({ action: 'upload' })).some(
      (r) => r.outcome === 'success' && r.user.name === 'Servicedesk (Kliniek Noord)',
    ),
  );
});

test("a partner's password expires: SFTP refuses it, the web asks for a new one with both factors", async (t) => {
  if (requireTool(t, 'sftp') === undefined) return;
  const { node, sftpPort, dir } = await setUp(t);
  const totpSecret = await addAccount(t, node, {
    username: 'noord',
    name: 'Servicedesk',
    role: 'partner',
    organization: 'Kliniek Noord',
  });
  // The password was last changed 91 days ago.
  const config = parseConfig(
    parseYaml(readFileSync(node.n.configPath, 'utf8')) as Record<string, unknown>,
    node.n.configPath,
  );
  const db = new DatabaseSync(join(config.dataDir, 'accounts.sqlite'));
  t.after(() => db.close());
  db.prepare("UPDATE account SET password_changed_at = ? WHERE username = 'noord'").run(Date.now() - 91 * 86_400_000);

  const refused = await sftp({ sftpPort }, 'noord', ['ls'], { password: PERSON_PASSWORD, dir });
  assert.notEqual(refused.code, 0);
  const signIn = (o: { password: string; newPassword?: string }) =>
    call(node.port, 'POST', '/api/v1/session', node.ca.certPem, undefined, {
      username: 'noord',
      code: totpCode(totpSecret, totpStep(new Date())),
      ...o,
    });
  const expired = await signIn({ password: PERSON_PASSWORD });
  assert.equal(expired.status, 403);
  assert.equal((JSON.parse(expired.body) as { code: string }).code, 'PASSWORD_EXPIRED');
  const wrong = await signIn({ password: 'not the password at all' });
  assert.equal(wrong.status, 401, 'a wrong password is told nothing about expiry');
  const weak = await signIn({ password: PERSON_PASSWORD, newPassword: 'short' });
  assert.equal(weak.status, 400);
  const renewed = await signIn({ password: PERSON_PASSWORD, newPassword: 'a fresh partner passphrase' });
  assert.equal(renewed.status, 200, renewed.body);
  const session = JSON.parse(renewed.body) as {
    token: string;
    user: { organization: string; passwordExpiresAt: string };
  };
  assert.equal(session.user.organization, 'Kliniek Noord');
  assert.ok(Date.parse(session.user.passwordExpiresAt) > Date.now() + 89 * 86_400_000);

  const as = (method: string, path: string, json?: unknown) =>
    send(
      node.port,
      method,
      path,
      node.ca.certPem,
      undefined,
      json !== undefined ? Buffer.from(JSON.stringify(json)) : undefined,
      {
        authorization: `Bearer ${session.token}`,
        ...(json !== undefined ? { 'content-type': 'application/json' } : {}),
      },
    );
  assert.equal((await as('GET', '/api/v1/session')).status, 200);
  assert.equal((await as('GET', '/api/v1/shares')).status, 403, 'a partner does not see the staff workspace');
  assert.equal((await as('GET', '/api/v1/quarantine')).status, 403);
  const ok = await sftp({ sftpPort }, 'noord', ['ls'], { password: 'a fresh partner passphrase', dir });
  assert.equal(ok.code, 0, ok.stderr);

  const change = await as('POST', '/api/v1/session/password', {
    currentPassword: 'a fresh partner passphrase',
    newPassword: 'yet another partner passphrase',
  });
  assert.equal(change.status, 204, change.body);
  const wrongCurrent = await as('POST', '/api/v1/session/password', {
    currentPassword: 'a fresh partner passphrase',
    newPassword: 'and one more passphrase',
  });
  assert.equal(wrongCurrent.status, 401);
  assert.ok(
    (await node.n.node.audit.list({ action: 'configuration-change' })).some(
      (r) => r.description.startsWith('own password changed') && r.user.name === 'Servicedesk',
    ),
  );
});
