import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import type * as Oidc from 'openid-client';
import type { Role } from './roles.ts';

/** What the node needs to sign people in through the hospital's identity provider. */
export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** The CA of the identity provider's TLS certificate, when it is not in the system's trust store. */
  ca?: string | Buffer;
  scopes: readonly string[];
  claims: { username: string; name: string; groups: string; uziRoleCode?: string | undefined };
  /** Group to role, first match wins. */
  roles: readonly { group: string; role: Role }[];
  /** `amr` values that count as two factors by themselves (e.g. `mfa`). */
  twoFactorAmr: readonly string[];
}

/** A person the identity provider vouched for, mapped onto the node's roles. */
export interface ExternalIdentity {
  /** Issuer and `sub` together: a subject is unique only within its issuer (OIDC Core 2). */
  subject: string;
  username: string;
  name: string;
  role: Role;
  uziRoleCode?: string;
  twoFactor: boolean;
  /** The authentication methods the identity provider reported, for the audit trail. */
  amr: readonly string[];
}

/**
 * The outcome of a callback. Every failure gets the same answer in the browser; `reason` and `detail` are for the
 * audit trail and the log (they hold no token or code).
 */
export type OidcOutcome =
  | { ok: true; identity: ExternalIdentity }
  | {
      ok: false;
      reason:
        | 'unknown-state'
        | 'provider-error'
        | 'rejected-response'
        | 'no-role'
        | 'provider-unreachable'
        | 'device-code-expired';
      detail: string;
      subject?: string;
      name?: string;
    };

/**
 * RFC 8176 methods by kind of factor: something you know, have, or are. Two methods of the same kind (a password and
 * a PIN) are still one factor. Qualifiers such as `user`, `geo` or `rba` are no factor at all.
 */
const FACTOR_KIND: Readonly<Record<string, 'knowledge' | 'possession' | 'inherence'>> = {
  pwd: 'knowledge',
  pin: 'knowledge',
  kba: 'knowledge',
  wia: 'knowledge',
  otp: 'possession',
  hwk: 'possession',
  swk: 'possession',
  sms: 'possession',
  tel: 'possession',
  sc: 'possession',
  face: 'inherence',
  fpt: 'inherence',
  iris: 'inherence',
  retina: 'inherence',
  vbm: 'inherence',
};

/** Whether the methods in `amr` make two factors: a value the hospital names as such, or two different kinds. */
export function isTwoFactor(amr: readonly string[], twoFactorAmr: readonly string[]): boolean {
  if (amr.some((m) => twoFactorAmr.includes(m))) return true;
  return new Set(amr.map((m) => FACTOR_KIND[m]).filter((k) => k !== undefined)).size >= 2;
}

const UZI_ROLE = /^\d{2}\.\d{3}$/;

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

/** Maps the identity provider's claims onto a node identity; a person in no mapped group is refused. */
export function identityOf(
  s: Pick<OidcSettings, 'issuer' | 'claims' | 'roles' | 'twoFactorAmr'>,
  claims: Readonly<Record<string, unknown>>,
): OidcOutcome {
  const sub = text(claims['sub']);
  if (sub === undefined)
    return { ok: false, reason: 'rejected-response', detail: 'the identity provider named no subject' };
  const name = text(claims[s.claims.name]) ?? sub;
  const rawGroups = claims[s.claims.groups];
  const groups = Array.isArray(rawGroups)
    ? rawGroups.filter((g): g is string => typeof g === 'string')
    : typeof rawGroups === 'string'
      ? [rawGroups]
      : [];
  const role = s.roles.find((r) => groups.includes(r.group))?.role;
  const subject = `${s.issuer} ${sub}`;
  if (role === undefined)
    return {
      ok: false,
      reason: 'no-role',
      detail: `none of the groups (${groups.length}) maps to a role`,
      subject,
      name,
    };
  const amr = Array.isArray(claims['amr']) ? claims['amr'].filter((m): m is string => typeof m === 'string') : [];
  const uzi = s.claims.uziRoleCode !== undefined ? text(claims[s.claims.uziRoleCode]) : undefined;
  return {
    ok: true,
    identity: {
      subject,
      username: (text(claims[s.claims.username]) ?? sub).toLowerCase().slice(0, 200),
      name: name.slice(0, 200),
      role,
      ...(uzi !== undefined && UZI_ROLE.test(uzi) ? { uziRoleCode: uzi } : {}),
      twoFactor: isTwoFactor(amr, s.twoFactorAmr),
      amr,
    },
  };
}

