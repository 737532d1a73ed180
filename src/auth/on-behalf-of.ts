import { createPublicKey, type KeyObject } from 'node:crypto';
import { request } from 'node:https';
import { createRemoteJWKSet, customFetch, decodeJwt, errors, type JWTVerifyGetKey, jwtVerify } from 'jose';

/**
 * The signed assertion with which one of the hospital's own systems (a RIS, an EPD, by its certificate) acts for a
 * person: a JWT from the hospital's identity provider naming that person (`sub`, `name`, the UZI role code), for this
 * node (`aud`), recent (`iat` within the maximum age) and not expired. The signature is checked against a public key the
 * configuration trusts for the issuer; asymmetric algorithms only, so a key meant for verifying can never be used to
 * sign. The reason of a refusal goes to the log and the caller; the token itself never does.
 */
export type AssertionIssuer =
  | {
      issuer: string;
      /** The PEM public key (SPKI) the issuer signs with. */
      publicKeyPem: string;
    }
  | {
      issuer: string;
      /** Where the issuer publishes its signing keys (an OpenID provider's jwks_uri), https only; re-read on an unknown key id. */
      jwksUri: string;
      /** The CA of that server's certificate, when it is not a public one. */
      ca?: string;
    };

export interface OnBehalfOfOptions {
  issuers: readonly AssertionIssuer[];
  /** What `aud` must name: this node. */
  audience: string;
  maxAgeSeconds: number;
  /** The claim that carries the UZI role code. */
  roleCodeClaim: string;
  now?: () => Date;
}

export type CheckedAssertion =
  { ok: true; person: { id: string; name: string; roleCode?: string; issuer: string } } | { ok: false; reason: string };

const ASYMMETRIC = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

/** A checker of on-behalf-of assertions for the configured issuers. */
export function onBehalfOfVerifier(o: OnBehalfOfOptions): (jwt: string) => Promise<CheckedAssertion> {
  const keys = new Map<string, KeyObject | JWTVerifyGetKey>(
    o.issuers.map((i) => [
      i.issuer,
      'publicKeyPem' in i
        ? createPublicKey(i.publicKeyPem)
        : createRemoteJWKSet(new URL(i.jwksUri), { [customFetch]: fetchTrusting(i.ca), timeoutDuration: 5000 }),
    ]),
  );
  return async (jwt) => {
    if (jwt.length > 16_384) return { ok: false, reason: 'the assertion is too long' };
    let issuer: unknown;
    try {
      issuer = decodeJwt(jwt).iss;
    } catch {
      return { ok: false, reason: 'the assertion is not a JWT' };
    }
    const key = typeof issuer === 'string' ? keys.get(issuer) : undefined;
    if (key === undefined || typeof issuer !== 'string')
      return {
        ok: false,
        reason: `issuer ${JSON.stringify(issuer ?? null)} is not trusted (auth.assertions.trustedKeys)`,
      };
    try {
      const options = {
        issuer,
        audience: o.audience,
        maxTokenAge: o.maxAgeSeconds,
        requiredClaims: ['sub', 'iat', 'exp'],
        algorithms: ASYMMETRIC,
        clockTolerance: 30,
        ...(o.now !== undefined ? { currentDate: o.now() } : {}),
      };
      // Two calls, because jose types a key and a key-set function as different overloads.
      const { payload } =
        typeof key === 'function' ? await jwtVerify(jwt, key, options) : await jwtVerify(jwt, key, options);
      const name = payload['name'];
      const roleCode = payload[o.roleCodeClaim];
      if (typeof payload.sub !== 'string' || payload.sub === '' || typeof name !== 'string' || name === '')
        return { ok: false, reason: 'the assertion names no person (sub and name)' };
      if (roleCode !== undefined && typeof roleCode !== 'string')
        return { ok: false, reason: `claim ${o.roleCodeClaim} is not a string` };
      return { ok: true, person: { id: payload.sub, name, ...(roleCode !== undefined ? { roleCode } : {}), issuer } };
    } catch (err) {
      return { ok: false, reason: reasonOf(err) };
    }
  };
}

/** A fetch for the issuer's key set over node:https, so that a hospital's own CA can be trusted for it. */
function fetchTrusting(ca: string | undefined) {
  return (url: string, o: { headers: Headers; signal: AbortSignal }): Promise<Response> =>
    new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'GET',
          headers: Object.fromEntries(o.headers.entries()),
          signal: o.signal,
          ...(ca !== undefined ? { ca } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve(
              new Response(Buffer.concat(chunks), {
                status: res.statusCode ?? 502,
                headers: { 'content-type': String(res.headers['content-type'] ?? 'application/json') },
              }),
            ),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
}

function reasonOf(err: unknown): string {
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (err instanceof errors.JWTExpired)
    return err.claim === 'iat'
      ? 'claim iat: the assertion was issued too long ago (auth.assertions.maxAgeSeconds)'
      : 'the assertion has expired';
  if (err instanceof errors.JWTClaimValidationFailed)
    return `claim ${err.claim}: ${err.reason === 'check_failed' ? 'does not match' : err.reason}${err.claim === 'iat' ? ' (too old, or from the future)' : ''}`;
  if (err instanceof errors.JOSEAlgNotAllowed)
    return 'the signing algorithm is not allowed (asymmetric algorithms only)';
  if (err instanceof errors.JWKSNoMatchingKey) return "no key of the issuer's published key set matches the assertion";
  if (err instanceof errors.JWKSTimeout) return "the issuer's published key set could not be read in time";
  if (err instanceof errors.JOSEError) return `the assertion is not valid (${err.code})`;
  return 'the assertion cannot be checked';
}
