import { request } from 'node:https';
import { BeeldbrugError, ErrorCatalog, type ErrorCode } from '../errors/index.ts';
import type { AuditRecord } from '../audit/index.ts';
import type { Timeline } from '../timeline/index.ts';
import type { OutboxView } from '../exchange/index.ts';
import type { SessionUser, SessionView } from '../node/index.ts';

/** An outgoing transfer as GET /api/v1/outbox/:id shows it. */
export type OutboxTransfer = OutboxView;

export type { SessionUser } from '../node/index.ts';

export interface NodeApiOptions {
  /** The node's HTTPS address, e.g. https://pacs-bridge.noord.example:8443. */
  baseUrl: string;
  /** The CA that signed the node's server certificate (PEM); the system's CAs when absent. */
  ca?: string;
  /** The session's bearer token; absent only for signing in. */
  token?: string;
  timeoutMs?: number;
}

/**
 * The node's HTTPS API as the command line uses it: the same routes, the same access checks and the same audit records
 * as the web app; the CLI holds nothing but a session token. Every failure is a BeeldbrugError with the node's code and
 * detail, so the operator reads the node's own explanation.
 */
export class NodeApiClient {
  readonly #o: NodeApiOptions;

  constructor(o: NodeApiOptions) {
    this.#o = o;
  }

  signIn(c: {
    username: string;
    password: string;
    code: string;
  }): Promise<{ token: string; user: SessionUser; expiresAt: string }> {
    return this.#json('POST', '/api/v1/session', c);
  }

  /** Starts a sign-in at the hospital's identity provider for a terminal without a browser (RFC 8628). */
  beginDeviceSignIn(): Promise<{
    handle: string;
    userCode: string;
    verificationUri: string;
    verificationUriComplete?: string;
    expiresInSeconds: number;
  }> {
    return this.#json('POST', '/api/v1/session/oidc/device');
  }

  /** The device sign-in's outcome: the node answers once the person is done, or after about 20 s with 'pending'. */
  deviceSignIn(
    handle: string,
  ): Promise<{ status: 'pending' } | { token: string; user: SessionUser; expiresAt: string }> {
    return this.#json('POST', '/api/v1/session/oidc/device/token', { handle }, 60_000);
  }

  session(): Promise<SessionView> {
    return this.#json('GET', '/api/v1/session');
  }

  async signOut(): Promise<void> {
    await this.#json('DELETE', '/api/v1/session');
  }

