// An Orthanc server as a hospital's PACS, for the demo (and, through test/support, the tests and benchmarks): its own
// config file (Debian's plugin folder is not loaded), loopback ports, HTTP authentication, and only configured
// modalities may talk to it, the way a PACS should be set up.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface OrthancModality {
  aeTitle: string;
  host: string;
  port: number;
}

export interface OrthancOptions {
  dir: string;
  aeTitle?: string;
  dicomPort: number;
  httpPort: number;
  /** The REST and web password of user `beeldbrug`. */
  password: string;
  modalities?: Record<string, OrthancModality>;
  /** Settings Orthanc's own documentation advises for fast ingest (the benchmark uses them). */
  tunedForIngest?: boolean;
  /**
   * Orthanc's own fsync of every stored file (default true since 1.7.4: "the DICOM are guaranteed to be immediately
   * written to the disk"). Switching it off trades away the durability our node always keeps.
   */
  syncStorageArea?: boolean;
  /**
   * Set up as the 2019-2025 scans found thousands of PACS: any calling and called AE title, echo, find and store for
   * everyone, and the factory user orthanc/orthanc beside ours. Only for testing `beeldbrug doctor`.
   */
  insecure?: boolean;
  /**
   * Orthanc's DICOMweb plugin (Debian's orthanc-dicomweb) as a client of other DICOMweb servers: each server by name
   * with its root URL and the HTTP headers to send (a bearer token), and the CA file its HTTPS certificates chain to.
   */
  dicomwebClient?: { servers: Record<string, { url: string; headers?: Record<string, string> }>; caFile: string };
  /** Orthanc's DICOMweb plugin as a server, at `/dicom-web/` (the benchmark's competitor). */
  dicomwebServer?: boolean;
  /**
   * Its index on a PostgreSQL server (Debian's orthanc-postgresql plugin) instead of SQLite beside the files, as
   * Orthanc's documentation describes for larger sites; the files stay in `dir`.
   */
  postgresIndex?: { host: string; port: number; database: string; user: string; password: string };
}

/** Where Debian's orthanc-dicomweb package puts the plugin. */
export const ORTHANC_DICOMWEB_PLUGIN = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';
/** Where Debian's orthanc-postgresql package puts the index plugin. */
export const ORTHANC_POSTGRESQL_INDEX_PLUGIN = '/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so';

