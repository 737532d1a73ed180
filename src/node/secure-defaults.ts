import { isIP } from 'node:net';
import type { Config } from '../config/index.ts';

/** One reason the node will not start as configured, with the key to look at and what to do about it. */
export interface InsecureSetting {
  key: string;
  problem: string;
  fix: string;
}

/** 127.0.0.0/8, ::1 and localhost: only processes on this machine reach a port bound there. */
export function isLoopback(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * Why a peer's host stands for no one machine: a wildcard (0.0.0.0, ::), a broadcast or multicast address, a pattern.
 * An allow-list entry is one AE title at one machine; these would let any machine, or the node itself, pass as the peer.
 */
export function wildcardHost(host: string): string | undefined {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  if (/[*?/]/.test(h)) return 'a pattern or network range, not one host';
  // inet_aton reads "0", "0.0" or "0x0" as 0.0.0.0: a number is an address only when written in full.
  if (/^[0-9x.]+$/.test(h) && isIP(h) === 0)
    return 'a number that is not an address written in full (the resolver may read it as 0.0.0.0)';
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    if (a === 0) return 'the wildcard address ("this network", any interface)';
    if (a === 255 && b === 255 && c === 255 && d === 255) return 'the broadcast address';
    if (a !== undefined && a >= 224 && a <= 239) return 'a multicast address';
    return undefined;
  }
  if (h.includes(':')) {
    if (/^[0:]+$/.test(h)) return 'the wildcard address (any interface)';
    if (h.startsWith('ff')) return 'a multicast address';
  }
  return undefined;
}

/**
 * What makes a configuration unsafe to run: the 2019-2025 scans found PACS servers that answered anyone, over plain
 * DICOM and HTTP, on every interface. The node refuses these at start (the encryption and audit keys are checked as
 * they are read); `beeldbrug doctor` reports them too, beside what it finds by probing.
 */
export function insecureSettings(config: Readonly<Config>, o: { admins: number }): InsecureSetting[] {
  const found: InsecureSetting[] = [];
  for (const [i, l] of config.dimse.listeners.entries()) {
    if (l.tls !== undefined || isLoopback(l.host) || l.plainDicom !== undefined) continue;
    found.push({
      key: `dimse.listeners[${i}]`,
      problem: `DICOM on ${l.host}:${l.port} without TLS: anyone on that network reads the images and patient names as they pass`,
      fix: 'add tls (certFile, keyFile, caFile) to this listener; for a modality or PACS that cannot speak DICOM TLS, bind a separate listener to the interface of that network and state why in plainDicom.reason',
    });
  }
  const hl7 = config.hl7;
  if (hl7 !== undefined && hl7.tls === undefined && !isLoopback(hl7.listen.host) && hl7.plainHl7 === undefined)
    found.push({
      key: 'hl7.listen',
      problem: `HL7 on ${hl7.listen.host}:${hl7.listen.port} without TLS: anyone on that network reads the orders and the patients' BSNs as they pass`,
      fix: 'add tls (certFile, keyFile, caFile) to hl7; for a RIS that cannot speak TLS, bind the listener to the interface of its network and state why in hl7.plainHl7.reason',
    });
  for (const [i, s] of (hl7?.senders ?? []).entries()) {
    const why = wildcardHost(s.host);
    if (why !== undefined)
      found.push({
        key: `hl7.senders[${i}].host`,
        problem: `an HL7 sender has host ${s.host}, ${why}: the allow-list would not tie it to a machine`,
        fix: 'name the one address or host name the RIS (or integration engine) connects from',
      });
  }
  for (const [i, p] of config.dimse.peers.entries()) {
    const why = wildcardHost(p.host);
    if (why === undefined) continue;
    found.push({
      key: `dimse.peers[${i}].host`,
      problem: `the peer ${p.aeTitle.trim()} has host ${p.host}, ${why}: the allow-list would not tie that AE title to a machine`,
      fix: `name the one address or host name ${p.aeTitle.trim()} connects from; list the AE title once per machine when it has several`,
    });
  }
  const exchange = config.exchange;
  if (exchange !== undefined) {
    if (exchange.partners.length === 0) {
      found.push({
        key: 'exchange.partners',
        problem: 'the node-to-node routes are on but the trust list is empty',
        fix: 'name the partner organizations (URA and name) that may call this node, or remove the exchange section',
      });
    }
    if (o.admins === 0) {
      found.push({
        key: 'accounts',
        problem: 'the HTTPS listener is on but the node has no admin account',
        fix: 'create the first admin: beeldbrug user add --config FILE --username NAME --name "FULL NAME" --role admin',
      });
    }
  }
  return found;
}

/**
 * The peers whose host name resolved to an address that stands for no one machine (a DNS entry pointing at 0.0.0.0):
 * checked once the names are resolved at start, as the configuration alone cannot show it.
 */
export function insecureResolvedPeers(
  config: Readonly<Config>,
  resolved: readonly { aeTitle: string; addresses: readonly string[] }[],
): InsecureSetting[] {
  return config.dimse.peers.flatMap((p, i) => {
    const address = resolved[i]?.addresses.find((a) => wildcardHost(a) !== undefined);
    if (address === undefined || wildcardHost(p.host) !== undefined) return [];
    return [
      {
        key: `dimse.peers[${i}].host`,
        problem: `the peer ${p.aeTitle.trim()} has host ${p.host}, which resolves to ${address}, ${wildcardHost(address) ?? ''}`,
        fix: `name the one address or host name ${p.aeTitle.trim()} connects from, or correct that name in DNS`,
      },
    ];
  });
}

/** The refusal as an operator reads it: each problem on its own line, with its fix. */
export function describeInsecure(found: readonly InsecureSetting[]): string {
  return [
    `the node will not start in this configuration (${found.length} ${found.length === 1 ? 'problem' : 'problems'}):`,
    ...found.map((f) => `  - ${f.key}: ${f.problem}.\n    Fix: ${f.fix}.`),
  ].join('\n');
}
