// Running real peers (DCMTK tools, storescp) as child processes with the environment they need (TCP_NODELAY=1).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { peerEnv } from './tools.ts';

/**
 * Node's arguments that run the beeldbrug command line as bin/beeldbrug does: each module as JavaScript from the
 * stripped-types cache (bin/javascript-cache.mjs), not through Node's type stripper (0.4 s and 35 MB less a command).
 */
export const beeldbrugCli: readonly string[] = [
  '--disable-warning=ExperimentalWarning',
  '--import',
  new URL('../../bin/javascript-cache.mjs', import.meta.url).pathname,
  new URL('../../src/main.ts', import.meta.url).pathname,
];

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a tool to its end. How long that takes depends on the machine's load, so the default bound is the test
 * runner's own timeout (scripts/test.ts): the kill only keeps a hung tool from outliving the test that ran it.
 */
export function run(
  cmd: string,
  args: readonly string[],
  timeoutMs = 300_000,
  o: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: o.env ?? peerEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // An empty standard input (end of file at once), as a tool run from a script gets. A tool may exit before it reads
    // its input (EPIPE); that is its answer, not a failure of ours.
    p.stdin.on('error', () => undefined);
    p.stdin.end(o.input ?? '');
  });
}

/** Starts a long-running peer (storescp) and kills it when the test ends. */
export function startPeer(t: TestContext, cmd: string, args: readonly string[]): { output: () => string } {
  const p = spawn(cmd, args, { env: peerEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  t.after(() => {
    p.kill('SIGTERM');
  });
  return { output: () => out };
}

/**
 * Watches processes that are not our children (a registry's workers, Ceph's daemons), whose exits Node never sees: a
 * pidfd per process (Linux 5.3) becomes readable when it exits. The pidfds are open when this resolves, so an exit
 * after it is never missed; `exited` resolves once every one of them has exited. Resolves undefined when one of them
 * is not running.
 */
export async function watchExits(
  t: TestContext,
  pids: readonly number[],
): Promise<{ exited: Promise<void> } | undefined> {
  const watcher = spawn(
    'python3',
    [
      '-c',
      'import os, select, sys\nfds = [os.pidfd_open(int(p)) for p in sys.argv[1:]]\nprint("watching", flush=True)\nfor fd in fds: select.select([fd], [], [])',
      ...pids.map(String),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => watcher.kill());
  const ended = once(watcher, 'exit');
  const watching = await Promise.race([once(watcher.stdout, 'data').then(() => true), ended.then(() => false)]);
  if (!watching) return undefined;
  return {
    exited: ended.then(([code]) => {
      if (code !== 0) throw new Error(`the exit watcher failed with ${String(code)}`);
    }),
  };
}