export interface OrthancPacs {
  aeTitle: string;
  dicomPort: number;
  httpPort: number;
  pid: number | undefined;
  /** `http://127.0.0.1:PORT`: REST and, with the plugin, DICOMweb at `/dicom-web/`. */
  baseUrl: string;
  /** The value of the Authorization header for user `beeldbrug`. */
  authorization: string;
  rest<T>(method: 'GET' | 'POST' | 'DELETE' | 'PUT', path: string, body?: string | Buffer | object): Promise<T>;
  /** Stores a Part 10 file through the REST API; returns Orthanc's instance id. */
  upload(file: string): Promise<string>;
  /** The Part 10 file Orthanc holds for an instance id. */
  instanceFile(id: string): Promise<Buffer>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Where the Orthanc binary is (Debian puts it in /usr/sbin), or undefined when it is not installed. */
export function orthancBinary(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v Orthanc || ls /usr/sbin/Orthanc 2>/dev/null'], { encoding: 'utf8' });
  const path = r.stdout.trim().split('\n')[0];
  return path !== undefined && path !== '' ? path : undefined;
}

export async function startOrthanc(o: OrthancOptions): Promise<OrthancPacs> {
  const binary = orthancBinary();
  if (binary === undefined) throw new Error('Orthanc is not installed (Debian package orthanc)');
  const aeTitle = o.aeTitle ?? 'ORTHANC';
  const { dicomPort, httpPort, password } = o;
  mkdirSync(join(o.dir, 'storage'), { recursive: true });
  const config = {
    Name: `PACS ${aeTitle}`,
    StorageDirectory: join(o.dir, 'storage'),
    IndexDirectory: join(o.dir, 'storage'),
    Plugins: [
      ...(o.dicomwebClient !== undefined || o.dicomwebServer === true ? [ORTHANC_DICOMWEB_PLUGIN] : []),
      ...(o.postgresIndex !== undefined ? [ORTHANC_POSTGRESQL_INDEX_PLUGIN] : []),
    ],
    HttpServerEnabled: true,
    HttpPort: httpPort,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: true,
    RegisteredUsers: { beeldbrug: password },
    DicomServerEnabled: true,
    DicomAet: aeTitle,
    DicomPort: dicomPort,
    DicomCheckCalledAet: true,
    DicomCheckModalityHost: true,
    DicomAlwaysAllowEcho: false,
    DicomAlwaysAllowStore: false,
    DicomAlwaysAllowFind: false,
    DicomAlwaysAllowGet: false,
    DicomAlwaysAllowMove: false,
    UnknownSopClassAccepted: false,
    DicomModalities: Object.fromEntries(
      Object.entries(o.modalities ?? {}).map(([name, m]) => [
        name,
        {
          AET: m.aeTitle,
          Host: m.host,
          Port: m.port,
          AllowEcho: true,
          AllowFind: true,
          AllowMove: true,
          AllowGet: true,
          AllowStore: true,
        },
      ]),
    ),
    StorageCompression: false,
    ...(o.dicomwebClient !== undefined
      ? {
          HttpsVerifyPeers: true,
          HttpsCACertificates: o.dicomwebClient.caFile,
          DicomWeb: {
            Enable: true,
            Root: '/dicom-web/',
            Servers: Object.fromEntries(
              Object.entries(o.dicomwebClient.servers).map(([name, server]) => [
                name,
                { Url: server.url, ...(server.headers !== undefined ? { HttpHeaders: server.headers } : {}) },
              ]),
            ),
          },
        }
      : {}),
    ...(o.dicomwebServer === true && o.dicomwebClient === undefined
      ? { DicomWeb: { Enable: true, Root: '/dicom-web/' } }
      : {}),
    ...(o.insecure === true
      ? {
          DicomCheckCalledAet: false,
          DicomCheckModalityHost: false,
          DicomAlwaysAllowEcho: true,
          DicomAlwaysAllowFind: true,
          DicomAlwaysAllowStore: true,
          RegisteredUsers: { beeldbrug: password, orthanc: 'orthanc' },
        }
      : {}),
    ...(o.tunedForIngest === true
      ? {
          SaveJobs: false,
          StorageAccessOnFind: 'Never',
          MaximumPduLength: 131072,
          // A DICOM thread per core for concurrent associations, never fewer than Orthanc's own default of 4 (more
          // threads also overlap its fsyncs).
          DicomThreadsCount: Math.max(4, availableParallelism()),
          KeepAlive: true,
          TcpNoDelay: true,
          SyncStorageArea: o.syncStorageArea ?? true,
        }
      : {}),
    ...(o.postgresIndex !== undefined
      ? {
          PostgreSQL: {
            EnableIndex: true,
            EnableStorage: false,
            Host: o.postgresIndex.host,
            Port: o.postgresIndex.port,
            Database: o.postgresIndex.database,
            Username: o.postgresIndex.user,
            Password: o.postgresIndex.password,
            // Its documentation: no lock when several Orthanc share the database; a connection per DICOM thread
            // so that associations do not queue for one connection (new in 4.0).
            Lock: false,
            IndexConnectionsCount: o.tunedForIngest === true ? 4 : 1,
          },
        }
      : {}),
  };
  const configFile = join(o.dir, 'orthanc.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const logFile = join(o.dir, 'orthanc.log');
  // TCP_NODELAY=1 as for every DICOM peer here: Debian's builds leave Nagle on otherwise.
  const child = spawn(binary, [`--logfile=${logFile}`, configFile], {
    env: { ...process.env, TCP_NODELAY: '1' },
    stdio: 'ignore',
  });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => (running.delete(child), resolve())));
  const auth = 'Basic ' + Buffer.from(`beeldbrug:${password}`).toString('base64');
  const base = `http://127.0.0.1:${httpPort}`;

  const rest = async <T>(method: string, path: string, body?: string | Buffer | object): Promise<T> => {
    const payload =
      body === undefined || typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const res = await fetch(base + path, {
      method,
      headers: { authorization: auth },
      // A Buffer is sent as its bytes (a view, not a copy).
      ...(payload !== undefined ? { body: typeof payload === 'string' ? payload : new Uint8Array(payload) } : {}),
    });
    if (!res.ok) throw new Error(`Orthanc ${method} ${path}: ${res.status} ${await res.text()}`);
    const type = res.headers.get('content-type') ?? '';
    return (type.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer())) as T;
  };

  const logTail = (): string => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  };
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`Orthanc exited with ${child.exitCode}`);
      const up = await rest<{ DicomAet: string }>('GET', '/system').then(
        (s) => s.DicomAet === aeTitle,
        () => false,
      );
      if (up) break;
      if (Date.now() > deadline) throw new Error('no answer within 30 s');
      await sleep(100);
    }
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`Orthanc did not start: ${(err as Error).message}\n${logTail()}`);
  }

  return {
    aeTitle,
    dicomPort,
    httpPort,
    pid: child.pid,
    baseUrl: base,
    authorization: auth,
    rest: (method, path, body) => rest(method, path, body),
    upload: async (file) => (await rest<{ ID: string }>('POST', '/instances', readFileSync(file))).ID,
    instanceFile: (id) => rest<Buffer>('GET', `/instances/${id}/file`),
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
