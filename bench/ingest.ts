// npm run bench:ingest — C-STORE ingest of one 500-instance CT study sent by DCMTK storescu on one association into
// (a) our node, (b) DCMTK storescp writing to disk, (c) Orthanc; same machine, same data, median of 3 runs.
// Every DCMTK and Orthanc process gets TCP_NODELAY=1 (Debian's builds leave Nagle on otherwise). Our node acks an
// instance only once it is fsync'd, encrypted and indexed. storescp never fsyncs. Orthanc fsyncs each file by default
// (SyncStorageArea, since 1.7.4): the headline ratio is against that, the same guarantee; Orthanc with it switched off
// is measured too and printed as its own figure. Each competitor is started fresh per run and first gets a 100-instance
// warm-up study (another patient), then the timed study: the ratios compare the steady state a running PACS is in when
// a study arrives; the warm-up study's rates, right after start, are printed too.
// Then two more studies of the same size (other patients), sent over 4 and 8 associations at once (storescu runs side by
// side, each a part of the study), as modalities and PACS send: the rates at each level, and how many cores our node
// used at 8 (its CPU time over the wall time). Orthanc gets a DICOM thread per core (at least its default of 4).
// `-- --scale-out`: the same study into our node on PostgreSQL + S3 and Orthanc on PostgreSQL (ingest-scale-out.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeCtStudy } from '../src/synth/index.ts';
import { freePort } from '../test/support/net.ts';
import {
  benchFolder,
  type BenchStudies,
  cpuSeconds,
  type CompetitorRun,
  ingestIntoOrthanc,
  ingestIntoStorescp,
  type IngestRun,
  peakRssMb,
  sentOf,
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
const LEVELS = [4, 8] as const;

// Each competitor's folder in a block group of its own (see benchFolder).
const work = benchFolder('beeldbrug-bench-ingest-');
try {
  const started = Date.now();
  const study = await writeCtStudy({ outDir: join(work, 'study'), instances: INSTANCES, seed: 1 });
  const warmUp = await writeCtStudy({ outDir: join(work, 'warm-up'), instances: WARM_UP_INSTANCES, seed: 2 });
  console.log(
    `study: ${study.files.length} instances, ${(study.bytes / 1e6).toFixed(1)} MB (warm-up study: ${warmUp.files.length}), generated in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  const concurrent = await Promise.all(
    LEVELS.map(async (associations, i) => ({
      associations,
      files: (await writeCtStudy({ outDir: join(work, `at-${associations}`), instances: INSTANCES, seed: 3 + i }))
        .files,
    })),
  );
  const studies: BenchStudies = { warmUp: warmUp.files, timed: study.files, concurrent };
  const sent = sentOf(studies);

  const ours: CompetitorRun[] = [];
  const storescp: CompetitorRun[] = [];
  const orthanc: CompetitorRun[] = [];
  const orthancNoSync: CompetitorRun[] = [];
  let peakRss = 0;
  const coresUsed: number[] = [];
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
    const pid = node.child.pid ?? 0;
    let cpuAtBegin = 0;
    let cpuAt8 = 0;
    try {
      result = await timeStudies(
        studies,
        { host: '127.0.0.1', port, calledAe: 'BEELDBRUG', callingAe: SCU },
        (associations, moment) => {
          if (associations !== 8) return;
          if (moment === 'begins') cpuAtBegin = cpuSeconds(pid).all;
          else cpuAt8 = cpuSeconds(pid).all - cpuAtBegin;
        },
      );
      peakRss = Math.max(peakRss, peakRssMb(pid));
    } finally {
      await node.stop();
    }
    const at8 = result.concurrent[LEVELS.indexOf(8)];
    if (at8 !== undefined) coresUsed.push(cpuAt8 / at8.seconds);
    await verifyStored(nodeDir, sent);
    // Each competitor's files are deleted right after its run, so every run follows one deletion of a study's worth.
    rmSync(nodeDir, { recursive: true, force: true });
    ours.push(result);
    storescp.push(await ingestIntoStorescp(studies, { pdu: 131072, parent: work }));
    orthanc.push(await ingestIntoOrthanc(studies, { durable: true, parent: work }));
    orthancNoSync.push(await ingestIntoOrthanc(studies, { durable: false, parent: work }));
    console.log(
      `run ${run}: ours ${rate(result)}/s (after start ${rateOf(result.afterStart)}/s), storescp ${rate(storescp.at(-1))}/s, orthanc ${rate(orthanc.at(-1))}/s, orthanc without fsync ${rate(orthancNoSync.at(-1))}/s`,
    );
    for (const [i, associations] of LEVELS.entries())
      console.log(
        `run ${run}, ${associations} associations at once: ours ${levelRate(result, i)}/s, storescp ${levelRate(storescp.at(-1), i)}/s, orthanc ${levelRate(orthanc.at(-1), i)}/s, orthanc without fsync ${levelRate(orthancNoSync.at(-1), i)}/s`,
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
  const afterStartRatio = afterStart(ours) / afterStart(orthanc);
  console.log(
    `(right after start, on the ${warmUp.files.length}-instance warm-up study: ratio_vs_orthanc_after_start=${afterStartRatio.toFixed(2)})`,
  );
  const atLevel = LEVELS.map((associations, i) => {
    const ips = (competitor: CompetitorRun[]): number =>
      median(competitor.map((c) => c.concurrent[i]!).map((r) => r.instances / r.seconds));
    const [ourRate, storescpRate, orthancRate] = [ips(ours), ips(storescp), ips(orthanc)];
    console.log(
      `${associations} associations at once: beeldbrug ${ourRate.toFixed(0)}/s, storescp ${storescpRate.toFixed(0)}/s, orthanc ${orthancRate.toFixed(0)}/s, orthanc-nosync ${ips(orthancNoSync).toFixed(0)}/s (medians): ratio_vs_orthanc_${associations}=${(ourRate / orthancRate).toFixed(2)} ratio_vs_storescp_${associations}=${(ourRate / storescpRate).toFixed(2)}`,
    );
    return ourRate / orthancRate;
  });
  console.log(
    `(ingest_ratio_vs_storescp=${(o / s).toFixed(2)}; our node used ${median(coresUsed).toFixed(2)} cores at 8 associations, median of ${coresUsed.length})`,
  );
  console.log(
    `ingest_ratio_vs_orthanc=${(o / x).toFixed(2)} ingest_ratio_vs_orthanc_4=${atLevel[0]!.toFixed(2)} ingest_ratio_vs_orthanc_8=${atLevel[1]!.toFixed(2)} after_start_ratio=${afterStartRatio.toFixed(2)} cores_used=${median(coresUsed).toFixed(2)} peak_rss_mb=${peakRss.toFixed(0)}`,
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

function levelRate(r: CompetitorRun | undefined, i: number): string {
  const level = r?.concurrent[i];
  return level === undefined ? '-' : rateOf(level);
}

function rateOf(r: IngestRun): string {
  return (r.instances / r.seconds).toFixed(0);
}
