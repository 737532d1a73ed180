// Ceph's RADOS gateway (Debian's) for the tests that claim S3 object storage: one monitor, one OSD that keeps its
// objects in memory, and the gateway, in a temporary folder on free ports, ready in about a second (start-rgw.sh).
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { ObjectStorageSettings } from '../../src/store/index.ts';
import { tempDir } from './tmp.ts';
import { requireTool } from './tools.ts';

export interface TestObjectStorage {
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
  /** The keys in files, as a node's configuration names them (secrets never in the configuration). */
  accessKeyFile: string;
  secretKeyFile: string;
  /** Makes a bucket and answers the settings a node's configuration gives for it. */
  bucket(name: string): Promise<ObjectStorageSettings>;
  /** A client of the gateway, to look at what the node put there. */
  client: S3Client;
}

export interface ObjectStorageServer extends TestObjectStorage {
  /** The monitor's, the OSD's and the gateway's process ids. */
  pids: readonly number[];
  /** Kills the daemons (SIGKILL: the memory store would otherwise write everything it holds to disk on the way out). */
  stop(): void;
}

/** Starts a monitor, a memory-store OSD and the gateway in `dir` (start-rgw.sh), for a test or a benchmark. */
export async function startObjectStorageServer(
  dir: string,
  o: { memoryBytes?: number } = {},
): Promise<ObjectStorageServer> {
  const ceph = join(dir, 'ceph');
  const run = join(ceph, 'run');
  const script = new URL('./start-rgw.sh', import.meta.url).pathname;
  const daemons = (): number[] =>
    safeList(run)
      .filter((n) => n.endsWith('.bgpid'))
      .map((f) => Number(readFileSync(join(run, f), 'utf8')));
  let pids: number[] = [];
  const stop = (): void => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  };
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(script, [ceph], {
      env: { ...process.env, RGW_MEMSTORE_BYTES: String(o.memoryBytes ?? 2 ** 30) },
    }));
  } catch (err) {
    pids = daemons();
    stop();
    throw err;
  }
  pids = daemons();
  const s = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
    endpoint: string;
    region: string;
    accessKey: string;
    secretKey: string;
  };
  const accessKeyFile = join(dir, 's3-access-key');
  const secretKeyFile = join(dir, 's3-secret-key');
  writeFileSync(accessKeyFile, `${s.accessKey}\n`, { mode: 0o600 });
  writeFileSync(secretKeyFile, `${s.secretKey}\n`, { mode: 0o600 });
  const client = new S3Client({
    endpoint: s.endpoint,
    region: s.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKey, secretAccessKey: s.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    ...s,
    accessKeyFile,
    secretKeyFile,
    client,
    async bucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return { endpoint: s.endpoint, region: s.region, bucket: name, accessKeyFile, secretKeyFile };
    },
    pids,
    stop: () => {
      client.destroy();
      stop();
    },
  };
}

/** Starts a gateway for this test (killed when it ends), or skips (a developer machine without Ceph) / fails (CI). */
export async function startObjectStorage(t: TestContext): Promise<TestObjectStorage | undefined> {
  for (const tool of ['ceph-mon', 'ceph-osd', 'radosgw', 'curl'])
    if (requireTool(t, tool) === undefined) return undefined;
  // Stopped by the test's own after-hook, registered only once it started: the temporary folder that lists the
  // daemons' pids is removed before later hooks run, and a daemon left running takes CPU from every test after it.
  const server = await startObjectStorageServer(tempDir(t, 'beeldbrug-rgw-'));
  t.after(() => server.stop());
  return server;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
