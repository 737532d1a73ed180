/**
 * Signed claims between nodes (receipts, timeline requests) as compact JWS (RFC 7515), made and checked with `jose`.
 * The signer's certificate chain travels in `x5c` (leaf first, then the intermediate CAs), so whoever checks a signature
 * needs only the root it already trusts for mutual TLS, now and years later. jose checks the signature; which
 * certificate may sign is decided here, against our CA file only (jose does not validate x5c chains).
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { CompactSign, compactVerify, decodeProtectedHeader, errors } from 'jose';
import { certificatesOf, chainProblem } from './certificate-identity.ts';

/** The one algorithm a key signs with: ES256 for EC P-256 keys (the test PKI's), RS256 for RSA keys (UZI server certificates). */
function algorithmFor(key: KeyObject): 'ES256' | 'RS256' {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  throw new Error(`node signatures use EC P-256 or RSA keys, not ${key.asymmetricKeyType ?? 'unknown'}`);
}

/** A chain longer than this is not a healthcare PKI's (root, domain CA, issuing CA, leaf). */
const MAX_X5C = 5;

/** Signs claims with the node's own key; `certPem` is the node certificate file, its intermediates included. */
export async function signJws(
  claims: unknown,
  typ: string,
  node: { keyPem: string | Buffer; certPem: string | Buffer },
): Promise<string> {
  const key = createPrivateKey(node.keyPem);
  const chain = certificatesOf(node.certPem);
  if (chain.length === 0) throw new Error('the node certificate file holds no certificate');
  return new CompactSign(Buffer.from(JSON.stringify(claims), 'utf8'))
    .setProtectedHeader({ alg: algorithmFor(key), typ, x5c: chain.map((c) => c.raw.toString('base64')) })
    .sign(key);
}

export type JwsVerification = { ok: true; claims: unknown; signer: X509Certificate } | { ok: false; reason: string };

/**
 * Checks a compact JWS: well formed, of the expected `typ`, its `x5c` chain leading to a certificate of `caPem`
 * (intermediates accepted, only the CA file trusted), and signed by the key of the first `x5c` certificate with the
 * algorithm that key has. The claims come back unvalidated: the caller checks their shape.
 */
export async function verifyJws(jws: string, typ: string, caPem: string | Buffer): Promise<JwsVerification> {
  if (jws.split('.').length !== 3) return { ok: false, reason: 'not a compact JWS' };
  try {
    const header = decodeProtectedHeader(jws);
    if (header.typ !== typ) return { ok: false, reason: `not a ${typ} (typ ${String(header.typ)})` };
    const x5c = header.x5c;
    if (!Array.isArray(x5c) || x5c.length === 0) return { ok: false, reason: 'no signer certificate' };
    if (x5c.length > MAX_X5C) return { ok: false, reason: 'the certificate chain is too long' };
    const [signer, ...intermediates] = x5c.map((der) => new X509Certificate(Buffer.from(der, 'base64')));
    if (signer === undefined) return { ok: false, reason: 'no signer certificate' };
    const problem = chainProblem(signer, intermediates, certificatesOf(caPem));
    if (problem !== undefined) return { ok: false, reason: problem };
    const alg = algorithmFor(signer.publicKey);
    if (header.alg !== alg) return { ok: false, reason: `algorithm ${String(header.alg)} does not fit the signer key` };
    const { payload } = await compactVerify(jws, signer.publicKey, { algorithms: [alg] });
    return { ok: true, claims: JSON.parse(Buffer.from(payload).toString('utf8')) as unknown, signer };
  } catch (err) {
    if (err instanceof errors.JWSSignatureVerificationFailed)
      return { ok: false, reason: 'the signature does not match' };
    return { ok: false, reason: `unreadable: ${(err as Error).message}` };
  }
}
