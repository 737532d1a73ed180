import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { auditMessageXml, syslogFrame, type AuditSource, type AuditTrail } from '../audit/index.ts';
import { Bcp195Ciphers } from '../dimse/index.ts';
import type { Logger } from '../log/index.ts';

export interface AtnaExporterOptions {
  trail: AuditTrail;
  source: AuditSource;
  host: string;
  port: number;
  tls: { cert: string | Buffer; key: string | Buffer; ca: string | Buffer };
  /** Where the sequence of the last record handed to the connection is kept across restarts. */
  cursorFile: string;
  pollMs: number;
  logger: Logger;
}

/** Records per write: a backlog goes out in batches, not in one buffer. */
const BATCH = 200;
const MAX_BACKOFF_MS = 30_000;

/**
 * Sends every audit record, in order, to the hospital's audit repository as a DICOM audit message over syslog on TLS
 * (RFC 5424 messages, RFC 5425 transport, mutual TLS with BCP 195 suites). The trail stays the record of truth: the
 * exporter reads it from a cursor, so a repository that is down or unreachable delays messages but loses none, and
 * nothing that records waits for the network. Delivery is at least once: the cursor moves when a batch is written to
 * the connection, and syslog has no acknowledgement, so after a broken connection the repository may see the last
 * messages again (each carries its record's sequence and chain hash to match it).
 */
export class AtnaExporter {
  readonly #o: AtnaExporterOptions;
  #cursor: number;
  #socket: TLSSocket | undefined;
  #closed = false;
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(o: AtnaExporterOptions) {
    this.#o = o;
    this.#cursor = readCursor(o.cursorFile);
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
    while (!this.#closed) {
      try {
        const socket = await this.#connect();
        this.#o.logger.info({ ...target, from: this.#cursor }, 'audit export connected');
        backoff = 1000;
        await this.#pump(socket);
      } catch (err) {
        if (this.#closed) break;
        this.#o.logger.warn({ ...target, problem: (err as Error).message, pending: `after record ${this.#cursor}` }, 'audit export: the audit repository is not reachable; records wait in the trail');
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
      const records = this.#o.trail.list({ afterSequence: this.#cursor, limit: BATCH });
      if (records.length === 0) {
        await this.#sleep(this.#o.pollMs);
        continue;
      }
      const frames = Buffer.concat(records.map((r) => syslogFrame(auditMessageXml(r, this.#o.source), { time: r.time, hostname: host, appName: 'beeldbrug', procId: String(process.pid) })));
      await new Promise<void>((resolve, reject) => socket.write(frames, (err) => (err ? reject(err) : resolve())));
      if (broken !== undefined) throw broken;
      this.#cursor = records.at(-1)!.sequence;
      writeCursor(this.#o.cursorFile, this.#cursor);
    }
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

function readCursor(path: string): number {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(n) && n >= 0 ? n : 0;
  } catch {
    return 0;
  }
}

function writeCursor(path: string, sequence: number): void {
  writeFileSync(`${path}.tmp`, `${sequence}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}
