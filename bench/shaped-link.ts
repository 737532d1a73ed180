// A WAN link between two hospitals on one machine: two network namespaces joined by a veth pair, each end rate-limited
// with tc tbf. The kernel here has no netem, so the round-trip time is added by the benchmark's delay proxy instead.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { peerEnv } from '../test/support/tools.ts';

const root = new URL('..', import.meta.url).pathname;

/** The WAN the benchmarks shape between two hospitals: a leased line of 100 Mbit/s with 20 ms round trip. */
export const WAN = { rateMbit: 100, oneWayDelayMs: 10 } as const;
/** The two benchmark hospitals, and the ports their nodes and the delay proxy use inside the namespaces. */
export const NOORD = { name: 'Ziekenhuis Noord', ura: '10000001' } as const;
export const MIDDEN = { name: 'Ziekenhuis Midden', ura: '10000002' } as const;
export const EXCHANGE_PORT = 8443;
export const PROXY_PORT = 9443;

export interface ShapedLink {
  sender: string;
  receiver: string;
  senderIp: string;
  receiverIp: string;
  rateMbit: number;
  /** Runs a command inside a namespace: the argument prefix for spawn. */
  exec(ns: string): string[];
  teardown(): void;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function tc(ns: string, args: string[]): void {
  execFileSync('tc', ['-n', ns, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Creates the namespaces (removing leftovers of an earlier run first); needs root. */
export function createShapedLink(o: { prefix: string; rateMbit: number }): ShapedLink {
  if (process.getuid?.() !== 0) throw new Error('bench:transfer sets up network namespaces and must run as root');
  const sender = `${o.prefix}-snd`;
  const receiver = `${o.prefix}-rcv`;
  const link: ShapedLink = {
    sender,
    receiver,
    senderIp: '10.231.0.1',
    receiverIp: '10.231.0.2',
    rateMbit: o.rateMbit,
    exec: (ns) => ['ip', 'netns', 'exec', ns],
    teardown: () => {
      for (const ns of [sender, receiver]) {
        try {
          ip(['netns', 'del', ns]);
        } catch {
          // not there: nothing to remove
        }
      }
    },
  };
  link.teardown();
  ip(['netns', 'add', sender]);
  ip(['netns', 'add', receiver]);
  ip([
    'link',
    'add',
    `${o.prefix}-s`,
    'netns',
    sender,
    'type',
    'veth',
    'peer',
    'name',
    `${o.prefix}-r`,
    'netns',
    receiver,
  ]);
  for (const [ns, dev, addr] of [
    [sender, `${o.prefix}-s`, link.senderIp],
    [receiver, `${o.prefix}-r`, link.receiverIp],
  ] as const) {
    ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev]);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', ns, 'link', 'set', dev, 'up']);
    // Both directions at the link rate, with a queue of about 20 ms, as a leased line's router would have.
    tc(ns, [
      'qdisc',
      'add',
      'dev',
      dev,
      'root',
      'tbf',
      'rate',
      `${o.rateMbit}mbit`,
      'burst',
      '64kb',
      'latency',
      '20ms',
    ]);
  }
  return link;
}

/** A command run inside a namespace, as spawn's arguments. */
export function command(ns: string, cmd: string, args: readonly string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', ns, cmd, ...args]];
}

/** Runs a tool inside a namespace to its end; its output, or an error with the tail of it. */
export function runIn(ns: string, cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(...command(ns, cmd, args), { env: peerEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}:\n${out.slice(-2000)}`)),
    );
  });
}

/** The delay proxy in the sender's namespace, in front of a port of the receiver's: the link's round trip. */
export function startProxy(
  l: ShapedLink,
  listenPort: number,
  targetPort: number,
  oneWayDelayMs: number,
): Promise<ChildProcess> {
  const p = spawn(
    ...command(l.sender, process.execPath, [
      '--disable-warning=ExperimentalWarning',
      join(root, 'bench/delay-proxy.ts'),
      String(listenPort),
      l.receiverIp,
      String(targetPort),
      String(oneWayDelayMs),
    ]),
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    p.stdout?.once('data', (d: Buffer) =>
      d.toString().includes('READY') ? resolve(p) : reject(new Error(`proxy: ${d.toString()}`)),
    );
    p.once('exit', (code) => reject(new Error(`the delay proxy exited ${code}`)));
  });
}

/** Stops the proxy; the bytes it carried each way. */
export function stopProxy(p: ChildProcess): Promise<{ up: number; down: number }> {
  return new Promise((resolve) => {
    let out = '';
    p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    p.once('exit', () =>
      resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{"up":0,"down":0}') as { up: number; down: number }),
    );
    p.kill('SIGTERM');
  });
}
