// npm run bench:prefetch — prefetch on an order across the shaped WAN link of bench:transfer (as root: two network
// namespaces, tc tbf at 100 Mbit/s each way, 20 ms round trip from the delay proxy). Midden's node holds a 500-instance
// CT prior; Noord's node, its registry and its PACS (storescp) are on the other side. The RIS sends an ORM^O01 with
// Debian's mllp_send; the clock runs from the order to the last instance in Noord's PACS. Then, for the ratio, the same
// study pushed from Midden to a fresh Noord node over the same link (bench:transfer's measure, to 'delivered').
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { makeCa, makeNodeCertificate } from '../src/cli/pki-command.ts';
import { writeNetworkKey } from '../src/cli/registry-command.ts';
import { readPart10, Tag } from '../src/dicom/index.ts';
import { writeCtStudy } from '../src/synth/index.ts';
import { peerEnv } from '../test/support/tools.ts';
import { exchangeSection, spawnNode, type NodeProcess } from './our-node.ts';
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
const RATE_MBIT = WAN.rateMbit;
const ONE_WAY_DELAY_MS = WAN.oneWayDelayMs;
const root = new URL('..', import.meta.url).pathname;
const noord = NOORD;
const midden = MIDDEN;
const REGISTRY_PORT = 8444;
const HL7_PORT = 2575;
const PACS_PORT = 11113;

