// npm run bench:share — a share as its recipient downloads it, against plain HTTPS file serving of the same bytes.
//
// A CT study of about 1 GB (BENCH_SHARE_MB) is stored in our node, shared with a recipient, opened with the e-mailed
// link and the SMS code (stand-ins for the mail server and SMS gateway, as in the demo), and downloaded as a zip by curl
// over HTTPS: decrypted from the store, packed into the zip and encrypted for TLS as it streams. The competitor is
// nginx serving that same zip as a file over HTTPS, with our node's certificate and TLS preferences: what a hospital's
// file server or portal does with a zip made beforehand. Runs alternate; medians. The node's peak memory is measured
// over the downloads alone (its high-water mark reset before them).
//
// The second half: that zip (a CD's worth of DICOM, about 1 GB) uploaded over SFTP by OpenSSH's sftp client into a
// partner's upload folder, signed in with its SSH key: encrypted as it arrives, made durable (fsync) and looked at (a
// zip with a sound directory) before the close is answered; the put's time is until sftp exits. Then its instances are
// taken into the quarantine (each checked, hashed and stored): that time is printed too, and waited for before the
// next run. The competitor is OpenSSH's sshd with its internal-sftp on the same machine, writing the file as it comes
// (no fsync). Same client, same key type, same cipher (aes128-gcm, which both do in OpenSSL). Between our runs the
// held study is rejected, so every run stores it anew. The node's peak memory is over the downloads and the uploads.
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { Agent, request } from 'node:https';
import { totpCode, totpStep } from '../src/auth/index.ts';
import { startDemoMailAndSms } from '../src/cli/demo-mail-sms.ts';
import { makeCa, makeNodeCertificate } from '../src/cli/pki-command.ts';
import { writeCtStudy } from '../src/synth/index.ts';
import { freePort } from '../test/support/net.ts';
import { run } from '../test/support/processes.ts';
import { startOpenSshSftp } from './openssh-sftp.ts';
import { benchFolder, cpuSeconds, peakRssMb } from './peers.ts';
import { median } from './stats.ts';
import { startTlsProxy } from './tls-proxy.ts';
import { spawnWebNode, storescu } from './web-node.ts';

const MB = Number(process.env['BENCH_SHARE_MB'] ?? 1000);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);
// writeCtStudy's slices are 512 x 512 x 2 bytes plus the header: about 0.53 MB each.
const INSTANCES = Math.max(10, Math.round(MB / 0.53));

