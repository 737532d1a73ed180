import { createPrivateKey, createPublicKey, type KeyObject, sign, verify, X509Certificate } from 'node:crypto';

const b64url = (b: Buffer): string => b.toString('base64url');

function algorithmFor(key: KeyObject): { alg: 'ES256' | 'RS256'; dsaEncoding?: 'ieee-p1363' } {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { alg: 'ES256', dsaEncoding: 'ieee-p1363' };
  if (key.asymmetricKeyType === 'rsa') return { alg: 'RS256' };
  throw new Error(`node signatures use EC P-256 or RSA keys, not ${key.asymmetricKeyType ?? 'unknown'}`);
}

/**
 * Signs claims as a compact JWS (RFC 7515) with the node's own key. The node certificate travels in `x5c`, so whoever
 * checks it needs only the CA it already trusts for mutual TLS, now and years later.
 */
export function signJws(claims: unknown, typ: string, node: { keyPem: string | Buffer; certPem: string | Buffer }): string {
  const key = createPrivateKey(node.keyPem);
  const { alg, dsaEncoding } = algorithmFor(key);
  const header = { alg, typ, x5c: [new X509Certificate(node.certPem).raw.toString('base64')] };
  const input = `${b64url(Buffer.from(JSON.stringify(header)))}.${b64url(Buffer.from(JSON.stringify(claims)))}`;
  const signature = sign('sha256', Buffer.from(input), { key, ...(dsaEncoding !== undefined ? { dsaEncoding } : {}) });
  return `${input}.${b64url(signature)}`;
}

export type JwsVerification = { ok: true; claims: unknown; signer: X509Certificate } | { ok: false; reason: string };

/**
 * Checks a compact JWS: well formed, of the expected `typ`, signed by the key of its `x5c` certificate, and that
 * certificate issued by `caPem`. The claims come back unvalidated: the caller checks their shape.
 */
export function verifyJws(jws: string, typ: string, caPem: string | Buffer): JwsVerification {
  const [h, p, s, ...rest] = jws.split('.');
  if (h === undefined || p === undefined || s === undefined || rest.length > 0) return { ok: false, reason: 'not a compact JWS' };
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: string; typ?: string; x5c?: string[] };
    if (header.typ !== typ) return { ok: false, reason: `not a ${typ} (typ ${String(header.typ)})` };
    const der = header.x5c?.[0];
    if (der === undefined) return { ok: false, reason: 'no signer certificate' };
    const signer = new X509Certificate(Buffer.from(der, 'base64'));
    const ca = new X509Certificate(caPem);
    if (!signer.checkIssued(ca) || !signer.verify(ca.publicKey)) return { ok: false, reason: 'the signer certificate is not issued by the trusted CA' };
    const now = Date.now();
    if (now < Date.parse(signer.validFrom) || now > Date.parse(signer.validTo)) return { ok: false, reason: 'the signer certificate is not valid now' };
    const key = createPublicKey(signer.publicKey.export({ type: 'spki', format: 'pem' }));
    const { alg, dsaEncoding } = algorithmFor(key);
    if (header.alg !== alg) return { ok: false, reason: `algorithm ${String(header.alg)} does not fit the signer key` };
    const valid = verify('sha256', Buffer.from(`${h}.${p}`), { key, ...(dsaEncoding !== undefined ? { dsaEncoding } : {}) }, Buffer.from(s, 'base64url'));
    if (!valid) return { ok: false, reason: 'the signature does not match' };
    return { ok: true, claims: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as unknown, signer };
  } catch (err) {
    return { ok: false, reason: `unreadable: ${(err as Error).message}` };
  }
}
