// OpenSSH's own SFTP server on this machine, as the competitor of the node's: sshd with internal-sftp, a host key of
// its own, and one authorized key (the benchmark's), for the user the benchmark runs as.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, waitFor } from '../test/support/net.ts';
import { run } from '../test/support/processes.ts';

export interface OpenSshSftp {
  port: number;
  stop(): Promise<void>;
}

export async function startOpenSshSftp(dir: string, authorizedKey: string): Promise<OpenSshSftp> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // sshd will not start without its privilege-separation folder; the package makes it only when its service starts.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = join(dir, 'host_ed25519');
  const keygen = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  if (keygen.code !== 0) throw new Error(`ssh-keygen: ${keygen.stderr}`);
  writeFileSync(join(dir, 'authorized_keys'), authorizedKey, { mode: 0o600 });
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (d: Buffer) => (errors += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await waitFor(
    'sshd listening',
    () =>
      new Promise<boolean>((resolve, reject) => {
        if (child.exitCode !== null) return reject(new Error(`sshd exited: ${errors}`));
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      }),
  );
  return {
    port,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
