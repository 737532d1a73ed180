import { createPrivateKey, createPublicKey, type KeyObject, sign, verify, X509Certificate } from 'node:crypto';

/** What a receiving node attests when a transfer is complete (docs/exchange-protocol.md, step 3). */
export interface ReceiptClaims {
  transferId: string;
  studyInstanceUid: string;
  instances: { sopInstanceUid: string; sha256: string }[];
  receivedAt: string;
  receiver: { ura: string; name: string };
  sender: { ura: string };
}

const b64url = (b: Buffer): string => b.toString('base64url');

function algorithmFor(key: KeyObject): { alg: 'ES256' | 'RS256'; dsaEncoding?: 'ieee-p1363' } {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { alg: 'ES256', dsaEncoding: 'ieee-p1363' };
  if (key.asymmetricKeyType === 'rsa') return { alg: 'RS256' };
  throw new Error(`receipts are signed with EC P-256 or RSA keys, not ${key.asymmetricKeyType ?? 'unknown'}`);
}

/**
 * Signs a receipt as a compact JWS (RFC 7515) with the node's own key; the node certificate travels in `x5c`, so the
 * sender can check the signature against the CA it already trusts for mutual TLS, now and years later.
 */
export function signReceipt(claims: ReceiptClaims, node: { keyPem: string | Buffer; certPem: string | Buffer }): string {
  const key = createPrivateKey(node.keyPem);
  const { alg, dsaEncoding } = algorithmFor(key);
  const header = { alg, typ: 'beeldbrug-receipt+jwt', x5c: [new X509Certificate(node.certPem).raw.toString('base64')] };
  const input = `${b64url(Buffer.from(JSON.stringify(header)))}.${b64url(Buffer.from(JSON.stringify(claims)))}`;
  const signature = sign('sha256', Buffer.from(input), { key, ...(dsaEncoding !== undefined ? { dsaEncoding } : {}) });
  return `${input}.${b64url(signature)}`;
}

/** Checks a receipt: well formed, signed by the key of its certificate, and that certificate issued by `caPem`. */
export function verifyReceipt(jws: string, caPem: string | Buffer): { ok: true; claims: ReceiptClaims; signer: X509Certificate } | { ok: false; reason: string } {
  const [h, p, s, ...rest] = jws.split('.');
  if (h === undefined || p === undefined || s === undefined || rest.length > 0) return { ok: false, reason: 'not a compact JWS' };
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: string; x5c?: string[] };
    const der = header.x5c?.[0];
    if (der === undefined) return { ok: false, reason: 'no signer certificate' };
    const signer = new X509Certificate(Buffer.from(der, 'base64'));
    const ca = new X509Certificate(caPem);
    if (!signer.checkIssued(ca) || !signer.verify(ca.publicKey)) return { ok: false, reason: 'the signer certificate is not issued by the trusted CA' };
    const key = createPublicKey(signer.publicKey.export({ type: 'spki', format: 'pem' }));
    const { alg, dsaEncoding } = algorithmFor(key);
    if (header.alg !== alg) return { ok: false, reason: `algorithm ${String(header.alg)} does not fit the signer key` };
    const valid = verify('sha256', Buffer.from(`${h}.${p}`), { key, ...(dsaEncoding !== undefined ? { dsaEncoding } : {}) }, Buffer.from(s, 'base64url'));
    if (!valid) return { ok: false, reason: 'the signature does not match' };
    return { ok: true, claims: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as ReceiptClaims, signer };
  } catch (err) {
    return { ok: false, reason: `unreadable: ${(err as Error).message}` };
  }
}