  /** Audit records, newest last, as the auditor's view shows them; reading them is itself recorded at the node. */
  auditRecords(
    filter: Partial<Record<'bsn' | 'user' | 'action' | 'since' | 'until' | 'purpose' | 'limit', string>>,
  ): Promise<{ records: AuditRecord[] }> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v !== undefined) q.set(k, v);
    return this.#json('GET', `/api/v1/audit${q.size > 0 ? `?${q.toString()}` : ''}`);
  }

  queueSend(r: {
    studyInstanceUid: string;
    to: string;
    purpose: string;
    urgency: string;
    reason: string;
    consentReference?: string;
  }): Promise<OutboxTransfer> {
    return this.#json('POST', '/api/v1/outbox', r);
  }

  /** The transfer; with `after`, the node answers once it has changed since that `updatedAt` (or after `waitSeconds`). */
  outboxTransfer(transferId: string, o: { after?: string; waitSeconds?: number } = {}): Promise<OutboxTransfer> {
    const q = new URLSearchParams();
    if (o.after !== undefined) q.set('after', o.after);
    if (o.waitSeconds !== undefined) q.set('waitSeconds', String(o.waitSeconds));
    const query = q.size > 0 ? `?${q.toString()}` : '';
    return this.#json(
      'GET',
      `/api/v1/outbox/${encodeURIComponent(transferId)}${query}`,
      undefined,
      ((o.waitSeconds ?? 0) + 30) * 1000,
    );
  }

  /** The node's newest studies (QIDO-RS), as DICOM JSON. */
  async newestStudies(limit: number): Promise<Record<string, { Value?: unknown[] }>[]> {
    const q = new URLSearchParams({ limit: String(limit) });
    return (
      (await this.#json<Record<string, { Value?: unknown[] }>[] | undefined>(
        'GET',
        `/dicomweb/studies?${q.toString()}`,
      )) ?? []
    );
  }

  /**
   * Shares studies with a patient or doctor (the node e-mails the link; the code goes by SMS when it is opened), or
   * with a partner account (into its download folder).
   */
  share(
    r: { studyInstanceUids: string[] } & (
      { recipient: { name: string; email: string; mobile: string } } | { partner: string }
    ),
  ): Promise<{ shareId: string; expiresAt: string }> {
    return this.#json('POST', '/api/v1/shares', r);
  }

  timeline(q: { bsn: string; includeReports: boolean }): Promise<Timeline> {
    return this.#json('POST', '/api/v1/timeline', q);
  }

  retrieve(r: {
    bsn: string;
    source: string;
    studyInstanceUid: string;
  }): Promise<
    | { transferId: string; source: { ura: string; name: string } }
    | { status: 'retrieved'; retrieved: number; failed: number; source: { ura: string; name: string } }
  > {
    return this.#json('POST', '/api/v1/timeline/retrievals', r);
  }

  /** One arriving transfer; with `waitSeconds`, the node answers once it is no longer open (or after that long). */
  inboxTransfer(
    transferId: string,
    waitSeconds = 0,
  ): Promise<{ transferId: string; state: string; instances: number }> {
    return this.#json(
      'GET',
      `/api/v1/inbox/${encodeURIComponent(transferId)}?waitSeconds=${waitSeconds}`,
      undefined,
      (waitSeconds + 30) * 1000,
    );
  }

  #json<T>(method: string, path: string, body?: unknown, timeoutMs = this.#o.timeoutMs ?? 120_000): Promise<T> {
    const url = new URL(path, this.#o.baseUrl);
    const payload = body !== undefined ? Buffer.from(JSON.stringify(body)) : undefined;
    return new Promise<T>((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ...(this.#o.ca !== undefined ? { ca: this.#o.ca } : {}),
          timeout: timeoutMs,
          headers: {
            accept: 'application/json',
            ...(this.#o.token !== undefined ? { authorization: `Bearer ${this.#o.token}` } : {}),
            ...(payload !== undefined
              ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            let parsed: unknown;
            try {
              parsed = text === '' ? {} : JSON.parse(text);
            } catch {
              parsed = { detail: text.slice(0, 200) };
            }
            if (status >= 200 && status < 300) resolve(parsed as T);
            else reject(errorOf(status, parsed, `${method} ${url.pathname}`));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () =>
        req.destroy(
          new BeeldbrugError(
            'NODE_UNREACHABLE',
            `${url.origin} did not answer within ${Math.round(timeoutMs / 1000)} s`,
          ),
        ),
      );
      req.on('error', (err) =>
        reject(
          err instanceof BeeldbrugError
            ? err
            : new BeeldbrugError('NODE_UNREACHABLE', `${url.origin}: ${err.message}`, { cause: err }),
        ),
      );
      req.end(payload);
    });
  }
}

/** The node's answer to a failed request, in its old body shape or as RFC 9457 problem details. */
function errorOf(status: number, body: unknown, what: string): BeeldbrugError {
  const b = (typeof body === 'object' && body !== null ? body : {}) as {
    code?: unknown;
    error?: unknown;
    detail?: unknown;
    problems?: unknown;
  };
  const named = typeof b.code === 'string' ? b.code : typeof b.error === 'string' ? b.error : undefined;
  const detail =
    typeof b.detail === 'string'
      ? b.detail
      : Array.isArray(b.problems)
        ? b.problems.map(String).join('; ')
        : `${what}: HTTP ${status}${named !== undefined ? ` (${named})` : ''}`;
  if (status === 401)
    return new BeeldbrugError(
      'SIGN_IN_REQUIRED',
      named === 'sign-in-failed' || named === 'SIGN_IN_FAILED'
        ? 'sign-in failed: the user name, password or code is not right, or the account is locked'
        : 'no signed-in session, or it has ended: run beeldbrug login',
    );
  const code: ErrorCode =
    named !== undefined && named in ErrorCatalog
      ? (named as ErrorCode)
      : status === 403
        ? 'ACCESS_DENIED'
        : status === 404
          ? 'NOT_FOUND'
          : status === 400
            ? 'REQUEST_INVALID'
            : 'INTERNAL';
  return new BeeldbrugError(code, detail);
}
