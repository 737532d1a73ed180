import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { auditMessageXml, syslogFrame, type AuditSource, type AuditTrail } from '../audit/index.ts';
import { migratePostgres, PostgresDatabase, type PostgresPool, type TaskLeases } from '../database/index.ts';
import { Bcp195Ciphers } from '../dimse/index.ts';
import type { Logger } from '../log/index.ts';

/** The last record handed to the audit repository's connection; hash undefined in a cursor from before it was kept. */
export interface ExportPosition {
  sequence: number;
  hash: string | undefined;
}

/** Where the exporter keeps its position across restarts, and, with several nodes, across nodes. */
export interface ExportCursor {
  read(): Promise<ExportPosition>;
  write(last: { sequence: number; hash: string }): Promise<void>;
}

export interface AtnaExporterOptions {
  trail: AuditTrail;
  source: AuditSource;
  host: string;
  port: number;
  tls: { cert: string | Buffer; key: string | Buffer; ca: string | Buffer };
  /** Where the sequence and chain hash of the last record handed to the connection are kept. */
  cursor: ExportCursor;
  /** Several nodes on one trail: the one that holds the lease exports, the others stand by. */
  leases: TaskLeases;
  pollMs: number;
  logger: Logger;
}

const TASK = 'audit export';

/** Records per write: a backlog goes out in batches, not in one buffer. */
const BATCH = 200;
const MAX_BACKOFF_MS = 30_000;

/**
 * Sends every audit record, in order, to the hospital's audit repository as a DICOM audit message over syslog on TLS
 * (RFC 5424 messages, RFC 5425 transport, mutual TLS with BCP 195 suites). The trail stays the record of truth: the
 * exporter reads it from a cursor, so a repository that is down or unreachable delays messages but loses none, and
 * nothing that records waits for the network. Delivery is at least once: the cursor moves when a batch is written to
 * the connection, and syslog has no acknowledgement, so after a broken connection the repository may see the last
 * messages again (each carries its record's sequence and chain hash to match it). The cursor names the record's
 * chain hash too: a trail put back to an older copy (and accepted by an administrator, `beeldbrug audit accept-head`)
 * numbers its new records from where the copy ends, and those must go out, not be taken for records already sent.
 */
export class AtnaExporter {
  readonly #o: AtnaExporterOptions;
  #cursor: number;
  #cursorHash: string | undefined;
  #socket: TLSSocket | undefined;
  #closed = false;
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  readonly #leaseMs: number;
  #renewAt = 0;

  constructor(o: AtnaExporterOptions) {
    this.#o = o;
    this.#cursor = 0;
    // Renewed every half lease while this node exports (ten looks for records); another takes over once it runs out.
    this.#leaseMs = Math.max(20 * o.pollMs, 3000);
  }

  /** The sequence of the last record written to the audit repository's connection. */
  get exported(): number {
    return this.#cursor;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    this.#socket?.end();
    await this.#running;
  }

  async #run(): Promise<void> {
    let backoff = 1000;
    const target = { host: this.#o.host, port: this.#o.port };
    let standingBy = false;
    while (!this.#closed) {
      let mine: boolean;
      try {
        mine = await this.#holdLease();
      } catch (err) {
        this.#o.logger.warn(
          { problem: (err as Error).message, pending: `after record ${this.#cursor}` },
          'audit export: the shared database is not reachable; records wait in the trail',
        );
        await this.#sleep(MAX_BACKOFF_MS / 10);
        continue;
      }
      if (!mine) {
        if (!standingBy) this.#o.logger.info('audit export: another node of this hospital exports the trail');
        standingBy = true;
        await this.#sleep(this.#leaseMs / 2);
        continue;
      }
      standingBy = false;
      try {
        // Where this node, or the one that exported before it, got to.
        ({ sequence: this.#cursor, hash: this.#cursorHash } = await this.#o.cursor.read());
        const socket = await this.#connect();
        this.#o.logger.info({ ...target, from: this.#cursor }, 'audit export connected');
        backoff = 1000;
        await this.#checkCursor();
        await this.#pump(socket);
      } catch (err) {
        if (this.#closed) break;
        this.#o.logger.warn(
          { ...target, problem: (err as Error).message, pending: `after record ${this.#cursor}` },
          'audit export: the audit repository is not reachable; records wait in the trail',
        );
        await this.#sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      } finally {
        this.#socket?.destroy();
        this.#socket = undefined;
      }
    }
  }

  #connect(): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const { cert, key, ca } = this.#o.tls;
      const socket = connect({
        host: this.#o.host,
        port: this.#o.port,
        cert,
        key,
        ca,
        minVersion: 'TLSv1.2',
        ciphers: Bcp195Ciphers,
        ...(isIP(this.#o.host) === 0 ? { servername: this.#o.host } : {}),
      });
      this.#socket = socket;
      const timer = setTimeout(() => socket.destroy(new Error('no TLS connection within 10 s')), 10_000);
      socket.once('secureConnect', () => (clearTimeout(timer), resolve(socket)));
      socket.once('error', (err) => (clearTimeout(timer), reject(err)));
    });
  }

