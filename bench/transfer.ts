// npm run bench:transfer — one CT study across a shaped WAN link on this machine (as root): two network namespaces
// joined by a veth pair, tc tbf at 100 Mbit/s each way, and 20 ms round trip from a delay proxy of our own (no netem on
// this kernel). (a) our sending node pushes the study to our receiving node through its outbox; (b) DCMTK storescu sends
// it to storescp on one association, both with TCP_NODELAY=1, as a well-tuned DIMSE link runs. Same data, same link.
// BENCH_INSTANCES (default 500, ~260 MB) sizes the study; 4000 makes the 2 GB study for the memory figure.
// Uncompressed images go JPEG-LS lossless packed (BENCH_WIRE_COMPRESSION=zstd: zstd, as before packing).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCa, makeNodeCertificate } from '../src/cli/pki-command.ts';
import { writeCtStudy } from '../src/synth/index.ts';
import { peerEnv } from '../test/support/tools.ts';
import { run } from '../test/support/processes.ts';
import { exchangeSection, spawnNode, type NodeProcess, verifyStored } from './our-node.ts';
import { cpuSeconds, peakRssMb } from './peers.ts';
import {
  command,
  createShapedLink,
  EXCHANGE_PORT,
  MIDDEN,
  NOORD,
  PROXY_PORT,
  runIn,
  type ShapedLink,
  startProxy,
  stopProxy,
  WAN,
} from './shaped-link.ts';

const INSTANCES = Number(process.env['BENCH_INSTANCES'] ?? 500);
// How the sender sends uncompressed images (the partner's exchange.partners[].wireCompression): jpeg-ls by default.
const WIRE_COMPRESSION = process.env['BENCH_WIRE_COMPRESSION'] === 'zstd' ? 'zstd' : 'jpeg-ls';
const RATE_MBIT = WAN.rateMbit;
const ONE_WAY_DELAY_MS = WAN.oneWayDelayMs;
const root = new URL('..', import.meta.url).pathname;
const noord = NOORD;
const midden = MIDDEN;

interface Leg {
  seconds: number;
  firstImageSeconds: number;
  wireBytes: number;
  peakRss: { sender: number; receiver: number };
  /** CPU seconds each side used during the transfer (our nodes only). */
  cpu?: { sender: number; receiver: number };
}

const work = mkdtempSync(join(tmpdir(), 'beeldbrug-bench-transfer-'));
let link: ShapedLink | undefined;
try {
  const study = await writeCtStudy({ outDir: join(work, 'study'), instances: INSTANCES, seed: 1 });
  console.log(`study: ${study.files.length} instances, ${(study.bytes / 1e6).toFixed(1)} MB`);
  link = createShapedLink({ prefix: 'bbx', rateMbit: RATE_MBIT });
  console.log(
    `link: ${link.sender} (${link.senderIp}) <-> ${link.receiver} (${link.receiverIp}), tbf ${RATE_MBIT} Mbit/s each way, ${2 * ONE_WAY_DELAY_MS} ms round trip`,
  );

  const ours = await nodeToNode(link, study.files, study.studyInstanceUid);
  report('beeldbrug node -> node', ours, study.bytes);
  const dimse = await storescuToStorescp(link, study.files);
  report('storescu -> storescp', dimse, study.bytes);

  const ideal = (ours.wireBytes * 8) / (RATE_MBIT * 1e6);
  console.log(
    `ideal for our wire bytes: ${ideal.toFixed(1)} s (${(ours.wireBytes / 1e6).toFixed(1)} MB on the wire, ${(study.bytes / ours.wireBytes).toFixed(2)}x smaller than the study)`,
  );
  const peak = Math.max(ours.peakRss.sender, ours.peakRss.receiver);
  console.log(
    `wan_ratio_vs_dimse=${(dimse.seconds / ours.seconds).toFixed(2)} link_efficiency=${(ideal / ours.seconds).toFixed(2)} first_image_s=${ours.firstImageSeconds.toFixed(2)} peak_rss_mb=${peak.toFixed(0)}`,
  );
} finally {
  link?.teardown();
  rmSync(work, { recursive: true, force: true });
}

function report(name: string, leg: Leg, studyBytes: number): void {
  console.log(
    `${name.padEnd(24)} ${leg.seconds.toFixed(1).padStart(6)} s  ${((studyBytes * 8) / leg.seconds / 1e6).toFixed(0).padStart(4)} Mbit/s of study data  ` +
      `first image ${leg.firstImageSeconds.toFixed(2)} s  wire ${(leg.wireBytes / 1e6).toFixed(1)} MB  peak RSS sender ${leg.peakRss.sender.toFixed(0)} MB, receiver ${leg.peakRss.receiver.toFixed(0)} MB` +
      (leg.cpu !== undefined
        ? `  CPU sender ${leg.cpu.sender.toFixed(1)} s, receiver ${leg.cpu.receiver.toFixed(1)} s`
        : ''),
  );
}

