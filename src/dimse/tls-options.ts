/**
 * DICOM TLS (PS3.15 B.9, BCP 195 profile): TLS 1.2 or newer, ECDHE key exchange with AEAD ciphers only, and mutual
 * authentication: the server requires a client certificate signed by the configured CA.
 */
import type { X509Certificate } from 'node:crypto';
import type { PeerCertificate, SecureContextOptions, TLSSocket } from 'node:tls';

export interface TlsOptions {
  key: string | Buffer;
  cert: string | Buffer;
  ca: string | Buffer;
  /**
   * For a connection we open: whether the server certificate (its chain already verified against `ca`) is the peer we
   * meant; the reason to refuse it, or undefined. Checked before the A-ASSOCIATE-RQ, so a wrong peer gets nothing.
   */
  verifyPeer?: (certificate: X509Certificate) => string | undefined;
}

/** TLS 1.2 suites allowed by BCP 195; TLS 1.3 suites are all AEAD and stay enabled. */
export const Bcp195Ciphers = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export function secureContextOptions(o: TlsOptions): SecureContextOptions {
  return { key: o.key, cert: o.cert, ca: o.ca, minVersion: 'TLSv1.2', ciphers: Bcp195Ciphers, honorCipherOrder: true };
}

function dn(subject: PeerCertificate['subject'] | undefined): string | undefined {
  if (subject === undefined || subject === null) return undefined;
  const parts = Object.entries(subject).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`);
  return parts.length > 0 ? parts.join(',') : undefined;
}

/** The verified peer certificate's subject as "C=..,O=..,CN=..", or undefined without one. */
export function peerCertificateSubject(socket: TLSSocket): string | undefined {
  const cert = socket.getPeerCertificate();
  if (cert === null || typeof cert !== 'object' || Object.keys(cert).length === 0) return undefined;
  return dn(cert.subject);
}
