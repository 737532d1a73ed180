// The command line as an administrator uses it: help everywhere, init then start, clear errors, and the demo network.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { certificatesOf, chainProblem, organizationOf } from '../src/auth/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { openAuditTrail } from '../src/node/index.ts';
import { createServer } from 'node:net';
import { freePort } from './support/net.ts';
import { tempDir } from './support/tmp.ts';
import { requireTool } from './support/tools.ts';
import { beeldbrugCli } from './support/processes.ts';

const binPath = new URL('../bin/beeldbrug', import.meta.url).pathname;

function cli(args: readonly string[], timeout = 60_000): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [...beeldbrugCli, ...args], {
    encoding: 'utf8',
    timeout,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/**
 * The demo takes consecutive ports from a base. Other tests take ports from the OS's ephemeral range, so the demo test
 * looks below it (Linux starts at 32768) for a base whose ports are all free.
 */
async function freeDemoPorts(): Promise<number> {
  const isFree = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const ports = [
      base,
      base + 1,
      base + 2,
      base + 10,
      base + 20,
      base + 21,
      base + 22,
      base + 30,
      base + 31,
      base + 32,
      base + 40,
      base + 41,
      base + 42,
      base + 50,
      base + 60,
      base + 61,
      base + 62,
    ];
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return base;
  }
  throw new Error('no free ports for the demo');
}

test('every command has --help', () => {
  for (const command of [
    [],
    ['init'],
    ['start'],
    ['synth'],
    ['demo'],
    ['pki'],
    ['pki', 'ca'],
    ['pki', 'node'],
    ['timeline'],
    ['send'],
    ['login'],
    ['logout'],
    ['registry'],
    ['registry', 'start'],
    ['registry', 'init'],
    ['registry', 'network-key'],
    ['audit'],
    ['audit', 'verify'],
    ['doctor'],
    ['user'],
    ['user', 'add'],
  ]) {
    const r = cli([...command, '--help']);
    assert.equal(r.code, 0, `${command.join(' ')} --help`);
    assert.match(r.out, /Usage: beeldbrug/);
  }
});

test('init writes a configuration that start accepts; it refuses to overwrite a node', (t) => {
  const dir = tempDir(t);
  const r = cli(['init', dir, '--ae-title', 'NOORD', '--ura', '12345678', '--peer', 'PACS@127.0.0.1:104']);
  assert.equal(r.code, 0, r.err);
  assert.match(readFileSync(join(dir, 'beeldbrug.yaml'), 'utf8'), /aeTitle: "PACS"/);
  assert.equal(
    Buffer.from(readFileSync(join(dir, 'keys', 'store.key'), 'utf8').trim(), 'base64').length,
    32,
    'a fresh 256-bit key',
  );
  assert.equal(
    Buffer.from(readFileSync(join(dir, 'keys', 'audit.key'), 'utf8').trim(), 'base64').length,
    32,
    'a fresh audit key',
  );
  const again = cli(['init', dir]);
  assert.equal(again.code, 1);
  assert.match(again.err, /already holds a Beeldbrug node/);
});