/** (a) Noord's node sends to Midden's node through the proxy; the clock runs from the API call to 'delivered'. */
async function nodeToNode(l: ShapedLink, files: readonly string[], studyUid: string): Promise<Leg> {
  const pki = join(work, 'pki');
  makeCa(join(pki, 'ca'), 'Beeldbrug benchmark CA');
  const senderTls = makeNodeCertificate(join(pki, 'ca'), join(pki, 'noord'), {
    commonName: 'noord.bench',
    organization: noord.name,
    ura: noord.ura,
    hosts: ['127.0.0.1'],
  });
  // The sender reaches the receiver through the proxy on its own loopback, so that address is in the certificate too.
  const receiverTls = makeNodeCertificate(join(pki, 'ca'), join(pki, 'midden'), {
    commonName: 'midden.bench',
    organization: midden.name,
    ura: midden.ura,
    hosts: ['127.0.0.1', l.receiverIp],
  });

  const receiver = await spawnNode({
    aeTitle: 'MIDDEN',
    port: 11112,
    dir: join(work, 'midden'),
    peers: [],
    wrap: l.exec(l.receiver),
    edit: (raw) =>
      exchangeSection(raw, {
        organization: midden,
        listen: { host: l.receiverIp, port: EXCHANGE_PORT },
        tls: receiverTls,
        partners: [{ ...noord }],
      }),
  });
  const sender = await spawnNode({
    aeTitle: 'NOORD',
    port: 11112,
    dir: join(work, 'noord'),
    peers: [{ aeTitle: 'BENCH_SCU', host: '127.0.0.1', description: 'loads the study' }],
    wrap: l.exec(l.sender),
    edit: (raw) =>
      exchangeSection(raw, {
        organization: noord,
        listen: { host: '127.0.0.1', port: EXCHANGE_PORT },
        tls: senderTls,
        partners: [{ ...midden, baseUrl: `https://127.0.0.1:${PROXY_PORT}`, wireCompression: WIRE_COMPRESSION }],
      }),
  });
  let proxy: ChildProcess | undefined;
  try {
    // The sending hospital's PACS puts the study in its node first (loopback, not timed).
    await runIn(l.sender, 'storescu', ['-aet', 'BENCH_SCU', '-aec', 'NOORD', '127.0.0.1', '11112', ...files]);
    proxy = await startProxy(l, PROXY_PORT, EXCHANGE_PORT, ONE_WAY_DELAY_MS);
    const firstStored = firstFileUnder(join(receiver.dir, 'data', 'blobs'));
    await run('sync', [], 120_000);
    const cpuOf = (n: NodeProcess): number => (n.child.pid !== undefined ? cpuSeconds(n.child.pid).all : 0);
    const cpuBefore = { sender: cpuOf(sender), receiver: cpuOf(receiver) };
    const driver = await runIn(l.sender, process.execPath, [
      '--disable-warning=ExperimentalWarning',
      join(root, 'bench/transfer-driver.ts'),
      String(EXCHANGE_PORT),
      join(pki, 'noord'),
      studyUid,
      midden.ura,
    ]);
    const result = JSON.parse(driver.trim().split('\n').at(-1) ?? '{}') as {
      startedAt: number;
      endedAt: number;
      transfer: { state: string; lastError: string | null; sent: number };
    };
    if (result.transfer.state !== 'delivered')
      throw new Error(`the transfer ended ${result.transfer.state}: ${result.transfer.lastError}`);
    const wire = await stopProxy(proxy);
    proxy = undefined;
    const leg: Leg = {
      seconds: (result.endedAt - result.startedAt) / 1000,
      firstImageSeconds: ((await firstStored) - result.startedAt) / 1000,
      wireBytes: wire.up,
      peakRss: { sender: peakOf(sender), receiver: peakOf(receiver) },
      cpu: { sender: cpuOf(sender) - cpuBefore.sender, receiver: cpuOf(receiver) - cpuBefore.receiver },
    };
    await receiver.stop();
    await verifyStored(receiver.dir, files.length);
    return leg;
  } finally {
    if (proxy !== undefined) await stopProxy(proxy);
    await sender.stop();
    await receiver.stop();
  }
}

/** (b) storescu in the sender's namespace, storescp in the receiver's, one association, through the same proxy. */
async function storescuToStorescp(l: ShapedLink, files: readonly string[]): Promise<Leg> {
  const out = join(work, 'storescp');
  mkdirSync(out);
  const storescp = spawn(
    ...command(l.receiver, 'storescp', ['--aetitle', 'STORESCP', '--max-pdu', '131072', '-od', out, '11112']),
    { env: peerEnv(), stdio: 'ignore' },
  );
  let proxy: ChildProcess | undefined;
  try {
    proxy = await startProxy(l, PROXY_PORT + 1, 11112, ONE_WAY_DELAY_MS);
    await waitForEcho(l);
    const firstStored = firstFileUnder(out);
    await run('sync', [], 120_000);
    const startedAt = Date.now();
    await runIn(l.sender, 'storescu', [
      '-aet',
      'BENCH_SCU',
      '-aec',
      'STORESCP',
      '127.0.0.1',
      String(PROXY_PORT + 1),
      ...files,
    ]);
    const seconds = (Date.now() - startedAt) / 1000;
    const wire = await stopProxy(proxy);
    proxy = undefined;
    const stored = readdirSync(out).length;
    if (stored !== files.length) throw new Error(`storescp stored ${stored} of ${files.length}`);
    return {
      seconds,
      firstImageSeconds: ((await firstStored) - startedAt) / 1000,
      wireBytes: wire.up,
      peakRss: { sender: 0, receiver: 0 },
    };
  } finally {
    if (proxy !== undefined) await stopProxy(proxy);
    storescp.kill('SIGTERM');
  }
}

async function waitForEcho(l: ShapedLink): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await runIn(l.sender, 'echoscu', ['-aec', 'STORESCP', '127.0.0.1', String(PROXY_PORT + 1)]);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('storescp did not answer C-ECHO through the link');
}

/** When the first file appears in a folder (or below it): the receiver has stored its first instance. */
function firstFileUnder(dir: string): Promise<number> {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  return new Promise((resolve) => {
    const w = watch(dir, { recursive: true }, () => {
      w.close();
      resolve(Date.now());
    });
  });
}

function peakOf(n: NodeProcess): number {
  return n.child.pid !== undefined ? peakRssMb(n.child.pid) : 0;
}
