import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import { Readable } from 'node:stream';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { constants, createZstdCompress } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { organizationOf } from '../auth/index.ts';
import { BeeldbrugError } from '../errors/index.ts';

export interface PartnerAnswer {
  status: number;
  json: unknown;
}

/**
 * The TLS server identity check for a partner: the certificate names the host of the base URL (as any HTTPS client
 * checks) and, when we know which organization we mean to reach, that organization's URA. It runs inside the handshake,
 * before a single byte of a request (a manifest with a patient's name, an image) is written to the connection.
 */
export function partnerIdentityCheck(
  expectedUra: string | undefined,
): (host: string, cert: PeerCertificate) => Error | undefined {
  return (host, cert) => {
    const hostProblem = checkServerIdentity(host, cert);
    if (hostProblem !== undefined || expectedUra === undefined) return hostProblem;
    let found: string | undefined;
    try {
      found = organizationOf(new X509Certificate(cert.raw))?.ura;
    } catch {
      found = undefined;
    }
    if (found === expectedUra) return undefined;
    return new BeeldbrugError(
      'PARTNER_IDENTITY_MISMATCH',
      `the server at ${host} presents a certificate of URA ${found ?? '(none: the certificate names no organization)'}, not of the partner's URA ${expectedUra}; nothing was sent`,
    );
  };
}

/**
 * HTTPS to one partner node (or the registry) with our node certificate (mutual TLS), trusting only the network CA; the
 * partner's certificate must name the host of its base URL and, given `expect.ura`, that organization (see
 * partnerIdentityCheck). One keep-alive agent, so parallel requests reuse connections.
 */
export class PartnerClient {
  readonly #base: URL;
  readonly #agent: Agent;

  constructor(
    baseUrl: string,
    tls: { key: string | Buffer; cert: string | Buffer; ca: string | Buffer },
    parallel = 4,
    expect: { ura?: string } = {},
  ) {
    this.#base = new URL(baseUrl);
    this.#agent = new Agent({
      keepAlive: true,
      maxSockets: parallel,
      key: tls.key,
      cert: tls.cert,
      ca: tls.ca,
      minVersion: 'TLSv1.2',
      checkServerIdentity: partnerIdentityCheck(expect.ura),
    });
  }

  /** A JSON request; with `timeoutMs`, a partner that has not answered by then is PARTNER_TIMEOUT. */
  json(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
    o: { timeoutMs?: number; contentType?: string } = {},
  ): Promise<PartnerAnswer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = payload !== undefined ? { 'content-type': o.contentType ?? 'application/json' } : {};
    return this.#send(method, path, headers, payload !== undefined ? Readable.from([payload]) : undefined, o.timeoutMs);
  }

  /** Streams a body (e.g. multipart) without knowing its length in advance (chunked transfer encoding). */
  stream(
    path: string,
    contentType: string,
    body: AsyncIterable<Buffer>,
    o: { compress?: boolean } = {},
  ): Promise<PartnerAnswer> {
    const raw = Readable.from(body);
    if (o.compress !== true) return this.#send('POST', path, { 'content-type': contentType }, raw);
    // zstd at a low level: about 2.6x on uncompressed CT at hundreds of MB/s, so the link, not the CPU, stays the limit.
    const zstd = createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: 3 } });
    raw.on('error', (err) => zstd.destroy(err));
    return this.#send('POST', path, { 'content-type': contentType, 'content-encoding': 'zstd' }, raw.pipe(zstd));
  }

  /**
   * A request whose answer streams (a SOAP retrieve's MTOM answer: a study's instances), never gathered here. A partner
   * that has not begun to answer within `timeoutMs` is PARTNER_TIMEOUT; once it answers, the body takes as long as it
   * takes.
   */
  answerStream(
    path: string,
    contentType: string,
    body: Buffer,
    o: { timeoutMs: number },
  ): Promise<{ status: number; contentType: string; body: IncomingMessage }> {
    const url = new URL(path, this.#base);
    return new Promise((resolve, reject) => {
      const req = request(url, {
        method: 'POST',
        agent: this.#agent,
        headers: { 'content-type': contentType, 'content-length': String(body.length) },
      });
      const timer = setTimeout(() => {
        req.destroy(
          new BeeldbrugError(
            'PARTNER_TIMEOUT',
            `POST ${url.origin}${url.pathname}: no answer within ${o.timeoutMs} ms`,
          ),
        );
      }, o.timeoutMs);
      req.on('response', (res) => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', body: res });
      });
      req.on('error', (cause) => {
        clearTimeout(timer);
        reject(
          cause instanceof BeeldbrugError
            ? cause
            : new BeeldbrugError('PARTNER_UNREACHABLE', `POST ${url.origin}${url.pathname}: ${cause.message}`, {
                cause,
              }),
        );
      });
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }

  #send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Readable | undefined,
    timeoutMs?: number,
  ): Promise<PartnerAnswer> {
    const url = new URL(path, this.#base);
    return new Promise((resolve, reject) => {
      const signal = timeoutMs !== undefined ? AbortSignal.timeout(timeoutMs) : undefined;
      const req = request(
        url,
        { method, agent: this.#agent, headers, ...(signal !== undefined ? { signal } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown = text;
            try {
              json = text === '' ? null : JSON.parse(text);
            } catch {
              // not JSON: keep the text for the error message
            }
            resolve({ status: res.statusCode ?? 0, json });
          });
          res.on('error', (cause) =>
            reject(
              signal?.aborted === true
                ? new BeeldbrugError(
                    'PARTNER_TIMEOUT',
                    `${method} ${url.origin}${url.pathname}: no whole answer within ${timeoutMs} ms`,
                    { cause },
                  )
                : cause,
            ),
          );
        },
      );
      // A failure on our side (reading the body, e.g. a corrupt stored file) is ours, not an unreachable partner.
      let bodyError: unknown;
      req.on('error', (cause) => {
        // The wrong organization answered: said as such, never retried as if the partner were merely unreachable.
        if (cause instanceof BeeldbrugError && cause.code === 'PARTNER_IDENTITY_MISMATCH') {
          reject(cause);
          return;
        }
        if (signal?.aborted === true) {
          reject(
            new BeeldbrugError(
              'PARTNER_TIMEOUT',
              `${method} ${url.origin}${url.pathname}: no answer within ${timeoutMs} ms`,
              { cause },
            ),
          );
          return;
        }
        reject(
          bodyError ??
            new BeeldbrugError('PARTNER_UNREACHABLE', `${method} ${url.origin}${url.pathname}: ${cause.message}`, {
              cause,
            }),
        );
      });
      if (body === undefined) req.end();
      else
        pipeline(body, req).catch((err: unknown) => {
          bodyError ??= err;
          req.destroy(err instanceof Error ? err : new Error(String(err)));
        });
    });
  }
}