  async #pump(socket: TLSSocket): Promise<void> {
    let broken: Error | undefined;
    socket.on('error', (err) => (broken = err));
    socket.on('close', () => {
      broken ??= new Error('the audit repository closed the connection');
      this.#wake?.();
    });
    // The repository says nothing back over syslog; reading keeps the socket from stalling if it ever does.
    socket.resume();
    const host = hostname();
    while (!this.#closed) {
      if (broken !== undefined) throw broken;
      // A node that lost its lease (it stalled past it) leaves the export to the node that took it over.
      if (!(await this.#holdLease())) return;
      const records = await this.#o.trail.list({ afterSequence: this.#cursor, limit: BATCH });
      if (records.length === 0) {
        await this.#sleep(this.#o.pollMs);
        continue;
      }
      const frames = Buffer.concat(
        records.map((r) =>
          syslogFrame(auditMessageXml(r, this.#o.source), {
            time: r.time,
            hostname: host,
            appName: 'beeldbrug',
            procId: String(process.pid),
          }),
        ),
      );
      await new Promise<void>((resolve, reject) => socket.write(frames, (err) => (err ? reject(err) : resolve())));
      if (broken !== undefined) throw broken;
      const last = records.at(-1)!;
      this.#cursor = last.sequence;
      this.#cursorHash = last.hash;
      await this.#o.cursor.write(last);
    }
  }

  /**
   * Whether this node holds the export. The lease is renewed once half of it has passed, not at every look for records:
   * one database write per half lease instead of one per poll. Counted from before the renewal was asked, so this node
   * stops believing it holds the lease well before the others may take it over.
   */
  async #holdLease(): Promise<boolean> {
    if (performance.now() < this.#renewAt) return true;
    const asked = performance.now();
    const held = await this.#o.leases.take(TASK, this.#leaseMs);
    this.#renewAt = held ? asked + this.#leaseMs / 2 : 0;
    return held;
  }

  /**
   * The record the cursor names must still be in the trail with the same chain hash; if not, the trail was put back
   * to an older copy, and which of its records the repository already has is unknown: all go out again (at least once,
   * as always; the repository matches duplicates by sequence and hash).
   */
  async #checkCursor(): Promise<void> {
    if (this.#cursor === 0) return;
    const at = (await this.#o.trail.list({ afterSequence: this.#cursor - 1, limit: 1 }))[0];
    if (at?.sequence === this.#cursor && (this.#cursorHash === undefined || at.hash === this.#cursorHash)) return;
    this.#o.logger.error(
      { cursor: this.#cursor },
      'audit export: the trail no longer holds the last record sent (it was put back to an older copy); sending all records again',
    );
    this.#cursor = 0;
    this.#cursorHash = undefined;
    await this.#o.cursor.write({ sequence: 0, hash: '' });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}

/** `sequence hash`; a cursor file from before the hash was kept holds the sequence only. */
function readCursorFile(path: string): ExportPosition {
  try {
    const [n, hash] = readFileSync(path, 'utf8').trim().split(' ');
    const sequence = Number(n);
    return Number.isSafeInteger(sequence) && sequence >= 0
      ? { sequence, hash: hash !== undefined && hash !== '' ? hash : undefined }
      : { sequence: 0, hash: undefined };
  } catch {
    return { sequence: 0, hash: undefined };
  }
}

/** The cursor of a node alone on its data folder: a small file there, replaced whole at each move. */
export function fileExportCursor(path: string): ExportCursor {
  return {
    read: async () => readCursorFile(path),
    write: async (last) => {
      writeFileSync(`${path}.tmp`, `${last.sequence} ${last.hash}\n`, { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
    },
  };
}

const CURSOR_MIGRATIONS = [
  'CREATE TABLE audit_export_cursor (repository TEXT PRIMARY KEY, sequence BIGINT NOT NULL, hash TEXT NOT NULL)',
];

/**
 * The cursor of nodes that share their trail on PostgreSQL, one per audit repository (`host:port`), so that the node
 * that takes the export over goes on where the last one stopped. A node that moved to the server (`beeldbrug
 * migrate`) starts from its embedded cursor file, so the repository does not get the whole trail again.
 */
export async function openPostgresExportCursor(
  pool: PostgresPool,
  repository: string,
  o: { embeddedFile: string },
): Promise<ExportCursor> {
  await migratePostgres(pool, 'audit export', CURSOR_MIGRATIONS);
  const db = new PostgresDatabase(pool, { ownsPool: false });
  return {
    read: async () => {
      const row = await db.read((q) =>
        q.one<{ sequence: number; hash: string }>(
          'SELECT sequence, hash FROM audit_export_cursor WHERE repository = ?',
          [repository],
        ),
      );
      if (row === undefined) return readCursorFile(o.embeddedFile);
      return { sequence: row.sequence, hash: row.hash !== '' ? row.hash : undefined };
    },
    write: async (last) => {
      await db.write((q) =>
        q.run(
          `INSERT INTO audit_export_cursor (repository, sequence, hash) VALUES (?, ?, ?)
           ON CONFLICT (repository) DO UPDATE SET sequence = excluded.sequence, hash = excluded.hash`,
          [repository, last.sequence, last.hash],
        ),
      );
    },
  };
}
