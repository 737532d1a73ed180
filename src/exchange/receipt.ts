import type { X509Certificate } from 'node:crypto';
import { signJws, verifyJws } from '../auth/index.ts';

/** What a receiving node attests when a transfer is complete (docs/exchange-protocol.md, step 3). */
export interface ReceiptClaims {
  transferId: string;
  studyInstanceUid: string;
  instances: { sopInstanceUid: string; sha256: string }[];
  receivedAt: string;
  receiver: { ura: string; name: string };
  sender: { ura: string };
}

const RECEIPT_TYPE = 'beeldbrug-receipt+jwt';

/** Signs a receipt as a compact JWS with the receiving node's key, its certificate in `x5c`. */
export function signReceipt(
  claims: ReceiptClaims,
  node: { keyPem: string | Buffer; certPem: string | Buffer },
): Promise<string> {
  return signJws(claims, RECEIPT_TYPE, node);
}

/** Checks a receipt: well formed, signed by the key of its certificate, and that certificate chaining to `caPem`. */
export async function verifyReceipt(
  jws: string,
  caPem: string | Buffer,
): Promise<{ ok: true; claims: ReceiptClaims; signer: X509Certificate } | { ok: false; reason: string }> {
  const checked = await verifyJws(jws, RECEIPT_TYPE, caPem);
  // The receipt's shape is ours and signed by a node of the network; the sender compares its fields to what it sent.
  return checked.ok ? { ok: true, claims: checked.claims as ReceiptClaims, signer: checked.signer } : checked;
}
