import type { X509Certificate } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { organizationOf } from '../auth/index.ts';
import type { DimsePeerConfig } from '../config/index.ts';

export type CertificateBinding = NonNullable<DimsePeerConfig['certificate']>;

/** A configured peer with its host resolved to addresses once, at start. */
export interface AllowedPeer {
  aeTitle: string;
  addresses: readonly string[];
  /** The TLS client certificate this peer must present (dimse.peers[].certificate). */
  certificate?: CertificateBinding;
}

export type AdmissionDecision =
  | { accept: true; peer: AllowedPeer }
  | {
      accept: false;
      reason: 'calling-ae-not-recognized' | 'called-ae-not-recognized';
      detail: string;
      code?: 'PEER_CERTIFICATE_MISMATCH';
    };

export interface AdmissionRequest {
  callingAeTitle: string;
  calledAeTitle: string;
  remoteAddress: string;
  /** Whether the association came in on a DICOM TLS port. */
  tls?: boolean;
  /** The client certificate the TLS stack verified against the listener's CA (chain included). */
  peerCertificate?: X509Certificate;
}

/** A subject as "K=v" parts, so "C=NL,O=X,CN=y", "C = NL, O = X, CN = y" and node's multi-line form compare equal. */
function subjectParts(subject: string): string[] {
  return subject
    .split(/\s*[,\n]\s*(?=[A-Za-z][\w.]*\s*=)/)
    .map((part) => part.replace(/^\s*([^=]+?)\s*=\s*/, '$1=').trim())
    .filter((part) => part !== '')
    .sort();
}

const fingerprint = (hex: string): string => hex.replaceAll(':', '').toUpperCase();

/**
 * Whether a verified client certificate may stand for a peer (PS3.15 B.9 authenticates the node; this decides which
 * node). A bound peer must show every bound field. An unbound peer on a TLS port must show a certificate of our own
 * organization: a PACS or modality of this hospital. A certificate of another organization, or one that names no
 * organization, gets in only through a binding that names it, so a certificate the trusted CA issued to someone else
 * cannot borrow an allow-listed AE title. Returns the reason to refuse, or undefined.
 */
export function certificateProblem(
  peer: AllowedPeer,
  tls: boolean,
  cert: X509Certificate | undefined,
  ownUra: string,
): string | undefined {
  const binding = peer.certificate;
  if (!tls)
    return binding !== undefined
      ? `AE title ${JSON.stringify(peer.aeTitle)} is bound to a certificate and must use a DICOM TLS port`
      : undefined;
  if (cert === undefined) return 'no client certificate';
  const ura = organizationOf(cert)?.ura;
  if (binding === undefined) {
    const foreign = notOurOrganization(cert, ownUra);
    return foreign === undefined
      ? undefined
      : `${foreign}; bind AE title ${JSON.stringify(peer.aeTitle)} to it (dimse.peers[].certificate) to accept it`;
  }
  if (binding.ura !== undefined && ura !== binding.ura) {
    return `AE title ${JSON.stringify(peer.aeTitle)} is bound to URA ${binding.ura}; the certificate ${ura === undefined ? 'names no organization' : `is of URA ${ura}`}`;
  }
  if (
    binding.subject !== undefined &&
    subjectParts(binding.subject).join(',') !== subjectParts(cert.subject).join(',')
  ) {
    return `AE title ${JSON.stringify(peer.aeTitle)} is bound to subject ${JSON.stringify(binding.subject)}; the certificate is ${JSON.stringify(cert.subject.replaceAll('\n', ','))}`;
  }
  if (binding.sha256 !== undefined && fingerprint(binding.sha256) !== fingerprint(cert.fingerprint256)) {
    return `AE title ${JSON.stringify(peer.aeTitle)} is bound to another certificate (SHA-256 ${cert.fingerprint256} presented)`;
  }
  return undefined;
}

/**
 * The check of a server certificate when the node connects to a configured peer over DICOM TLS (a C-MOVE destination,
 * the PACS it fetches from or forwards into): the same rules as for a peer that connects to us, so a bound peer must
 * show its bound certificate and an unbound one a certificate of our own organization. Checked before the
 * association request, so a server that is not the peer receives nothing.
 */
