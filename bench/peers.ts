// The competitors of the ingest benchmark and how we time them: DCMTK storescu sends, on one association, into
// DCMTK storescp or Orthanc, each tuned as its own documentation advises and with TCP_NODELAY=1.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '../test/support/net.ts';
import type { OrthancOptions } from '../src/cli/orthanc-pacs.ts';
import { startOrthanc } from '../test/support/orthanc-pacs.ts';
import { peerEnv } from '../test/support/tools.ts';
import { run } from '../test/support/processes.ts';

export interface IngestRun {
  seconds: number;
  instances: number;
  bytes: number;
}

/**
 * One competitor, started fresh: first a warm-up study, then the timed one. A hospital's PACS or node has been running
 * for days when a study arrives, so the timed study measures that steady state; the warm-up study shows what each does
 * right after it starts (for our node: before V8 has optimized the per-instance code).
 */
export interface CompetitorRun {
  afterStart: IngestRun;
  steady: IngestRun;
  /** The studies sent over several associations at once, in the order of BenchStudies.concurrent. */
  concurrent: IngestRun[];
}

/** What a competitor gets: the same warm-up and timed studies for every one. */
export interface BenchStudies {
  warmUp: readonly string[];
  timed: readonly string[];
  /**
   * Then more studies (other patients, so nothing sent is held already), each sent over this many associations at
   * once, as a CT and a PACS do over several: the study's files split into that many runs of storescu.
   */
  concurrent?: readonly { associations: number; files: readonly string[] }[];
}

/**
 * Sends the warm-up study, then the timed one, each on its own association, then the concurrent ones. `around`: called
 * as each concurrent study begins and ends (e.g. to take the CPU time the node used meanwhile).
 */
export async function timeStudies(
  studies: BenchStudies,
  peer: Peer,
  around?: (associations: number, moment: 'begins' | 'ends') => void,
): Promise<CompetitorRun> {
  const afterStart = await timeStorescu(studies.warmUp, peer);
  const steady = await timeStorescu(studies.timed, peer);
  const concurrent: IngestRun[] = [];
  for (const c of studies.concurrent ?? []) concurrent.push(await timeStorescu(c.files, peer, c.associations, around));
  return { afterStart, steady, concurrent };
}

export interface Peer {
  host: string;
  port: number;
  calledAe: string;
  callingAe: string;
}

/**
 * A folder for the competitors' data, whose subfolders ext4 spreads over block groups as it does top-level folders
 * (chattr +T, the Orlov allocator's hint). On an ext4 without a journal, such as these machines' root file system,
 * creating a file scans past every inode of its group freed in the last minutes: in a group where earlier runs and
 * tests deleted thousands of files, each create measured ~250 µs against ~18 µs in a fresh one. That cost falls on
 * every competitor alike, a file per instance, but it measures the file system's history, not the software.
 */
export function benchFolder(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const r = spawnSync('chattr', ['+T', dir], { encoding: 'utf8' });
  if (r.status !== 0)
    console.log(
      `note: chattr +T ${dir} failed (${(r.stderr ?? r.error?.message ?? '').trim()}); folders share block groups`,
    );
  return dir;
}

/**
 * storescu with the files on `associations` associations at once (each a consecutive part of them); the clock covers
 * every association, all C-STOREs and every release.
 */