const work = benchFolder('beeldbrug-bench-share-');
const stops: (() => Promise<unknown>)[] = [];
try {
  const study = await writeCtStudy({ outDir: join(work, 'study'), instances: INSTANCES, seed: 3 });
  console.log(`study: ${study.files.length} instances, ${(study.bytes / 1e6).toFixed(0)} MB`);
  // The mail server and SMS gateway stand-ins, under a CA of their own that the node's share section names.
  const servicesPki = join(work, 'services-pki');
  makeCa(join(servicesPki, 'ca'), 'Bench mail and SMS CA');
  const servicesTls = makeNodeCertificate(join(servicesPki, 'ca'), join(servicesPki, 'services'), {
    commonName: 'mail-and-sms.bench',
    organization: 'Bench mail and SMS',
    ura: '99999999',
    hosts: ['127.0.0.1'],
  });
  const services = await startDemoMailAndSms({
    dir: join(work, 'mail-and-sms'),
    smtpPort: await freePort(),
    smsPort: await freePort(),
    tls: servicesTls,
    caPath: servicesTls.caPath,
  });
  stops.push(() => services.close());
  const sshDir = join(work, 'ssh');
  await run('mkdir', ['-p', '-m', '700', sshDir]);
  const clientKey = join(sshDir, 'client_ed25519');
  const keygen = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench@partner', '-f', clientKey]);
  if (keygen.code !== 0) throw new Error(`ssh-keygen: ${keygen.stderr}`);
  const publicKey = readFileSync(`${clientKey}.pub`, 'utf8');
  const sftpPort = await freePort();
  const web = await spawnWebNode(work, {
    edit: (raw, httpsPort) => {
      raw['share'] = {
        ...services.shareConfig(`https://127.0.0.1:${httpsPort}`),
        sftp: { host: '127.0.0.1', port: sftpPort },
      };
    },
    partner: { username: 'bench.partner', organization: 'Bench Kliniek', publicKey },
  });
  stops.push(() => web.node.stop());
  await storescu(web.dimsePort, 'BEELDBRUG', study.files);
  const ca = readFileSync(web.caPath);
  const agent = new Agent({ ca, keepAlive: true, maxSockets: 1 });
  const call = (
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: string; setCookie: string }> =>
    new Promise((resolve, reject) => {
      const payload = Buffer.from(JSON.stringify(body ?? {}));
      const req = request({ host: '127.0.0.1', port: web.httpsPort, method, path, agent }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: text, setCookie: String(res.headers['set-cookie'] ?? '') }),
        );
      });
      req.setHeader('content-type', 'application/json');
      for (const [k, v] of Object.entries(headers)) req.setHeader(k, v);
      req.on('error', reject);
      req.end(method === 'GET' ? undefined : payload);
    });

  // A radiologist shares the study; the recipient opens it with the link and the code.
  const signIn = await call('POST', '/api/v1/session', {
    username: web.account.username,
    password: web.account.password,
    code: totpCode(web.account.totpSecret, totpStep(new Date())),
  });
  const token = (JSON.parse(signIn.body) as { token: string }).token;
  const mail = services.nextMail();
  const made = await call(
    'POST',
    '/api/v1/shares',
    {
      studyInstanceUids: [study.studyInstanceUid],
      recipient: { name: 'Bench Ontvanger', email: 'ontvanger@bench.test', mobile: '0612345678' },
    },
    { authorization: `Bearer ${token}` },
  );
  if (made.status !== 201) throw new Error(`share: ${made.status} ${made.body}`);
  const link = /share#([\w-]{43})/.exec(await mail)?.[1] ?? '';
  await call('POST', '/share/v1/code', { token: link });
  const code = /(\d{6})\. Geldig/.exec(readFileSync(services.smsFile, 'utf8'))?.[1] ?? '';
  const opened = await call('POST', '/share/v1/session', { token: link, code });
  if (opened.status !== 200) throw new Error(`opening the share: ${opened.status} ${opened.body}`);
  const cookie = opened.setCookie.split(';')[0] ?? '';

  // The same zip, served by nginx as a file.
  const zipDir = join(work, 'files');
  const zipPath = join(zipDir, 'beelden.zip');
  await run('mkdir', ['-p', zipDir]);
  const first = await curl(`https://127.0.0.1:${web.httpsPort}/share/v1/download`, web.caPath, cookie, zipPath);
  const zipBytes = readFileSync(zipPath);
  const digest = createHash('sha256').update(zipBytes).digest('hex');
  const unpacked = await run('unzip', ['-tq', zipPath], 600_000);
  if (unpacked.code !== 0) throw new Error(`the zip does not test clean: ${unpacked.stdout}${unpacked.stderr}`);
  console.log(
    `zip: ${(zipBytes.length / 1e6).toFixed(0)} MB, ${study.files.length} DICOM files + DICOMDIR, tests clean (unzip -t); first download ${first.toFixed(2)} s`,
  );
  writeFileSync(join(zipDir, 'sha256'), digest);
  const nginx = await startTlsProxy({
    dir: join(work, 'nginx'),
    root: zipDir,
    certPath: web.certPath,
    keyPath: web.keyPath,
    caPem: ca,
  });
  stops.push(() => nginx.stop());
  await run('sync', [], 600_000);

  const pid = web.node.child.pid ?? 0;
  // The high-water mark from here on: storing the study is not what this measures.
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const restingRss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const times = { ours: [] as number[], nginx: [] as number[] };
  const cpu: number[] = [];
  for (let r = 1; r <= RUNS; r++) {
    const before = cpuSeconds(pid).all;
    times.ours.push(await curl(`https://127.0.0.1:${web.httpsPort}/share/v1/download`, web.caPath, cookie));
    cpu.push(cpuSeconds(pid).all - before);
    times.nginx.push(await curl(`${nginx.baseUrl}/beelden.zip`, web.caPath));
    console.log(
      `run ${r}: beeldbrug ${mbps(zipBytes.length, times.ours.at(-1))} MB/s, nginx ${mbps(zipBytes.length, times.nginx.at(-1))} MB/s`,
    );
  }
  // SFTP: the zip into the partner's upload folder, and into OpenSSH's sftp, alternating.
  const openssh = await startOpenSshSftp(join(sshDir, 'sshd'), publicKey);
  stops.push(() => openssh.stop());
  const upload = { ours: [] as number[], takenIn: [] as number[], openssh: [] as number[] };
  const sshTarget = join(work, 'openssh-upload.zip');
  for (let r = 1; r <= RUNS; r++) {
    const putStart = performance.now();
    upload.ours.push(await sftpPut(sftpPort, 'bench.partner', clientKey, zipPath, `upload/bench-${r}.zip`));
    for (;;) {
      const listed = await call('GET', '/api/v1/quarantine', undefined, { authorization: `Bearer ${token}` });
      const held = (JSON.parse(listed.body) as { studies: { study: { instances: number } | null }[] }).studies;
      if (held[0]?.study?.instances === study.files.length) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    upload.takenIn.push((performance.now() - putStart) / 1000);
    const rejected = await call(
      'POST',
      `/api/v1/quarantine/${study.studyInstanceUid}/reject`,
      { reason: 'benchmark run' },
      { authorization: `Bearer ${token}` },
    );
    if (rejected.status !== 200)
      throw new Error(`the upload was not held in quarantine: ${rejected.status} ${rejected.body}`);
    upload.openssh.push(await sftpPut(openssh.port, userInfo().username, clientKey, zipPath, sshTarget));
    rmSync(sshTarget, { force: true });
    console.log(
      `sftp run ${r}: beeldbrug ${mbps(zipBytes.length, upload.ours.at(-1))} MB/s (taken in ${upload.takenIn.at(-1)?.toFixed(1)} s after the put began), OpenSSH ${mbps(zipBytes.length, upload.openssh.at(-1))} MB/s`,
    );
  }
  const rss = peakRssMb(pid);
  const ours = median(times.ours);
  const theirs = median(times.nginx);
  const sftpOurs = median(upload.ours);
  const sftpTheirs = median(upload.openssh);
  console.log(
    `beeldbrug (share zip, https) ${ours.toFixed(2)} s  ${mbps(zipBytes.length, ours)} MB/s  CPU ${median(cpu).toFixed(2)} s per download`,
  );
  console.log(`nginx (the zip as a file)    ${theirs.toFixed(2)} s  ${mbps(zipBytes.length, theirs)} MB/s`);
  console.log(
    `beeldbrug (sftp upload)      ${sftpOurs.toFixed(2)} s  ${mbps(zipBytes.length, sftpOurs)} MB/s  (instances taken in ${median(upload.takenIn).toFixed(2)} s after the put began)`,
  );
  console.log(`OpenSSH (sftp upload)        ${sftpTheirs.toFixed(2)} s  ${mbps(zipBytes.length, sftpTheirs)} MB/s`);
  console.log(
    `node peak RSS during the downloads and uploads: ${rss.toFixed(0)} MB (before them: ${restingRss.toFixed(0)} MB)`,
  );
  console.log(
    `share_ratio_vs_https=${(theirs / ours).toFixed(2)} sftp_ratio_vs_openssh=${(sftpTheirs / sftpOurs).toFixed(2)} peak_rss_mb=${rss.toFixed(0)}`,
  );
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await run('rm', ['-rf', work], 120_000);
}