const work = mkdtempSync(join(tmpdir(), 'beeldbrug-bench-prefetch-'));
let link: ShapedLink | undefined;
const children: ChildProcess[] = [];
const nodes: NodeProcess[] = [];
try {
  const study = await writeCtStudy({ outDir: join(work, 'study'), instances: INSTANCES, seed: 3 });
  const bsn =
    readPart10(readFileSync(study.files[0] ?? ''))
      .dataset.string(Tag.PatientID)
      ?.trim() ?? '';
  console.log(`prior: ${study.files.length} instances, ${(study.bytes / 1e6).toFixed(1)} MB, at ${midden.name}`);
  const l = createShapedLink({ prefix: 'bbp', rateMbit: RATE_MBIT });
  link = l;
  console.log(
    `link: ${l.sender} (${midden.name}, ${l.senderIp}) <-> ${l.receiver} (${noord.name}, ${l.receiverIp}), tbf ${RATE_MBIT} Mbit/s each way, ${2 * ONE_WAY_DELAY_MS} ms round trip`,
  );

  const pki = join(work, 'pki');
  makeCa(join(pki, 'ca'), 'Beeldbrug benchmark CA');
  const cert = (name: string, o: { name: string; ura: string }, hosts: string[]) =>
    makeNodeCertificate(join(pki, 'ca'), join(pki, name), {
      commonName: `${name}.bench`,
      organization: o.name,
      ura: o.ura,
      hosts,
    });
  const middenTls = cert('midden', midden, ['127.0.0.1', l.senderIp]);
  const noordTls = cert('noord', noord, ['127.0.0.1', l.receiverIp]);
  const registryTls = cert('registry', { name: 'Regio registry', ura: '10000099' }, [l.receiverIp]);
  const tlsOf = (t: typeof middenTls) => ({ certFile: t.certPath, keyFile: t.keyPath, caFile: t.caPath });
  const networkKeyFile = join(pki, 'network.key');
  writeNetworkKey(networkKeyFile);
  const registryUrl = `https://${l.receiverIp}:${REGISTRY_PORT}`;

  // The region's registry, on Noord's side of the link.
  const registryConfig = join(work, 'registry.yaml');
  writeFileSync(
    registryConfig,
    stringifyYaml({
      registry: { name: 'bench registry', organization: { name: 'Regio registry', ura: '10000099' } },
      dataDir: join(work, 'registry'),
      listen: { host: l.receiverIp, port: REGISTRY_PORT },
      tls: tlsOf(registryTls),
      clients: [noord, midden].map((o) => ({ ...o, type: 'hospital' })),
      log: { level: 'warn' },
    }),
  );
  await started(
    spawn(
      ...command(l.receiver, process.execPath, [
        '--disable-warning=ExperimentalWarning',
        join(root, 'src/main.ts'),
        'registry',
        'start',
        '--config',
        registryConfig,
      ]),
      { stdio: ['ignore', 'pipe', 'inherit'] },
    ),
    'READY registry',
  );

  // Midden: the source, holding the prior; it reaches Noord through the delay proxy.
  const middenNode = await spawnNode({
    aeTitle: 'MIDDEN',
    port: 11112,
    dir: join(work, 'midden'),
    peers: [{ aeTitle: 'BENCH_SCU', host: '127.0.0.1', description: 'loads the prior' }],
    wrap: l.exec(l.sender),
    edit: (raw) => {
      exchangeSection(raw, {
        organization: midden,
        listen: { host: l.senderIp, port: EXCHANGE_PORT },
        tls: middenTls,
        partners: [{ ...noord, baseUrl: `https://127.0.0.1:${PROXY_PORT}` }],
      });
      raw['registry'] = { baseUrl: registryUrl, networkKeyFile };
    },
  });
  nodes.push(middenNode);
  await runIn(l.sender, 'storescu', ['-aet', 'BENCH_SCU', '-aec', 'MIDDEN', '127.0.0.1', '11112', ...study.files]);
  const proxy = await startProxy(l, PROXY_PORT, EXCHANGE_PORT, ONE_WAY_DELAY_MS);
  children.push(proxy);

  // Noord: its node with the HL7 listener and a prefetch rule, and its PACS.
  const startNoord = (dir: string) =>
    spawnNode({
      aeTitle: 'NOORD',
      port: 11112,
      dir,
      peers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', port: PACS_PORT, description: 'Noord PACS (storescp)' }],
      wrap: l.exec(l.receiver),
      edit: (raw) => {
        exchangeSection(raw, {
          organization: noord,
          listen: { host: l.receiverIp, port: EXCHANGE_PORT },
          tls: noordTls,
          partners: [{ ...midden, baseUrl: `https://${l.senderIp}:${EXCHANGE_PORT}` }],
        });
        raw['registry'] = { baseUrl: registryUrl, networkKeyFile };
        raw['hl7'] = {
          listen: { host: '127.0.0.1', port: HL7_PORT },
          senders: [{ host: '127.0.0.1', description: 'the RIS' }],
          prefetch: {
            destination: 'PACS_NOORD',
            rules: [{ name: 'ct', modalities: ['CT'], maxPriors: 1, maxAgeYears: 100 }],
          },
        };
      },
    });
  const noordNode = await startNoord(join(work, 'noord'));
  nodes.push(noordNode);
  const pacsDir = join(work, 'pacs');
  mkdirSync(pacsDir);
  children.push(
    spawn(...command(l.receiver, 'storescp', ['--aetitle', 'PACS_NOORD', '-od', pacsDir, String(PACS_PORT)]), {
      env: peerEnv(),
      stdio: 'ignore',
    }),
  );
  await runIn(l.receiver, process.execPath, [
    '--disable-warning=ExperimentalWarning',
    join(root, 'bench/prefetch-driver.ts'),
    registryUrl,
    networkKeyFile,
    join(pki, 'midden'),
    join(pki, 'noord'),
    bsn,
    midden.ura,
    noord.ura,
  ]);

  const orderFile = join(work, 'order.hl7');
  writeFileSync(
    orderFile,
    [
      'MSH|^~\\&|RIS|NOORD|BEELDBRUG|NOORD|20261206101500||ORM^O01^ORM_O01|BENCH1|P|2.5',
      `PID|1||${bsn}^^^NLMINBIZA^NNNLD||Bench^Patient`,
      'ORC|NW|ORD-BENCH|||SC',
      'OBR|1|ORD-BENCH||CTTHX^CT thorax^LOCAL|||20261207090000|||||||||||||||||CT',
      '',
    ].join('\n'),
  );
  await run('sync');
  const allInPacs = filesReach(pacsDir, study.files.length);
  const startedAt = Date.now();
  const ack = await runIn(l.receiver, 'mllp_send', [
    '--loose',
    '--file',
    orderFile,
    '--port',
    String(HL7_PORT),
    '127.0.0.1',
  ]);
  if (!ack.includes('MSA|AA|')) throw new Error(`the order was not accepted: ${ack}`);
  const prefetchSeconds = ((await allInPacs) - startedAt) / 1000;
  console.log(
    `prefetch: ORM^O01 to the last of ${study.files.length} instances in the PACS: ${prefetchSeconds.toFixed(1)} s`,
  );
  await noordNode.stop();

  // bench:transfer's measure on the same link: the same study pushed to a fresh Noord node, until delivered.
  const freshNoord = await startNoord(join(work, 'noord-fresh'));
  nodes.push(freshNoord);
  const driver = await runIn(l.sender, process.execPath, [
    '--disable-warning=ExperimentalWarning',
    join(root, 'bench/transfer-driver.ts'),
    String(EXCHANGE_PORT),
    join(pki, 'midden'),
    study.studyInstanceUid,
    noord.ura,
    l.senderIp,
  ]);
  const pushed = JSON.parse(driver.trim().split('\n').at(-1) ?? '{}') as {
    startedAt: number;
    endedAt: number;
    transfer: { state: string; lastError: string | null };
  };
  if (pushed.transfer.state !== 'delivered')
    throw new Error(`the push ended ${pushed.transfer.state}: ${pushed.transfer.lastError}`);
  const pushSeconds = (pushed.endedAt - pushed.startedAt) / 1000;
  console.log(`push (bench:transfer's measure), Midden to a fresh Noord node: ${pushSeconds.toFixed(1)} s`);
  await stopProxy(proxy);
  console.log(
    `prefetch_s=${prefetchSeconds.toFixed(1)} transfer_s=${pushSeconds.toFixed(1)} prefetch_over_transfer=${(prefetchSeconds / pushSeconds).toFixed(2)}`,
  );
} finally {
  for (const n of nodes) await n.stop();
  for (const c of children) c.kill('SIGTERM');
  link?.teardown();
  // BENCH_KEEP=1 keeps the nodes' folders and logs to look into.
  if (process.env['BENCH_KEEP'] !== '1') rmSync(work, { recursive: true, force: true });
  else console.log(`kept: ${work}`);
}

/** Resolves once a child process prints `line`; rejects if it exits first. */
function started(p: ChildProcess, line: string): Promise<void> {
  children.push(p);
  return new Promise((resolve, reject) => {
    let out = '';
    p.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(line)) resolve();
    });
    p.once('exit', (code) => reject(new Error(`exited ${code} before "${line}"`)));
  });
}

/** When `count` files are in a folder: the PACS has every instance. */
function filesReach(dir: string, count: number): Promise<number> {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  return new Promise((resolve) => {
    const check = (): void => {
      if (readdirSync(dir).length >= count) {
        w.close();
        resolve(Date.now());
      }
    };
    const w = watch(dir, check);
  });
}

function run(cmd: string): Promise<void> {
  return new Promise((resolve) => spawn(cmd, [], { stdio: 'ignore' }).once('exit', () => resolve()));
}