interface Pending {
  nonce: string;
  codeVerifier: string;
  expiresAt: number;
}

/** A device sign-in (RFC 8628) under way: the grant being polled at the provider, settled once the person is done. */
interface PendingDevice {
  outcome: Promise<OidcOutcome>;
  settled: OidcOutcome | undefined;
  abort: AbortController;
  expiresAt: number;
}

/** What a terminal shows the person: where to go, which code to enter, and the handle the terminal waits with. */
export interface DeviceSignIn {
  /** Secret to the terminal that started the sign-in: whoever holds it receives the session. */
  handle: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  expiresInSeconds: number;
}

/** A sign-in started in a browser must come back within this time. */
const PENDING_MS = 10 * 60_000;
/** Pending sign-ins kept at most; a flood of started sign-ins pushes out the oldest, it does not grow memory. */
const MAX_PENDING = 10_000;
/** An identity provider's answer larger than this is not a discovery document, key set or token response. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * OpenID Connect sign-in as a confidential client: authorization code flow with PKCE, state and nonce, the ID token's
 * signature checked against the provider's published keys (besides issuer, audience, expiry and nonce), and the
 * profile completed from the userinfo endpoint where the ID token leaves claims out. The provider's metadata is read on
 * first use, so a node starts while its identity provider is down; a failed read is retried on the next sign-in.
 * openid-client itself loads at the first sign-in too: a node (or a command) that never signs anyone in this way does
 * not load it at start.
 */
export class OidcSignIn {
  readonly #s: OidcSettings;
  readonly #pending = new Map<string, Pending>();
  readonly #devices = new Map<string, PendingDevice>();
  readonly #now: () => number;
  #configuration: Promise<Oidc.Configuration> | undefined;

  constructor(settings: OidcSettings, now: () => number = Date.now) {
    this.#s = settings;
    this.#now = now;
  }

  get issuer(): string {
    return this.#s.issuer;
  }

  /** The callback URL as registered at the provider. */
  get redirectUri(): string {
    return this.#s.redirectUri;
  }

