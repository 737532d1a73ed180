// npm run bench:ingest — C-STORE ingest of one 500-instance CT study sent by DCMTK storescu on one association into
// (a) our node, (b) DCMTK storescp writing to disk, (c) Orthanc; same machine, same data, median of 3 runs.
// Every DCMTK and Orthanc process gets TCP_NODELAY=1 (Debian's builds leave Nagle on otherwise). Our node acks an
// instance only once it is fsync'd, encrypted and indexed. storescp never fsyncs. Orthanc fsyncs each file by default
// (SyncStorageArea, since 1.7.4): the headline ratio is against that, the same guarantee; Orthanc with it switched off
// is measured too and printed as its own figure. Each competitor is started fresh per run and first gets a 100-instance
// warm-up study (another patient), then the timed study: the ratios compare the steady state a running PACS is in when
// a study arrives; the warm-up study's rates, right after start, are printed too.
// `-- --scale-out`: the same study into our node on PostgreSQL + S3 and Orthanc on PostgreSQL (ingest-scale-out.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeCtStudy } from '../src/synth/index.ts';
import { freePort } from '../test/support/net.ts';
import {
  benchFolder,
  type BenchStudies,
  type CompetitorRun,
  ingestIntoOrthanc,
  ingestIntoStorescp,
  type IngestRun,
  peakRssMb,
  timeStudies,
} from './peers.ts';
import { median } from './stats.ts';
import { benchScaleOut } from './ingest-scale-out.ts';
import { spawnNode, verifyStored } from './our-node.ts';

const { values: flags } = parseArgs({ options: { 'scale-out': { type: 'boolean', default: false } } });
if (flags['scale-out']) {
  await benchScaleOut();
  process.exit(0);
}

const INSTANCES = Number(process.env['BENCH_INSTANCES'] ?? 500);
const WARM_UP_INSTANCES = Number(process.env['BENCH_WARM_UP_INSTANCES'] ?? 100);
if (!Number.isInteger(WARM_UP_INSTANCES) || WARM_UP_INSTANCES < 1)
  throw new Error('BENCH_WARM_UP_INSTANCES must be a whole number of at least 1');
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const SCU = 'BENCH_SCU';

// Each competitor's folder in a block group of its own (see benchFolder).
const work = benchFolder('beeldbrug-bench-ingest-');
try {
  const started = Date.now();
  const study = await writeCtStudy({ outDir: join(work, 'study'), instances: INSTANCES, seed: 1 });
  const warmUp = await writeCtStudy({ outDir: join(work, 'warm-up'), instances: WARM_UP_INSTANCES, seed: 2 });
  console.log(
    `study: ${study.files.length} instances, ${(study.bytes / 1e6).toFixed(1)} MB (warm-up study: ${warmUp.files.length}), generated in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  const studies: BenchStudies = { warmUp: warmUp.files, timed: study.files };

  const ours: CompetitorRun[] = [];
  const storescp: CompetitorRun[] = [];
  const orthanc: CompetitorRun[] = [];
  const orthancNoSync: CompetitorRun[] = [];
  let peakRss = 0;
  for (let run = 1; run <= RUNS; run++) {
    const port = await freePort();
    const nodeDir = mkdtempSync(join(work, `node-${run}-`));
    const node = await spawnNode({
      aeTitle: 'BEELDBRUG',
      port,
      dir: nodeDir,
      peers: [{ aeTitle: SCU, host: '127.0.0.1', description: 'benchmark storescu' }],
    });
    let result: CompetitorRun;
    try {
      result = await timeStudies(studies, { host: '127.0.0.1', port, calledAe: 'BEELDBRUG', callingAe: SCU });
      peakRss = Math.max(peakRss, node.child.pid !== undefined ? peakRssMb(node.child.pid) : 0);
    } finally {
      await node.stop();
    }
    await verifyStored(nodeDir, warmUp.files.length + study.files.length);
    // Each competitor's files are deleted right after its run, so every run follows one deletion of a study's worth.
    rmSync(nodeDir, { recursive: true, force: true });
    ours.push(result);
    storescp.push(await ingestIntoStorescp(studies, { pdu: 131072, parent: work }));
    orthanc.push(await ingestIntoOrthanc(studies, { durable: true, parent: work }));
    orthancNoSync.push(await ingestIntoOrthanc(studies, { durable: false, parent: work }));
    console.log(
      `run ${run}: ours ${rate(result)}/s (after start ${rateOf(result.afterStart)}/s), storescp ${rate(storescp.at(-1))}/s, orthanc ${rate(orthanc.at(-1))}/s, orthanc without fsync ${rate(orthancNoSync.at(-1))}/s`,
    );
  }

  const report = (name: string, competitor: CompetitorRun[]): number => {
    const runs = competitor.map((c) => c.steady);
    const ips = median(runs.map((r) => r.instances / r.seconds));
    const mbps = median(runs.map((r) => r.bytes / 1e6 / r.seconds));
    console.log(
      `${name.padEnd(15)} ${ips.toFixed(0).padStart(5)} instances/s  ${mbps.toFixed(1).padStart(6)} MB/s  (median of ${runs.length}; right after start ${afterStart(competitor).toFixed(0)}/s)`,
    );
    return ips;
  };
  const o = report('beeldbrug', ours);
  const s = report('storescp', storescp);
  const x = report('orthanc', orthanc);
  const xn = report('orthanc-nosync', orthancNoSync);
  console.log(
    `(beeldbrug and orthanc fsync every instance before acknowledging it; storescp and orthanc-nosync do not: ratio_vs_orthanc_nosync=${(o / xn).toFixed(2)})`,
  );
  console.log(
    `(right after start, on the ${warmUp.files.length}-instance warm-up study: ratio_vs_orthanc_after_start=${(afterStart(ours) / afterStart(orthanc)).toFixed(2)})`,
  );
  console.log(
    `ingest_ratio_vs_orthanc=${(o / x).toFixed(2)} ingest_ratio_vs_storescp=${(o / s).toFixed(2)} peak_rss_mb=${peakRss.toFixed(0)}`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}

function afterStart(competitor: CompetitorRun[]): number {
  return median(competitor.map((c) => c.afterStart.instances / c.afterStart.seconds));
}

function rate(r: CompetitorRun | undefined): string {
  return r === undefined ? '-' : rateOf(r.steady);
}

function rateOf(r: IngestRun): string {
  return (r.instances / r.seconds).toFixed(0);
}