export function peerCertificateCheck(
  peer: Pick<DimsePeerConfig, 'aeTitle' | 'certificate'>,
  ownUra: string,
): (certificate: X509Certificate) => string | undefined {
  const allowed: AllowedPeer = {
    aeTitle: peer.aeTitle.trim(),
    addresses: [],
    ...(peer.certificate !== undefined ? { certificate: peer.certificate } : {}),
  };
  return (certificate) => certificateProblem(allowed, true, certificate, ownUra);
}

/** Why a certificate is not one of our own organization (its URA), or undefined when it is: our PACS, our RIS. */
export function notOurOrganization(cert: X509Certificate, ownUra: string): string | undefined {
  const ura = organizationOf(cert)?.ura;
  if (ura === ownUra) return undefined;
  return `the certificate ${ura === undefined ? 'names no organization' : `is of URA ${ura}, not ours`}`;
}

/** `::ffff:10.0.0.1` and `10.0.0.1` are the same peer. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * The allow-list decision, made before an association is accepted (PS3.8 7.1.1): the called AE title must be ours (or
 * one standing for a partner hospital, which the PACS sends to from its "send to" menu) and the calling AE title must be
 * configured together with the address it connects from; on a DICOM TLS port, its certificate must then fit the peer
 * (certificateProblem). AE titles compare without their space padding, case-sensitively (PS3.5 6.2: AE is case sensitive in practice for most PACS).
 */
export function admit(
  request: AdmissionRequest,
  ourAeTitles: readonly string[],
  peers: readonly AllowedPeer[],
  ownUra: string,
  /** Called AE titles only some peers may call (the virtual PACS: the PACS, not every modality), by AE title. */
  callersOf: ReadonlyMap<string, readonly string[]> = new Map(),
): AdmissionDecision {
  const called = request.calledAeTitle.trim();
  if (!ourAeTitles.some((ae) => ae.trim() === called)) {
    return {
      accept: false,
      reason: 'called-ae-not-recognized',
      detail: `called AE title ${JSON.stringify(called)} is not ours`,
    };
  }
  const calling = request.callingAeTitle.trim();
  const address = normalizeAddress(request.remoteAddress);
  const peer = peers.find((p) => p.aeTitle === calling && p.addresses.includes(address));
  if (peer === undefined) {
    const sameAe = peers.some((p) => p.aeTitle === calling);
    return {
      accept: false,
      reason: 'calling-ae-not-recognized',
      detail: sameAe
        ? `AE title ${JSON.stringify(calling)} is allowed, but not from ${address}`
        : `AE title ${JSON.stringify(calling)} is not on the allow-list`,
    };
  }
  const problem = certificateProblem(peer, request.tls === true, request.peerCertificate, ownUra);
  if (problem !== undefined)
    return { accept: false, reason: 'calling-ae-not-recognized', detail: problem, code: 'PEER_CERTIFICATE_MISMATCH' };
  const callers = callersOf.get(called);
  if (callers !== undefined && !callers.includes(calling))
    return {
      accept: false,
      reason: 'calling-ae-not-recognized',
      detail: `AE title ${JSON.stringify(calling)} may not call ${JSON.stringify(called)}`,
    };
  return { accept: true, peer };
}

/** Resolves each configured host once; a host that does not resolve is a start-up error rather than a silent gap. */
export async function resolvePeers(peers: readonly DimsePeerConfig[]): Promise<AllowedPeer[]> {
  return Promise.all(
    peers.map(async (p) => ({
      aeTitle: p.aeTitle.trim(),
      addresses: await addressesOf(p.host),
      ...(p.certificate !== undefined ? { certificate: p.certificate } : {}),
    })),
  );
}

/** Every address of these hosts (as resolvePeers resolves them), e.g. the HL7 senders' allow-list. */
export async function resolveHosts(hosts: readonly string[]): Promise<Set<string>> {
  return new Set((await Promise.all(hosts.map(addressesOf))).flat());
}

async function addressesOf(host: string): Promise<string[]> {
  if (isIP(host) !== 0) return [normalizeAddress(host)];
  return (await lookup(host, { all: true })).map((a) => normalizeAddress(a.address));
}
