import { readFileSync } from 'node:fs';
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

/** A TCP port on 127.0.0.1, below the ephemeral range, that was free a moment ago and not yet handed out by this process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = RANGE_START + Math.floor(Math.random() * (EPHEMERAL_START - RANGE_START));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port between ${RANGE_START} and ${EPHEMERAL_START - 1}`);
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