async function timeStorescu(
  files: readonly string[],
  peer: Peer,
  associations = 1,
  around?: (associations: number, moment: 'begins' | 'ends') => void,
): Promise<IngestRun> {
  const bytes = files.reduce((sum, f) => sum + statSync(f).size, 0);
  const per = Math.ceil(files.length / associations);
  const parts = Array.from({ length: associations }, (_, i) => files.slice(i * per, (i + 1) * per)).filter(
    (p) => p.length > 0,
  );
  // Write back what the previous competitor (or the study generator) left dirty, so nobody pays for another's writes.
  await run('sync', [], 120_000);
  around?.(associations, 'begins');
  const started = process.hrtime.bigint();
  const results = await Promise.all(
    parts.map((part) =>
      run('storescu', ['-aet', peer.callingAe, '-aec', peer.calledAe, peer.host, String(peer.port), ...part], 600_000),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  around?.(associations, 'ends');
  for (const r of results)
    if (r.code !== 0) throw new Error(`storescu failed (${r.code}):\n${(r.stdout + r.stderr).slice(-2000)}`);
  return { seconds, instances: files.length, bytes };
}

/** How many instances a competitor gets in all. */
export function sentOf(studies: BenchStudies): number {
  return (
    studies.warmUp.length + studies.timed.length + (studies.concurrent ?? []).reduce((n, c) => n + c.files.length, 0)
  );
}

/** DCMTK storescp writing each instance to a folder on the same disk, with its largest receive PDU. */
export async function ingestIntoStorescp(
  studies: BenchStudies,
  o: { pdu: number; parent: string },
): Promise<CompetitorRun> {
  const dir = mkdtempSync(join(o.parent, 'storescp-'));
  const port = await freePort();
  const child = spawn('storescp', ['--aetitle', 'STORESCP', '--max-pdu', String(o.pdu), '-od', dir, String(port)], {
    env: peerEnv(),
    stdio: 'ignore',
  });
  try {
    await waitFor(
      'storescp',
      async () => (await run('echoscu', ['-aec', 'STORESCP', '127.0.0.1', String(port)], 5000)).code === 0,
    );
    const result = await timeStudies(studies, {
      host: '127.0.0.1',
      port,
      calledAe: 'STORESCP',
      callingAe: 'BENCH_SCU',
    });
    const stored = readdirSync(dir).length;
    const sent = sentOf(studies);
    if (stored !== sent) throw new Error(`storescp stored ${stored} of ${sent}`);
    return result;
  } finally {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A fresh Orthanc per run, tuned for ingest as its documentation advises; counts what it stored afterwards.
 * `durable` keeps Orthanc's own default of an fsync per stored file (the guarantee our node gives); without it Orthanc
 * acknowledges what is only in the page cache.
 */
export async function ingestIntoOrthanc(
  studies: BenchStudies,
  o: { durable: boolean; parent: string; postgresIndex?: OrthancOptions['postgresIndex'] },
): Promise<CompetitorRun> {
  const dir = mkdtempSync(join(o.parent, 'orthanc-'));
  // storescu only calls Orthanc, so the modality's own port is never used; Orthanc's config requires one.
  const pacs = await startOrthanc({
    dir,
    tunedForIngest: true,
    syncStorageArea: o.durable,
    ...(o.postgresIndex !== undefined ? { postgresIndex: o.postgresIndex } : {}),
    modalities: { bench: { aeTitle: 'BENCH_SCU', host: '127.0.0.1', port: 1 } },
  });
  try {
    const result = await timeStudies(studies, {
      host: '127.0.0.1',
      port: pacs.dicomPort,
      calledAe: pacs.aeTitle,
      callingAe: 'BENCH_SCU',
    });
    const stats = await pacs.rest<{ CountInstances: number }>('GET', '/statistics');
    const sent = sentOf(studies);
    if (stats.CountInstances !== sent) throw new Error(`Orthanc stored ${stats.CountInstances} of ${sent}`);
    return result;
  } finally {
    await pacs.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Peak resident memory of a live process (VmHWM), in MB. */
export function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] !== undefined ? Number(m[1]) / 1024 : 0;
}

/**
 * CPU seconds a live process has used so far (user + system, /proc/PID/stat), in all and on its main thread alone.
 * Clock ticks are 100 a second on Linux for these fields (USER_HZ).
 */
export function cpuSeconds(pid: number): { all: number; main: number } {
  const ticks = (stat: string): number => {
    // The command name may hold spaces and parentheses: the fields start after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  };
  return {
    all: ticks(readFileSync(`/proc/${pid}/stat`, 'utf8')) / 100,
    main: ticks(readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8')) / 100,
  };
}

/**
 * CPU seconds used so far by this process's children that have ended and been waited for (cutime + cstime of
 * /proc/self/stat): the clients a benchmark ran, such as curl, once each has exited.
 */
export function endedChildrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** CPU seconds the whole machine has been busy so far, over all cores (/proc/stat: all but idle and iowait). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - (ticks[3] ?? 0) - (ticks[4] ?? 0)) / 100;
}
