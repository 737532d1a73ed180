// HAProxy (Debian's) as the one address in front of several nodes of a hospital: TCP mode, so DICOM associations and
// TLS pass through untouched, with health checks that take a dead node out of the rotation.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { waitFor } from './net.ts';
import { tempDir } from './tmp.ts';
import { requireTool } from './tools.ts';

export interface Frontend {
  name: string;
  port: number;
  /** The nodes' ports for this service, on 127.0.0.1. */
  servers: readonly number[];
}

/** Starts HAProxy for this test (stopped when it ends) and waits until every frontend listens. */
export async function startHaproxy(t: TestContext, frontends: readonly Frontend[]): Promise<boolean> {
  const haproxy = requireTool(t, 'haproxy');
  if (haproxy === undefined) return false;
  const dir = tempDir(t, 'beeldbrug-haproxy-');
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    [
      'global',
      '  maxconn 2000',
      'defaults',
      '  mode tcp',
      '  timeout connect 2s',
      '  timeout client 5m',
      '  timeout server 5m',
      // A connection to a node that just died goes to another one instead of failing the client.
      '  retries 3',
      '  option redispatch',
      ...frontends.flatMap((f) => [
        `frontend ${f.name}`,
        `  bind 127.0.0.1:${f.port}`,
        `  default_backend ${f.name}-nodes`,
        `backend ${f.name}-nodes`,
        '  balance roundrobin',
        // A TCP connect every 100 ms; one failure takes a node out, one success brings it back.
        ...f.servers.map((port, n) => `  server node${n} 127.0.0.1:${port} check inter 100ms fall 1 rise 1`),
      ]),
      '',
    ].join('\n'),
  );
  const child = spawn(haproxy, ['-db', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  t.after(() => {
    child.kill('SIGKILL');
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`haproxy exited with ${code}: ${stderr}`))),
  );
  exited.catch(() => undefined);
  for (const f of frontends)
    await Promise.race([waitFor(`HAProxy listening on ${f.port}`, () => listening(f.port)), exited]);
  return true;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}
