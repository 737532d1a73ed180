// npm run bench:ingest -- --scale-out — the same ingest as bench:ingest, with both sides as a hospital group runs them
// at scale: our node with its records on PostgreSQL and its files in S3 object storage (Ceph's RADOS gateway,
// written through the data folder and uploaded after the acknowledgement), against Orthanc with its index on the same
// PostgreSQL server (Debian's orthanc-postgresql plugin) and its files on disk. One PostgreSQL server for both, tuned
// as its documentation advises, durable commits; both acknowledge an instance only once it is on disk (Orthanc's
// SyncStorageArea). Each side gets a database of its own per run. Our node also runs without object storage (files in
// its data folder only), printed as its own figure: on one machine the gateway and its OSD share the cores with the
// node. Last line: `ingest_ratio_vs_orthanc_pg=X`.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { writeCtStudy } from '../src/synth/index.ts';
import { freePort } from '../test/support/net.ts';
import { queryAsOwner, startPostgresServer } from '../test/support/postgres.ts';
import { startObjectStorageServer } from '../test/support/rgw.ts';
import { spawnNode } from './our-node.ts';
import { benchFolder, type BenchStudies, type CompetitorRun, ingestIntoOrthanc, timeStudies } from './peers.ts';
import { median } from './stats.ts';

const INSTANCES = Number(process.env['BENCH_INSTANCES'] ?? 500);
const WARM_UP_INSTANCES = Number(process.env['BENCH_WARM_UP_INSTANCES'] ?? 100);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const SCU = 'BENCH_SCU';

/** PostgreSQL as its documentation advises for a dedicated server of this size; fsync and synchronous commit on. */
const POSTGRES_SETTINGS = {
  shared_buffers: '1GB',
  effective_cache_size: '4GB',
  random_page_cost: 1.1,
  max_wal_size: '4GB',
  max_connections: 200,
};

export async function benchScaleOut(): Promise<void> {
  const work = benchFolder('beeldbrug-bench-scale-out-');
  // As root the PostgreSQL cluster belongs to Debian's postgres user, which must be able to pass through to it.
  if (process.getuid?.() === 0) chmodSync(work, 0o711);
  const postgres = await startPostgresServer(join(work, 'postgres'), { settings: POSTGRES_SETTINGS });
  let rgw: Awaited<ReturnType<typeof startObjectStorageServer>> | undefined;
  try {
    rgw = await startObjectStorageServer(join(work, 'rgw'), { memoryBytes: 4 * 2 ** 30 });
    const study = await writeCtStudy({ outDir: join(work, 'study'), instances: INSTANCES, seed: 1 });
    const warmUp = await writeCtStudy({ outDir: join(work, 'warm-up'), instances: WARM_UP_INSTANCES, seed: 2 });
    const studies: BenchStudies = { warmUp: warmUp.files, timed: study.files };
    const sent = warmUp.files.length + study.files.length;
    console.log(
      `study: ${study.files.length} instances, ${(study.bytes / 1e6).toFixed(1)} MB (warm-up study: ${warmUp.files.length}); ` +
        `PostgreSQL ${postgres.base.host}:${postgres.base.port} (shared_buffers ${POSTGRES_SETTINGS.shared_buffers}, fsync on), RADOS gateway ${rgw.endpoint} (memory-store OSD)`,
    );
    const password = readFileSync(postgres.base.passwordFile ?? '', 'utf8').trim();
    const ours: CompetitorRun[] = [];
    const oursWithoutObjects: CompetitorRun[] = [];
    const orthanc: CompetitorRun[] = [];
    /** Our node on its own database (and bucket); resolves to the run and the files in the bucket when it stopped. */
    const runOurs = async (
      name: string,
      withObjects: boolean,
    ): Promise<{ result: CompetitorRun; uploaded: number }> => {
      const database = await postgres.database(`beeldbrug_${name}`);
      const objects = withObjects ? await rgw?.bucket(`studies-${name}`) : undefined;
      const port = await freePort();
      const node = await spawnNode({
        aeTitle: 'BEELDBRUG',
        port,
        dir: mkdtempSync(join(work, `node-${name}-`)),
        peers: [{ aeTitle: SCU, host: '127.0.0.1', description: 'benchmark storescu' }],
        edit: (raw) => {
          raw['database'] = { kind: 'postgresql', ...database };
          if (objects !== undefined) (raw['store'] as Record<string, unknown>)['objects'] = objects;
        },
      });
      let result: CompetitorRun;
      try {
        result = await timeStudies(studies, { host: '127.0.0.1', port, calledAe: 'BEELDBRUG', callingAe: SCU });
      } finally {
        await node.stop();
      }
      const indexed = Number(
        (await queryAsOwner<{ n: string }>(database, 'SELECT count(*) AS n FROM instances'))[0]?.n ?? 0,
      );
      if (indexed !== sent) throw new Error(`our node indexed ${indexed} of ${sent} instances on PostgreSQL`);
      const listed =
        objects !== undefined
          ? await rgw?.client.send(new ListObjectsV2Command({ Bucket: objects.bucket }))
          : undefined;
      return { result, uploaded: listed?.KeyCount ?? 0 };
    };
    for (let run = 1; run <= RUNS; run++) {
      const { result, uploaded } = await runOurs(String(run), true);
      ours.push(result);
      oursWithoutObjects.push((await runOurs(`${run}_files_local`, false)).result);

      const orthancDb = await postgres.database(`orthanc_${run}`);
      orthanc.push(
        await ingestIntoOrthanc(studies, {
          durable: true,
          parent: work,
          postgresIndex: {
            host: orthancDb.host,
            port: orthancDb.port,
            database: orthancDb.name,
            user: orthancDb.user,
            password,
          },
        }),
      );
      console.log(
        `run ${run}: ours ${rate(result)}/s (${uploaded} of ${sent} files uploaded to the bucket when the node stopped; the rest go at its next start), ours with the files in the data folder only ${rate(oursWithoutObjects.at(-1))}/s, orthanc-postgresql ${rate(orthanc.at(-1))}/s`,
      );
    }
    const steady = (c: CompetitorRun[]): number => median(c.map((r) => r.steady.instances / r.steady.seconds));
    const afterStart = (c: CompetitorRun[]): number =>
      median(c.map((r) => r.afterStart.instances / r.afterStart.seconds));
    for (const [name, c] of [
      ['beeldbrug (PostgreSQL + S3)', ours],
      ['beeldbrug (PostgreSQL only)', oursWithoutObjects],
      ['orthanc (PostgreSQL index)', orthanc],
    ] as const)
      console.log(
        `${name.padEnd(28)} ${steady(c).toFixed(0).padStart(5)} instances/s  (median of ${c.length}; right after start ${afterStart(c).toFixed(0)}/s)`,
      );
    console.log(
      `(the uploads to the gateway, and the gateway and its OSD themselves, run on the same cores as the node while it receives: ratio_without_object_storage=${(steady(oursWithoutObjects) / steady(orthanc)).toFixed(2)})`,
    );
    console.log(`ingest_ratio_vs_orthanc_pg=${(steady(ours) / steady(orthanc)).toFixed(2)}`);
  } finally {
    rgw?.stop();
    await postgres.stop({ immediate: true });
    rmSync(work, { recursive: true, force: true });
  }
}

function rate(r: CompetitorRun | undefined): string {
  return r === undefined ? '-' : (r.steady.instances / r.steady.seconds).toFixed(0);
}