/** The installed command, as an administrator or a script runs it. */
function bin(args: readonly string[], input?: string): { code: number | null; out: string; err: string } {
  const r = spawnSync(binPath, args, { encoding: 'utf8', timeout: 60_000, ...(input !== undefined ? { input } : {}) });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('init with an invalid value writes nothing, names the option, and the corrected command then succeeds', (t) => {
  const root = tempDir(t);
  const dir = join(root, 'node');
  const bad: [string[], RegExp][] = [
    [['--ae-title', 'A_VERY_LONG_AE_TITLE'], /--ae-title: an AE title has 1 to 16 characters/],
    [['--ae-title', 'PA\\CS'], /--ae-title: only printable ASCII without backslash/],
    [['--peer', 'PACS@127.0.0.1:70000'], /--peer PACS@127\.0\.0\.1:70000: a TCP port is 1 to 65535/],
    [['--peer', 'PA\\CS@10.0.0.5'], /--peer PA\\CS@10\.0\.0\.5: only printable ASCII/],
    [['--peer', 'just-a-host'], /--peer .* is invalid\. write the PACS or modality as AE@host/],
    [['--ura', '1234'], /--ura .* is invalid\. a URA number .* is 8 digits/],
    [['--port', '0'], /--port .* is invalid\. a TCP port is a number from 1 to 65535/],
  ];
  for (const [args, message] of bad) {
    const r = bin(['init', dir, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
    assert.ok(!existsSync(dir), `${args.join(' ')} left ${dir} behind`);
  }
  // A folder that is already there (a mount point, say) stays as it was.
  mkdirSync(dir);
  assert.equal(bin(['init', dir, '--ae-title', 'A_VERY_LONG_AE_TITLE']).code, 2);
  assert.deepEqual(readdirSync(dir), []);
  const good = bin(['init', dir, '--ae-title', 'NOORD', '--ura', '12345678', '--peer', 'PACS@127.0.0.1:104']);
  assert.equal(good.code, 0, good.err);
  assert.equal(loadConfig(join(dir, 'beeldbrug.yaml')).dimse.aeTitle, 'NOORD');
});

test('init that fails half-way removes what it wrote', (t) => {
  const dir = tempDir(t);
  // A file where init wants its data folder: the keys folder is made first, then the data folder fails.
  writeFileSync(join(dir, 'data'), 'not a folder');
  const r = bin(['init', dir]);
  assert.equal(r.code, 1);
  assert.match(r.err, /CONFIG_INVALID: cannot write the node into .*nothing was left behind/);
  assert.deepEqual(readdirSync(dir), ['data'], 'the keys folder init made is gone again');
  rmSync(join(dir, 'data'));
  assert.equal(bin(['init', dir]).code, 0, 'and a second try starts from a clean folder');
});

test('exit codes: 0 done, 1 failed, 2 for a command line that is wrong', (t) => {
  const dir = tempDir(t);
  const usage: [string[], RegExp][] = [
    [[], /Usage: beeldbrug/],
    [['inti', dir], /unknown command 'inti'\n\(Did you mean init\?\)/],
    [['init', dir, '--aetitle', 'X'], /unknown option '--aetitle'\n\(Did you mean --ae-title\?\)/],
    [['init'], /missing required argument 'dir'/],
    [['init', dir, '--port', 'eleven'], /argument 'eleven' is invalid/],
    [['audit'], /Usage: beeldbrug audit/],
    [['audit', 'verify'], /required option '-c, --config <file>' not specified/],
    [['init', dir, 'extra'], /too many arguments/],
    [
      ['user', 'add', '--config', 'x.yaml', '--username', 'a', '--name', 'b', '--role', 'chief'],
      /argument 'chief' is invalid\. Allowed choices are radiologist/,
    ],
  ];
  for (const [args, message] of usage) {
    const r = bin(args);
    assert.equal(r.code, 2, `beeldbrug ${args.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
    if (!r.err.startsWith('Usage'))
      assert.doesNotMatch(r.err, /Options:/, 'one line that says what is wrong, not the whole help');
  }
  assert.ok(!existsSync(join(dir, 'beeldbrug.yaml')), 'a usage error does nothing');
  for (const args of [['--help'], ['--version'], ['init', '--help'], ['help', 'init']])
    assert.equal(bin(args).code, 0, args.join(' '));
  const missing = bin(['audit', 'verify', '--config', join(dir, 'nope.yaml')]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /^beeldbrug: CONFIG_NOT_FOUND: cannot read configuration .*nope\.yaml/);
});

test('--json: one JSON document on standard output; errors as JSON with the catalog code on standard error', (t) => {
  const dir = tempDir(t);
  const json = (args: readonly string[], input?: string): { code: number | null; out: unknown; err: unknown } => {
    const r = bin([...args, '--json'], input);
    return {
      code: r.code,
      out: r.out === '' ? undefined : JSON.parse(r.out),
      err: r.err === '' ? undefined : JSON.parse(r.err),
    };
  };
  const init = json(['init', join(dir, 'node'), '--ae-title', 'NOORD']);
  assert.equal(init.code, 0);
  const config = join(dir, 'node', 'beeldbrug.yaml');
  assert.deepEqual(init.out, {
    configPath: config,
    keyPath: join(dir, 'node', 'keys', 'store.key'),
    auditKeyPath: join(dir, 'node', 'keys', 'audit.key'),
    next: [
      `beeldbrug user add --config ${config} --username <name> --name <person> --role admin`,
      `beeldbrug start --config ${config}`,
    ],
  });

  const refused = json(['init', join(dir, 'other'), '--ae-title', 'A_VERY_LONG_AE_TITLE']);
  assert.equal(refused.code, 2);
  assert.equal(refused.out, undefined);
  assert.partialDeepStrictEqual(refused.err, { code: 'COMMAND_LINE_INVALID', exitCode: 2 });
  const usage = json(['init', join(dir, 'other'), '--bogus']);
  assert.equal(usage.code, 2);
  assert.partialDeepStrictEqual(usage.err, {
    code: 'COMMAND_LINE_INVALID',
    detail: "unknown option '--bogus'",
    exitCode: 2,
  });

  const user = json(
    ['user', 'add', '--config', config, '--username', 'beheer', '--name', 'A. Beheer', '--role', 'admin'],
    'a long enough passphrase\n',
  );
  assert.equal(user.code, 0, JSON.stringify(user.err));
  assert.partialDeepStrictEqual(user.out, {
    account: { username: 'beheer', name: 'A. Beheer', role: 'admin', source: 'local' },
  });
  assert.match((user.out as { totpUri: string }).totpUri, /^otpauth:\/\/totp\//);
  const taken = json(
    ['user', 'add', '--config', config, '--username', 'beheer', '--name', 'B', '--role', 'admin'],
    'a long enough passphrase\n',
  );
  assert.equal(taken.code, 1);
  assert.partialDeepStrictEqual(taken.err, { code: 'ACCOUNT_EXISTS', exitCode: 1 });

  const verify = json(['audit', 'verify', '--config', config]);
  assert.equal(verify.code, 0);
  assert.partialDeepStrictEqual(verify.out, { intact: true, ok: true });

  const doctor = json(['doctor', '--config', config]);
  assert.ok(doctor.code === 0 || doctor.code === 1);
  const findings = doctor.out as {
    findings: { level: string; subject: string; finding: string }[];
    critical: number;
    warnings: number;
    ok: number;
  };
  assert.ok(findings.findings.length > 0);
  assert.equal(findings.critical + findings.warnings + findings.ok, findings.findings.length);

  const ca = json(['pki', 'ca', '--out', join(dir, 'ca')]);
  assert.deepEqual(ca.out, {
    certPath: join(dir, 'ca', 'ca.crt'),
    keyPath: join(dir, 'ca', 'ca.key'),
    issuingCertPath: join(dir, 'ca', 'issuing-ca.crt'),
    issuingKeyPath: join(dir, 'ca', 'issuing-ca.key'),
  });
  const cert = json([
    'pki',
    'node',
    '--ca',
    join(dir, 'ca'),
    '--out',
    join(dir, 'pki'),
    '--name',
    'noord.test',
    '--organization',
    'Noord',
    '--ura',
    '10000001',
  ]);
  assert.deepEqual(cert.out, {
    certPath: join(dir, 'pki', 'node.crt'),
    keyPath: join(dir, 'pki', 'node.key'),
    caPath: join(dir, 'pki', 'ca.crt'),
  });
  const networkKey = json(['registry', 'network-key', '--out', join(dir, 'network.key')]);
  assert.deepEqual(networkKey.out, { keyPath: join(dir, 'network.key') });
  const nobody = json(['registry', 'init', join(dir, 'registry')]);
  assert.partialDeepStrictEqual(nobody, { code: 2, err: { code: 'COMMAND_LINE_INVALID' } });
  assert.match(
    (nobody.err as { detail: string }).detail,
    /name at least one organization that may call the registry: --client URA:name/,
  );
  const registry = json(['registry', 'init', join(dir, 'registry'), '--client', '10000001:Noord']);
  assert.deepEqual(registry.out, { configPath: join(dir, 'registry', 'registry.yaml') });
  const synth = json(['synth', '--out', join(dir, 'synth'), '--patients', '1']);
  assert.equal(synth.code, 0);
  assert.equal((synth.out as { patients: unknown[] }).patients.length, 1);

  // A mistyped key: the problems by key path, for a script to show.
  writeFileSync(config, readFileSync(config, 'utf8').replace('retentionDays:', 'retentionDagen:'));
  const invalid = json(['audit', 'verify', '--config', config]);
  assert.equal(invalid.code, 1);
  assert.partialDeepStrictEqual(invalid.err, {
    code: 'CONFIG_INVALID',
    issues: [{ path: 'store.retentionDagen', message: 'unknown key; did you mean retentionDays?' }],
  });
});

test('start explains an invalid configuration by key, and a missing key file by name', (t) => {
  const dir = tempDir(t);
  assert.equal(cli(['init', dir]).code, 0);
  const config = join(dir, 'beeldbrug.yaml');
  const good = readFileSync(config, 'utf8');
  writeFileSync(config, good.replace('aeTitle: "BEELDBRUG"', 'aeTitle: "THIS_AE_TITLE_IS_TOO_LONG"'));
  const invalid = cli(['start', '--config', config]);
  assert.equal(invalid.code, 1);
  assert.match(invalid.err, /CONFIG_INVALID: invalid configuration .*\n\s+- dimse\.aeTitle: .*16/);
  writeFileSync(config, good);
  rmSync(join(dir, 'keys', 'store.key'));
  const noKey = cli(['start', '--config', config]);
  assert.equal(noKey.code, 1);
  assert.match(noKey.err, /KEY_FILE_PROBLEM: .*store\.key/);
});

test('start refuses an insecure configuration and says what to fix; user add makes the first admin', (t) => {
  const dir = tempDir(t);
  assert.equal(cli(['init', dir]).code, 0);
  const config = join(dir, 'beeldbrug.yaml');
  // Plain DICOM on every interface, the node-to-node routes on with nobody trusted, and no admin.
  const insecure =
    readFileSync(config, 'utf8').replace(/^ {4}- host: 127\.0\.0\.1$/m, '    - host: 0.0.0.0') +
    '\nexchange:\n  listen: { host: 0.0.0.0, port: 8443 }\n  tls: { certFile: ./keys/node.crt, keyFile: ./keys/node.key, caFile: ./keys/ca.crt }\n';
  writeFileSync(config, insecure);
  const refused = cli(['start', '--config', config]);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /CONFIG_INSECURE: the node will not start in this configuration \(3 problems\)/);
  assert.match(refused.err, /dimse\.listeners\[0\]: DICOM on 0\.0\.0\.0:\d+ without TLS.*\n\s+Fix: add tls/);
  assert.match(refused.err, /exchange\.partners: .*trust list is empty.*\n\s+Fix: name the partner organizations/);
  assert.match(refused.err, /accounts: .*no admin account.*\n\s+Fix: create the first admin: beeldbrug user add/);

  const userAdd = (role: string) =>
    spawnSync(
      process.execPath,
      [...beeldbrugCli, 'user', 'add', '--config', config, '--username', role, '--name', 'Beheer', '--role', role],
      { input: 'a long enough passphrase\n', encoding: 'utf8' },
    );
  const auditorFirst = userAdd('auditor');
  assert.equal(auditorFirst.status, 2);
  assert.match(
    auditorFirst.stderr,
    /COMMAND_LINE_INVALID: --role auditor: .* the first one is an admin: run this with --role admin first/,
  );
  const onTheCommandLine = spawnSync(
    process.execPath,
    [
      ...beeldbrugCli,
      'user',
      'add',
      '--config',
      config,
      '--username',
      'beheer',
      '--name',
      'Beheer',
      '--role',
      'admin',
      '--password',
      'a long enough passphrase',
    ],
    { input: '', encoding: 'utf8' },
  );
  assert.equal(onTheCommandLine.status, 2);
  assert.match(onTheCommandLine.stderr, /the password is read from standard input, never from the command line/);
  assert.equal(userAdd('admin').status, 0);
  // With an admin and the plain port's reason stated, only the empty trust list is left.
  writeFileSync(
    config,
    insecure.replace(
      /^ {4}- host: 0\.0\.0\.0$/m,
      '    - plainDicom: { reason: "CT scanner on the modality VLAN cannot do TLS" }\n      host: 0.0.0.0',
    ),
  );
  const left = cli(['start', '--config', config]);
  assert.equal(left.code, 1);
  assert.match(left.err, /\(1 problem\):\n\s+- exchange\.partners/);
});

test('audit verify: intact after records from the node, names the first tampered record, and needs the audit key', async (t) => {
  const dir = tempDir(t);
  assert.equal(cli(['init', dir]).code, 0);
  const config = join(dir, 'beeldbrug.yaml');
  const trail = await openAuditTrail(loadConfig(config));
  for (let n = 1; n <= 5; n++) {
    await trail.record({
      action: 'read',
      outcome: 'success',
      description: `viewed ${n}`,
      user: { id: 'u1', name: 'Dr. A' },
      accessPoint: { node: 'test' },
      patient: { bsn: '999990019' },
      objects: {},
      grounds: { purpose: 'treatment' },
    });
  }
  await trail.close();
  const intact = cli(['audit', 'verify', '--config', config]);
  assert.equal(intact.code, 0, intact.err);
  assert.match(intact.out, /audit trail intact: 5 records verified/);
  const db = new DatabaseSync(join(dir, 'data', 'audit.sqlite'));
  db.exec('DROP TRIGGER audit_no_update');
  db.exec(`UPDATE audit_record SET event_json = replace(event_json, 'viewed 3', 'viewed 4') WHERE sequence = 3`);
  db.close();
  const broken = cli(['audit', 'verify', '--config', config]);
  assert.equal(broken.code, 1);
  assert.match(broken.out, /audit trail BROKEN at record 3: the record was changed/);
  rmSync(join(dir, 'keys', 'audit.key'));
  const noKey = cli(['audit', 'verify', '--config', config]);
  assert.equal(noKey.code, 1);
  assert.match(noKey.err, /KEY_FILE_PROBLEM: the audit key cannot be used .*audit\.key/);
});

test('the demo starts three hospitals, each a node and its own PACS (Orthanc), pushes a study from a PACS menu, and keeps its data', async (t) => {
  if (requireTool(t, 'Orthanc') === undefined) return;
  const dir = tempDir(t);
  const base = await freeDemoPorts();
  const first = cli(['demo', '--dir', dir, '--base-port', String(base), '--patients', '2', '--exit-when-ready']);
  assert.equal(first.code, 0, first.err);
  for (const ae of ['NOORD', 'MIDDEN', 'ZUID']) {
    assert.match(
      first.out,
      new RegExp(`${ae}\\s.*DICOM 127\\.0\\.0\\.1:\\d+\\s+\\d+ patients, \\d+ studies, \\d+ instances`),
    );
    assert.match(
      first.out,
      new RegExp(
        `PACS_${ae}\\s+Orthanc\\s+DICOM 127\\.0\\.0\\.1:${base + 30 + ['NOORD', 'MIDDEN', 'ZUID'].indexOf(ae)}\\s+\\d+ patients`,
      ),
    );
  }
  assert.match(first.out, /PACS_NOORD .* 2 patients/, 'two synthetic patients in each PACS');
  assert.match(first.out, /PACS_ZUID .* 3 patients/, 'and the timeline patient at Zuid');
  assert.match(first.out, /PACS_MIDDEN .* 4 patients/, 'and at Midden, with the patient Noord sent');
  assert.match(
    first.out,
    /NOORD .* 1 patients, 1 studies, \d+ instances \(node cache\)/,
    'a node holds only what it passed on',
  );
  // The registry names Midden and Zuid for the timeline patient, and both answer Noord.
  assert.match(first.out, /timeline of BSN \d{9} \(sources named by the registry\)/);
  assert.match(first.out, /Ziekenhuis Midden\s+URA 10000002\s+answered, 2 studies/);
  assert.match(first.out, /Ziekenhuis Zuid\s+URA 10000003\s+answered, 1 studies/);
  assert.equal(
    [...first.out.matchAll(/^\s+\d{4}-\d{2}-\d{2}\s.*(?<!at Ziekenhuis \w+)$/gm)].length,
    3,
    'three studies in the timeline',
  );
  // Noord's PACS (Orthanc) asked the node's external AE title through its own DICOM modality "priors".
  const priors = [...first.out.matchAll(/^\s+\d{4}-\d{2}-\d{2}\s.* at (Ziekenhuis \w+)$/gm)].map((m) => m[1]);
  assert.deepEqual(
    priors.sort(),
    ['Ziekenhuis Midden', 'Ziekenhuis Midden', 'Ziekenhuis Zuid'],
    'the PACS lists the same three studies, each with its hospital',
  );
  assert.match(first.out, /findscu -S -aet DEMO_SCU -aec NOORD_PRIORS -k QueryRetrieveLevel=STUDY -k PatientID=\d{9} /);
  // The printed commands sign in first: the person comes from sign-in, never from a flag.
  assert.match(
    first.out,
    /bin\/beeldbrug login --node https:\/\/127\.0\.0\.1:\d+ --ca \S+ca\.crt --username radioloog/,
  );
  assert.match(first.out, /bin\/beeldbrug timeline \d{9} /);
  assert.match(first.out, /bin\/beeldbrug send --study <uid> --to \d{8} --purpose transfer/);
  assert.doesNotMatch(first.out, /--user-id|--user-name/);
  assert.match(first.out, /echoscu -aet DEMO_SCU -aec NOORD 127\.0\.0\.1/);
  assert.match(
    first.out,
    /Push: Ziekenhuis Noord's PACS sent study [0-9.]+ \(\d+ instances\) to Ziekenhuis Midden from its "send to" menu; the receipt verified and the study is in Ziekenhuis Midden's PACS\./,
  );
  // A share: the link from the e-mail (kept as a file), and where the SMS code will appear.
  const shared =
    /Share with a patient: .* the e-mail is in (\S+), with this link:\n\s+(https:\/\/127\.0\.0\.1:\d+\/share#[\w-]{43})\n\s+Open it .* the SMS arrives in (\S+)\./.exec(
      first.out,
    );
  assert.ok(shared !== null, first.out);
  const [, mailDir = '', link = '', smsFile = ''] = shared;
  const mails = readdirSync(mailDir).map((f) => readFileSync(join(mailDir, f), 'utf8').replace(/=\r?\n/g, ''));
  assert.equal(mails.length, 1);
  assert.ok(mails[0]?.includes(link.split('#')[1] ?? '-'), 'the printed link is the e-mailed one');
  assert.match(smsFile, /mail-and-sms\/sms\.txt$/);
  const second = cli(['demo', '--dir', dir, '--base-port', String(base), '--exit-when-ready']);
  assert.equal(second.code, 0, second.err);
  const counts = (out: string): string[] =>
    [...out.matchAll(/(\d+ patients, \d+ studies, \d+ instances)/g)].map((m) => m[1] ?? '');
  assert.deepEqual(counts(second.out), counts(first.out), 'the second start finds the same data');
  assert.match(second.out, /Ziekenhuis Zuid\s+URA 10000003\s+answered, 1 studies/, 'and the same timeline');
});

test('pki: a CA, then a node certificate naming the organization and its URA, keys readable by the owner only', (t) => {
  const dir = tempDir(t);
  assert.equal(cli(['pki', 'ca', '--out', join(dir, 'ca')]).code, 0);
  const r = cli([
    'pki',
    'node',
    '--ca',
    join(dir, 'ca'),
    '--out',
    join(dir, 'noord'),
    '--name',
    'noord.test',
    '--organization',
    'Ziekenhuis Noord',
    '--ura',
    '10000001',
  ]);
  assert.equal(r.code, 0, r.err);
  const [cert, ...intermediates] = certificatesOf(readFileSync(join(dir, 'noord', 'node.crt')));
  assert.ok(cert !== undefined && intermediates.length === 1, 'node.crt holds the node certificate and the issuing CA');
  assert.equal(
    chainProblem(cert, intermediates, certificatesOf(readFileSync(join(dir, 'noord', 'ca.crt')))),
    undefined,
    'it chains to the root in ca.crt',
  );
  assert.deepEqual(organizationOf(cert), { name: 'Ziekenhuis Noord', ura: '10000001' });
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1', 'localhost and 127.0.0.1 by default');
  assert.equal(statSync(join(dir, 'noord', 'node.key')).mode & 0o777, 0o600);
  const again = cli([
    'pki',
    'node',
    '--ca',
    join(dir, 'ca'),
    '--out',
    join(dir, 'noord'),
    '--name',
    'x',
    '--organization',
    'x',
    '--ura',
    '10000001',
  ]);
  assert.match(again.err, /exists; not overwriting it/);
  assert.match(
    cli([
      'pki',
      'node',
      '--ca',
      join(dir, 'nope'),
      '--out',
      join(dir, 'x'),
      '--name',
      'x',
      '--organization',
      'x',
      '--ura',
      '10000001',
    ]).err,
    /no CA in/,
  );
  const badUra = cli([
    'pki',
    'node',
    '--ca',
    join(dir, 'ca'),
    '--out',
    join(dir, 'x'),
    '--name',
    'x',
    '--organization',
    'x',
    '--ura',
    '1',
  ]);
  assert.equal(badUra.code, 2);
  assert.match(badUra.err, /--ura .* is invalid\. a URA number .* is 8 digits/);
});

test('a DIMSE port already in use stops the start with the address named', async (t) => {
  const port = await freePort();
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const dir = tempDir(t);
  assert.equal(cli(['init', dir, '--port', String(port)]).code, 0);
  const r = cli(['start', '--config', join(dir, 'beeldbrug.yaml')]);
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`LISTEN_FAILED: cannot listen on DICOM 127\\.0\\.0\\.1:${port}: the port is in use`));
});