  /** Where to send the browser, and the state that binds the callback to this browser (kept in a cookie). */
  async begin(): Promise<{ url: string; state: string }> {
    const oidc = await import('openid-client');
    const configuration = await this.#config();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: this.#s.redirectUri,
      scope: this.#s.scopes.join(' '),
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      // Many providers put `amr` in the ID token only when asked (OIDC Core 5.5); without it nobody counts as two factors.
      ...(configuration.serverMetadata().claims_parameter_supported === true
        ? { claims: JSON.stringify({ id_token: { amr: null } }) }
        : {}),
    });
    this.#sweep();
    if (this.#pending.size >= MAX_PENDING) this.#pending.delete(this.#pending.keys().next().value!);
    this.#pending.set(state, { nonce, codeVerifier, expiresAt: this.#now() + PENDING_MS });
    return { url: url.href, state };
  }

  /**
   * Completes a sign-in from the callback URL the browser brought back. `browserState` is the state from this
   * browser's cookie: a callback whose state this browser did not start (login CSRF) is refused. Each state is used once.
   */
  async finish(callback: URL, browserState: string | undefined): Promise<OidcOutcome> {
    const state = callback.searchParams.get('state') ?? undefined;
    const pending = state !== undefined ? this.#pending.get(state) : undefined;
    if (state !== undefined) this.#pending.delete(state);
    if (state === undefined || pending === undefined || browserState !== state || pending.expiresAt <= this.#now()) {
      return {
        ok: false,
        reason: 'unknown-state',
        detail: 'the callback does not belong to a sign-in this browser started in the last 10 minutes',
      };
    }
    const error = callback.searchParams.get('error');
    if (error !== null)
      return { ok: false, reason: 'provider-error', detail: `the identity provider answered ${error.slice(0, 100)}` };
    let configuration: Oidc.Configuration;
    try {
      configuration = await this.#config();
    } catch (err) {
      return { ok: false, reason: 'provider-unreachable', detail: describe(err) };
    }
    try {
      const oidc = await import('openid-client');
      const tokens = await oidc.authorizationCodeGrant(configuration, callback, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedNonce: pending.nonce,
        expectedState: state,
      });
      return await this.#identityFrom(configuration, tokens);
    } catch (err) {
      return { ok: false, reason: 'rejected-response', detail: describe(err) };
    }
  }

  /**
   * Starts a sign-in for a terminal without a browser (OAuth 2.0 Device Authorization Grant, RFC 8628): the person opens
   * the provider's page on any device, enters the code, and signs in there as usual. The node then polls the provider
   * in the background; the terminal asks for the outcome with `handle`. Undefined when the provider offers no device
   * flow.
   */
  async beginDevice(): Promise<DeviceSignIn | undefined> {
    const oidc = await import('openid-client');
    const configuration = await this.#config();
    if (configuration.serverMetadata().device_authorization_endpoint === undefined) return undefined;
    const response = await oidc.initiateDeviceAuthorization(configuration, {
      scope: this.#s.scopes.join(' '),
      ...(configuration.serverMetadata().claims_parameter_supported === true
        ? { claims: JSON.stringify({ id_token: { amr: null } }) }
        : {}),
    });
    const abort = new AbortController();
    const expiresAt = this.#now() + response.expires_in * 1000;
    const pending: PendingDevice = {
      abort,
      expiresAt,
      settled: undefined,
      outcome: (async (): Promise<OidcOutcome> => {
        try {
          const tokens = await oidc.pollDeviceAuthorizationGrant(configuration, response, undefined, {
            signal: abort.signal,
          });
          return await this.#identityFrom(configuration, tokens);
        } catch (err) {
          const code = (err as { error?: unknown }).error;
          if (code === 'expired_token' || abort.signal.aborted)
            return { ok: false, reason: 'device-code-expired', detail: 'the code was not used in time' };
          if (code === 'access_denied')
            return { ok: false, reason: 'provider-error', detail: 'the identity provider answered access_denied' };
          return { ok: false, reason: 'rejected-response', detail: describe(err) };
        }
      })(),
    };
    void pending.outcome.then((o) => (pending.settled = o));
    // The provider's own expiry ends the polling too; this is the bound when the provider never says so.
    setTimeout(() => abort.abort(), response.expires_in * 1000 + 5_000).unref();
    this.#sweepDevices();
    if (this.#devices.size >= MAX_PENDING) this.#dropDevice(this.#devices.keys().next().value!);
    const handle = randomBytes(32).toString('base64url');
    this.#devices.set(handle, pending);
    return {
      handle,
      userCode: response.user_code,
      verificationUri: response.verification_uri,
      ...(response.verification_uri_complete !== undefined
        ? { verificationUriComplete: response.verification_uri_complete }
        : {}),
      expiresInSeconds: response.expires_in,
    };
  }

  /**
   * The outcome of a device sign-in, waiting at most `waitMs` for the person to finish: 'pending' while they have not,
   * the outcome once (a handle is used once), 'unknown' for a handle this node did not hand out or already used.
   */
  async pollDevice(handle: string, waitMs: number): Promise<OidcOutcome | 'pending' | 'unknown'> {
    const pending = this.#devices.get(handle);
    if (pending === undefined) return 'unknown';
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([pending.outcome, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    const settled = pending.settled ?? (await Promise.race([pending.outcome, Promise.resolve(undefined)]));
    if (settled === undefined) return 'pending';
    // Two terminals polling with one handle: only the first gets the outcome, so one sign-in makes one session.
    if (this.#devices.get(handle) !== pending) return 'unknown';
    this.#devices.delete(handle);
    return settled;
  }

  #dropDevice(handle: string): void {
    this.#devices.get(handle)?.abort.abort();
    this.#devices.delete(handle);
  }

  #sweepDevices(): void {
    const now = this.#now();
    for (const [handle, p] of this.#devices) if (p.expiresAt + 60_000 <= now) this.#dropDevice(handle);
  }

  /** Stops every device sign-in still polling the provider (the node is stopping). */
  close(): void {
    for (const p of this.#devices.values()) p.abort.abort();
    this.#devices.clear();
  }

  /** The identity in a token response: the ID token decides who and how; userinfo only fills in profile claims. */
  async #identityFrom(
    configuration: Oidc.Configuration,
    tokens: Oidc.TokenEndpointResponse & Oidc.TokenEndpointResponseHelpers,
  ): Promise<OidcOutcome> {
    const idClaims = tokens.claims();
    if (idClaims === undefined)
      return { ok: false, reason: 'rejected-response', detail: 'no ID token in the token response' };
    const missing = [
      this.#s.claims.name,
      this.#s.claims.groups,
      this.#s.claims.username,
      this.#s.claims.uziRoleCode,
    ].some((c) => c !== undefined && !(c in idClaims));
    const userInfo =
      missing && configuration.serverMetadata().userinfo_endpoint !== undefined
        ? await (await import('openid-client')).fetchUserInfo(configuration, tokens.access_token, idClaims.sub)
        : {};
    return identityOf(this.#s, { ...userInfo, ...idClaims });
  }

  #config(): Promise<Oidc.Configuration> {
    this.#configuration ??= (async () => {
      const oidc = await import('openid-client');
      const fetch = fetchTrusting(this.#s.ca);
      const configuration = await oidc.discovery(
        new URL(this.#s.issuer),
        this.#s.clientId,
        { redirect_uris: [this.#s.redirectUri], response_types: ['code'] },
        oidc.ClientSecretBasic(this.#s.clientSecret),
        {
          [oidc.customFetch]: fetch,
        },
      );
      configuration[oidc.customFetch] = fetch;
      configuration.timeout = 10;
      oidc.enableNonRepudiationChecks(configuration);
      return configuration;
    })();
    // Not cached when it failed: the next sign-in tries the identity provider again.
    this.#configuration.catch(() => (this.#configuration = undefined));
    return this.#configuration;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [state, p] of this.#pending) if (p.expiresAt <= now) this.#pending.delete(state);
  }
}

function describe(err: unknown): string {
  // openid-client's messages name the check that failed (issuer, audience, nonce, signature...), never a token.
  const e = err as { message?: unknown; code?: unknown; error?: unknown };
  return (
    [e.code, e.error, e.message]
      .filter((x) => typeof x === 'string')
      .join(': ')
      .slice(0, 300) || String(err).slice(0, 300)
  );
}

/**
 * A fetch that trusts the configured CA (Node's own fetch takes no CA option) and caps the answer's size. No
 * redirects are followed: openid-client asks for none.
 */
function fetchTrusting(ca: string | Buffer | undefined): Oidc.CustomFetch {
  return (url, options) =>
    new Promise<Response>((resolve, reject) => {
      const body = options.body;
      if (body instanceof ReadableStream)
        return reject(new Error('streamed request bodies are not used with the identity provider'));
      const payload =
        body === undefined || body === null
          ? undefined
          : body instanceof URLSearchParams
            ? body.toString()
            : typeof body === 'string'
              ? body
              : Buffer.from(body instanceof ArrayBuffer ? new Uint8Array(body) : body);
      const req = request(
        url,
        {
          method: options.method,
          headers: options.headers,
          ...(ca !== undefined ? { ca } : {}),
          ...(options.signal !== undefined ? { signal: options.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES)
              return res.destroy(
                new Error(
                  `the identity provider's answer from ${new URL(url).pathname} is larger than ${MAX_RESPONSE_BYTES} bytes`,
                ),
              );
            chunks.push(chunk);
          });
          res.on('error', reject);
          res.on('end', () => {
            const headers = new Headers();
            for (const [k, v] of Object.entries(res.headers))
              for (const value of [v ?? []].flat()) headers.append(k, value);
            const status = res.statusCode ?? 502;
            resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers }));
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
}
