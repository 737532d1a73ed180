import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

/**
 * Ports are picked below the kernel's ephemeral range (ip_local_port_range, 32768-60999 by default): the kernel takes
 * ports for outgoing connections and for listen(0) from that range, so a port it handed out a moment ago could be taken
 * by another test's connection before the server under test listened on it (seen in CI as LISTEN_FAILED).
 */
const EPHEMERAL_START = (() => {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > 2048 ? first : 32768;
  } catch {
    return 32768;
  }
})();
const RANGE_START = Math.max(1024, EPHEMERAL_START - 12_000);
const handedOut = new Set<number>();

/**
 * A TCP port on 127.0.0.1, below the ephemeral range, that was free a moment ago and that no test process running now
 * was handed. Test files run in parallel, each its own process: a port is claimed by a file named after it (holding
 * the claiming process's id) for as long as that process lives, so a node that is killed and restarted on its port
 * (the kill tests) does not find it taken by another file's node in between (seen in CI as LISTEN_FAILED).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = RANGE_START + Math.floor(Math.random() * (EPHEMERAL_START - RANGE_START));
    if (handedOut.has(port) || !claim(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port between ${RANGE_START} and ${EPHEMERAL_START - 1}`);
}

const CLAIMS = join(tmpdir(), `beeldbrug-test-ports-${userInfo().uid}`);
mkdirSync(CLAIMS, { recursive: true, mode: 0o700 });
process.once('exit', () => {
  for (const port of handedOut) rmSync(join(CLAIMS, String(port)), { force: true });
});

/** Claims a port for this process, or says another living test process has it. */
function claim(port: number): boolean {
  const file = join(CLAIMS, String(port));
  for (let tries = 0; tries < 2; tries++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readFileSync(file, 'utf8');
      // Empty: being written by the process that claimed it a moment ago.
      if (holder === '' || alive(Number(holder))) return false;
      rmSync(file, { force: true }); // left by a test process that has ended
    }
  }
  return false;
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * Polls until `probe` resolves true; `what` names the event for the reader of the test (and for the error when the
 * test's signal says it gave up). There is no deadline here on purpose: how long an event takes depends on the
 * machine's load, so the only bound is the test runner's timeout (scripts/test.ts), which fails the test that waits.
 * The poll interval only samples; it assumes nothing about when the event comes.
 */
export async function waitFor(what: string, probe: () => Promise<boolean>, signal?: AbortSignal): Promise<void> {
  let lastError: unknown;
  for (;;) {
    // A test that gave up (its own timeout aborts its signal) says what it was waiting for, and the last failure seen.
    if (signal?.aborted === true) throw new Error(`gave up waiting for ${what}`, { cause: lastError ?? signal.reason });
    try {
      if (await probe()) return;
    } catch (e) {
      lastError = e; // not up yet
    }
    // Unref'd: a wait the runner has already failed for its timeout must not keep the process alive on its own.
    await new Promise((r) => setTimeout(r, 100).unref());
  }
}
