// What a share's messages go through in tests: a real SMTP server (smtp-server, with STARTTLS on a test certificate)
// that keeps every message it takes, and an HTTPS SMS gateway of the shape the node speaks to (bearer token, JSON).
import { writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { createServer, request } from 'node:https';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import yauzl from 'yauzl';
import ZipStream from 'zip-stream';
import { createTestCa, type IssuedCertificate, issueNodeCertificate } from '../../src/auth/index.ts';
import { type ExchangeNode, type ExchangeNodeOptions, startExchangeNode } from './exchange.ts';
import { freePort } from './net.ts';
import { tempDir } from './tmp.ts';

/** Items as they arrive; `next()` waits for the next one not yet taken. */
class Arrivals<T> {
  readonly all: T[] = [];
  #taken = 0;
  #waiting: ((item: T) => void)[] = [];

  push(item: T): void {
    this.all.push(item);
    const waiter = this.#waiting.shift();
    if (waiter !== undefined) {
      this.#taken++;
      waiter(item);
    }
  }

  next(): Promise<T> {
    const ready = this.all[this.#taken];
    if (ready !== undefined) {
      this.#taken++;
      return Promise.resolve(ready);
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
}

export interface Mail {
  to: string;
  subject: string;
  text: string;
  /** The client switched to TLS (STARTTLS) before it sent the message. */
  secure: boolean;
}

export interface MailServer {
  port: number;
  next(): Promise<Mail>;
  all: readonly Mail[];
}

const service = { name: 'Testdiensten', ura: '99999999' };

function certificateFor(ca: IssuedCertificate, name: string): IssuedCertificate {
  return issueNodeCertificate(ca, { commonName: name, organization: service, hosts: ['127.0.0.1'] });
}

/** An SMTP server on a free loopback port; mail to an address in `refuse` is refused at RCPT TO. */
export async function startMailServer(
  t: TestContext,
  ca: IssuedCertificate,
  o: { refuse?: readonly string[] } = {},
): Promise<MailServer> {
  const cert = certificateFor(ca, 'mail.test');
  const arrivals = new Arrivals<Mail>();
  const server = new SMTPServer({
    secure: false,
    key: cert.keyPem,
    cert: cert.certPem,
    authOptional: true,
    logger: false,
    onRcptTo(address, _session, callback) {
      if (o.refuse?.includes(address.address)) return callback(new Error('mailbox unavailable'));
      callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (m) => {
          const to = Array.isArray(m.to) ? m.to.map((a) => a.text).join(', ') : (m.to?.text ?? '');
          arrivals.push({ to, subject: m.subject ?? '', text: m.text ?? '', secure: session.secure });
          callback();
        },
        (err: Error) => callback(err),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.server.address() as AddressInfo).port, next: () => arrivals.next(), all: arrivals.all };
}

export interface Sms {
  to: string;
  from: string;
  text: string;
}

export interface SmsGatewayServer {
  url: string;
  /** The bearer token the gateway takes. */
  token: string;
  next(): Promise<Sms>;
  all: readonly Sms[];
  /** Requests refused for a missing or wrong token. */
  refused: number;
}

/** A test SMS gateway over HTTPS: POST /sms with a bearer token and {to, from, text}. */
export async function startSmsGateway(t: TestContext, ca: IssuedCertificate): Promise<SmsGatewayServer> {
  const cert = certificateFor(ca, 'sms.test');
  const token = 'sms-gateway-test-token';
  const arrivals = new Arrivals<Sms>();
  const state = { refused: 0 };
  const server = createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
    void bodyOf(req).then((body) => {
      if (req.method !== 'POST' || req.url !== '/sms') return void res.writeHead(404).end();
      if (req.headers.authorization !== `Bearer ${token}`) {
        state.refused++;
        return void res.writeHead(401).end();
      }
      const m = JSON.parse(body) as Sms;
      arrivals.push({ to: m.to, from: m.from, text: m.text });
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/sms`,
    token,
    next: () => arrivals.next(),
    all: arrivals.all,
    get refused() {
      return state.refused;
    },
  };
}

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The node's share section for these test services: their CA and the gateway's token in files, as a hospital has them. */
export function shareSection(
  t: TestContext,
  o: { ca: IssuedCertificate; mail: MailServer; sms: SmsGatewayServer; publicUrl: string },
): Record<string, unknown> {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'services-ca.crt'), o.ca.certPem);
  writeFileSync(join(dir, 'sms.token'), o.sms.token, { mode: 0o600 });
  return {
    publicUrl: o.publicUrl,
    smtp: {
      host: '127.0.0.1',
      port: o.mail.port,
      from: 'Radiologie Ziekenhuis Noord <beelden@noord.test>',
      caFile: join(dir, 'services-ca.crt'),
    },
    sms: {
      url: o.sms.url,
      tokenFile: join(dir, 'sms.token'),
      caFile: join(dir, 'services-ca.crt'),
      sender: 'ZH Noord',
    },
  };
}

export interface Reply {
  status: number;
  body: string;
  bytes: Buffer;
  headers: IncomingHttpHeaders;
}

/** A recipient's browser: no client certificate, the recipient cookie once it has one; the answer's headers kept. */
export function asRecipient(
  port: number,
  ca: string,
  method: string,
  path: string,
  json?: unknown,
  cookie?: string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  // A Buffer goes as it is (an upload's bytes); anything else as JSON.
  const raw = Buffer.isBuffer(json);
  const payload = raw ? json : json !== undefined ? Buffer.from(JSON.stringify(json)) : undefined;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        ca,
        agent: false,
        headers: {
          ...(payload !== undefined ? { 'content-length': payload.length } : {}),
          ...(payload !== undefined && !raw ? { 'content-type': 'application/json' } : {}),
          ...(cookie !== undefined ? { cookie } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, body: bytes.toString('utf8'), bytes, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A zip of named entries, stored or deflated, made by zip-stream (as any zip tool would). */
export async function zipOf(entries: readonly { name: string; data: Buffer }[], store = true): Promise<Buffer> {
  const zip = new ZipStream({ store });
  const chunks: Buffer[] = [];
  zip.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise((resolve) => zip.on('end', resolve));
  for (const e of entries)
    await new Promise<void>((resolve, reject) =>
      zip.entry(e.data, { name: e.name, store }, (err) => (err !== null ? reject(err) : resolve())),
    );
  zip.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** The names of a zip's entries, in order, read by yauzl (an independent reader of the format). */
export function zipEntryNames(path: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true }, (err, zip) => {
      if (err !== null) return reject(err);
      const names: string[] = [];
      zip.on('entry', (e: yauzl.Entry) => {
        names.push(e.fileName);
        zip.readEntry();
      });
      zip.on('end', () => resolve(names));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

/**
 * A node with sharing on, on a port of its own (its public URL): a test CA, and the SMTP server and SMS gateway its
 * share section uses under that CA. `share` adds to the share section (sftp, maxUploadBytes); `node` to the node's
 * options (a clock, DICOM peers, routing).
 */
export async function startShareNode(
  t: TestContext,
  o: {
    share?: Record<string, unknown>;
    node?: Omit<ExchangeNodeOptions, 'ca' | 'port' | 'share'>;
    refuseMailTo?: string[];
  } = {},
): Promise<{ node: ExchangeNode; ca: IssuedCertificate; mail: MailServer; sms: SmsGatewayServer; port: number }> {
  const ca = createTestCa({ commonName: 'Beeldbrug test CA' });
  const mail = await startMailServer(t, ca, { refuse: o.refuseMailTo ?? [] });
  const sms = await startSmsGateway(t, ca);
  const port = await freePort();
  const node = await startExchangeNode(t, {
    ...o.node,
    ca,
    port,
    share: { ...shareSection(t, { ca, mail, sms, publicUrl: `https://127.0.0.1:${port}` }), ...o.share },
  });
  return { node, ca, mail, sms, port };
}
