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

/** Starts a gateway for this test (killed when it ends), or skips (a developer machine without Ceph) / fails (CI). */
export async function startObjectStorage(t: TestContext): Promise<TestObjectStorage | undefined> {
  for (const tool of ['ceph-mon', 'ceph-osd', 'radosgw', 'curl'])
    if (requireTool(t, tool) === undefined) return undefined;
  const dir = tempDir(t, 'beeldbrug-rgw-');
  const run = join(dir, 'run');
  const script = new URL('./start-rgw.sh', import.meta.url).pathname;
  // The daemons' pids are read at once: the temporary folder that lists them is removed before this test's later
  // after-hooks run, and a daemon left running would take CPU from every test after it.
  const daemons = (): number[] =>
    safeList(run)
      .filter((n) => n.endsWith('.bgpid'))
      .map((f) => Number(readFileSync(join(run, f), 'utf8')));
  let pids: number[] = [];
  t.after(() => {
    // SIGKILL: the memory store would otherwise write everything it holds to disk on the way out.
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  });
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(script, [dir], {
      env: { ...process.env, RGW_MEMSTORE_BYTES: String(2 ** 30) },
    }));
  } finally {
    pids = daemons();
  }
  const s = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
    endpoint: string;
    region: string;
    accessKey: string;
    secretKey: string;
  };
  const keys = tempDir(t);
  const accessKeyFile = join(keys, 's3-access-key');
  const secretKeyFile = join(keys, 's3-secret-key');
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
  t.after(() => client.destroy());
  return {
    ...s,
    accessKeyFile,
    secretKeyFile,
    client,
    async bucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return { endpoint: s.endpoint, region: s.region, bucket: name, accessKeyFile, secretKeyFile };
    },
  };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
