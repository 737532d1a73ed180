// A WAN link between two hospitals on one machine: two network namespaces joined by a veth pair, each end rate-limited
// with tc tbf. The kernel here has no netem, so the round-trip time is added by the benchmark's delay proxy instead.
import { execFileSync } from 'node:child_process';

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
