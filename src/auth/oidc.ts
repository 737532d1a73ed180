import { request } from 'node:https';
import * as oidc from 'openid-client';
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
      reason: 'unknown-state' | 'provider-error' | 'rejected-response' | 'no-role' | 'provider-unreachable';
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
 */
export class OidcSignIn {
  readonly #s: OidcSettings;
  readonly #pending = new Map<string, Pending>();
  readonly #now: () => number;
  #configuration: Promise<oidc.Configuration> | undefined;

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
    let configuration: oidc.Configuration;
    try {
      configuration = await this.#config();
    } catch (err) {
      return { ok: false, reason: 'provider-unreachable', detail: describe(err) };
    }
    try {
      const tokens = await oidc.authorizationCodeGrant(configuration, callback, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedNonce: pending.nonce,
        expectedState: state,
      });
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
          ? await oidc.fetchUserInfo(configuration, tokens.access_token, idClaims.sub)
          : {};
      // The ID token decides who it is and how they signed in; userinfo only fills in profile claims.
      return identityOf(this.#s, { ...userInfo, ...idClaims });
    } catch (err) {
      return { ok: false, reason: 'rejected-response', detail: describe(err) };
    }
  }

  #config(): Promise<oidc.Configuration> {
    this.#configuration ??= (async () => {
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
function fetchTrusting(ca: string | Buffer | undefined): oidc.CustomFetch {
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