function mbps(bytes: number, seconds: number | undefined): string {
  return seconds === undefined ? '?' : (bytes / 1e6 / seconds).toFixed(0);
}

/** One `put` by OpenSSH's sftp client, with the key and cipher both servers get; seconds until it exits. */
async function sftpPut(port: number, user: string, key: string, file: string, target: string): Promise<number> {
  const start = performance.now();
  const r = await run(
    'sftp',
    [
      '-b',
      '-',
      '-i',
      key,
      '-P',
      String(port),
      '-c',
      'aes128-gcm@openssh.com',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
      `${user}@127.0.0.1`,
    ],
    1_200_000,
    { env: { ...process.env, SSH_AUTH_SOCK: '' }, input: `put ${file} ${target}\n` },
  );
  const seconds = (performance.now() - start) / 1000;
  if (r.code !== 0) throw new Error(`sftp put to port ${port}: exit ${r.code} ${r.stderr}`);
  return seconds;
}

/** One download by curl (to `out`, or /dev/null); seconds to the last byte. */
async function curl(url: string, caPath: string, cookie?: string, out = '/dev/null'): Promise<number> {
  const r = await run(
    'curl',
    [
      '--silent',
      '--show-error',
      '--fail',
      '--http1.1',
      '--output',
      out,
      '--write-out',
      '%{time_total}',
      '--cacert',
      caPath,
      ...(cookie !== undefined ? ['--cookie', cookie] : []),
      url,
    ],
    1_200_000,
  );
  if (r.code !== 0) throw new Error(`curl ${url}: exit ${r.code} ${r.stderr}`);
  return Number(r.stdout.trim());
}
