import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { DimsePeerConfig } from '../config/index.ts';

/** A configured peer with its host resolved to addresses once, at start. */
export interface AllowedPeer {
  aeTitle: string;
  addresses: readonly string[];
}

export type AdmissionDecision =
  | { accept: true; peer: AllowedPeer }
  | { accept: false; reason: 'calling-ae-not-recognized' | 'called-ae-not-recognized'; detail: string };

/** `::ffff:10.0.0.1` and `10.0.0.1` are the same peer. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * The allow-list decision, made before an association is accepted (PS3.8 7.1.1): the called AE title must be ours (or
 * one standing for a partner hospital, which the PACS sends to from its "send to" menu) and the calling AE title must be
 * configured together with the address it connects from. AE titles compare without their
 * space padding, case-sensitively (PS3.5 6.2: AE is case sensitive in practice for most PACS).
 */
export function admit(
  request: { callingAeTitle: string; calledAeTitle: string; remoteAddress: string },
  ourAeTitles: readonly string[],
  peers: readonly AllowedPeer[],
): AdmissionDecision {
  const called = request.calledAeTitle.trim();
  if (!ourAeTitles.some((ae) => ae.trim() === called)) {
    return { accept: false, reason: 'called-ae-not-recognized', detail: `called AE title ${JSON.stringify(called)} is not ours` };
  }
  const calling = request.callingAeTitle.trim();
  const address = normalizeAddress(request.remoteAddress);
  const peer = peers.find((p) => p.aeTitle === calling && p.addresses.includes(address));
  if (peer === undefined) {
    const sameAe = peers.some((p) => p.aeTitle === calling);
    return {
      accept: false,
      reason: 'calling-ae-not-recognized',
      detail: sameAe ? `AE title ${JSON.stringify(calling)} is allowed, but not from ${address}` : `AE title ${JSON.stringify(calling)} is not on the allow-list`,
    };
  }
  return { accept: true, peer };
}

/** Resolves each configured host once; a host that does not resolve is a start-up error rather than a silent gap. */
export async function resolvePeers(peers: readonly DimsePeerConfig[]): Promise<AllowedPeer[]> {
  return Promise.all(
    peers.map(async (p) => {
      if (isIP(p.host) !== 0) return { aeTitle: p.aeTitle.trim(), addresses: [normalizeAddress(p.host)] };
      const found = await lookup(p.host, { all: true });
      return { aeTitle: p.aeTitle.trim(), addresses: found.map((a) => normalizeAddress(a.address)) };
    }),
  );
}
