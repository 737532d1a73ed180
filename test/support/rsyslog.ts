// An audit repository for the tests: rsyslog (Debian's syslog daemon) listening for RFC 5425 syslog over TLS with
// OpenSSL, demanding a client certificate from the test CA (x509/certvalid), and writing each message it accepts from
// Beeldbrug as received (RFC 5424 header and XML) on a line of its own.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type IssuedCertificate, issueNodeCertificate } from '../../src/auth/index.ts';
import { waitFor } from './net.ts';
import { Steps } from './steps.ts';

export interface Rsyslog {
  port: number;
  /** The messages received so far, one per element, as rsyslog saw them (without the octet count). */
  received(): string[];
  /** Until `probe` holds, looked at again each time rsyslog writes to its folder (no timer). */
  until(what: string, probe: () => boolean): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startRsyslog(
  t: TestContext,
  o: { rsyslogd: string; ca: IssuedCertificate; dir: string; port: number },
): Promise<Rsyslog> {
  const dir = o.dir;
  mkdirSync(join(dir, 'work'), { recursive: true });
  const server = issueNodeCertificate(o.ca, {
    commonName: 'audit-repository.test',
    organization: { name: 'Ziekenhuis Noord ARR', ura: '10000001' },
    hosts: ['127.0.0.1'],
  });
  // Made before rsyslog starts, so that no write of its goes unseen.
  const steps = new Steps();
  steps.watch(t, dir);
  writeFileSync(join(dir, 'ca.crt'), o.ca.certPem);
  writeFileSync(join(dir, 'server.crt'), server.certPem);
  writeFileSync(join(dir, 'server.key'), server.keyPem, { mode: 0o600 });
  const received = join(dir, 'received.log');
  writeFileSync(
    join(dir, 'rsyslog.conf'),
    `global(
  workDirectory="${join(dir, 'work')}"
  maxMessageSize="64k"
  defaultNetstreamDriver="ossl"
  defaultNetstreamDriverCAFile="${join(dir, 'ca.crt')}"
  defaultNetstreamDriverCertFile="${join(dir, 'server.crt')}"
  defaultNetstreamDriverKeyFile="${join(dir, 'server.key')}"
)
module(load="imtcp" streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="x509/certvalid")
input(type="imtcp" address="127.0.0.1" port="${o.port}")
template(name="asReceived" type="string" string="%rawmsg%\\n")
if $app-name == "beeldbrug" then {
  action(type="omfile" file="${received}" template="asReceived")
  stop
}
action(type="omfile" file="${join(dir, 'rsyslogd.log')}")
`,
  );
  let child: ChildProcess | undefined;
  let output = '';
  const start = async (): Promise<void> => {
    const p = spawn(o.rsyslogd, ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    p.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child = p;
    // Its exit ends the wait too: waitFor has no deadline, and a dead rsyslogd will never listen.
    await waitFor(
      `rsyslogd listening on ${o.port}`,
      async () =>
        p.exitCode !== null ||
        readFileSync('/proc/net/tcp', 'utf8').includes(
          `:${o.port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A`,
        ),
    );
    if (p.exitCode !== null) throw new Error(`rsyslogd exited: ${output}`);
  };
  const stop = async (): Promise<void> => {
    const p = child;
    child = undefined;
    if (p === undefined || p.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGTERM');
    await exited;
  };
  await start();
  t.after(stop);
  return {
    port: o.port,
    received: () =>
      existsSync(received)
        ? readFileSync(received, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
        : [],
    until: (what, probe) => steps.until(what, probe),
    stop,
    start,
  };
}
