/**
 * Which healthcare organization a certificate names, read the way Dutch healthcare certificates carry the URA number,
 * and chain checks that accept intermediate CAs up to a configured root.
 *
 * Where the URA is (checked December 2026):
 * - UZI-register server certificates (issued under the PKIoverheid "Private Services" G1 root, so this is also the
 *   shape of the PKIoverheid private-services certificates of healthcare providers): a subjectAltName otherName of
 *   type-id 2.5.5.5 whose value is an IA5String "<OID CA>-<version>-<UZI number>-<card type>-<subscriber number>-
 *   <role code>-<AGB code>"; the subscriber number (abonneenummer) is the URA. Sources: UZI-register CPS, section
 *   "SubjectAltName.otherName" of "CA model, Pasmodel, Certificaat- en CRL-profielen Zorg CSP" (zorgcsp.nl), and the
 *   Nuts specification "Validating a UziServerCertificateCredential", which quotes the same layout. The subject's
 *   serialNumber of those certificates is the UZI number of the certificate holder, not the URA, so it is not read.
 * - Subject organizationIdentifier (X.520, 2.5.4.97) "URA-<8 digits>": the form earlier versions of `beeldbrug pki`
 *   wrote. No public CA writes a URA there (ETSI EN 319 412-1 schemes such as "NTRNL-" carry a KvK number), so it
 *   cannot be confused with a real identifier of another kind.
 * A certificate that names two different URA numbers names none: it is refused rather than guessed at.
 */
import { X509Certificate } from 'node:crypto';
import * as der from './der.ts';

export interface Organization {
  name: string;
  /** The URA number (UZI register), 8 digits. */
  ura: string;
}

export const UZI_OTHER_NAME_OID = '2.5.5.5';
const SUBJECT_ALT_NAME_OID = '2.5.29.17';
const URA_PREFIX = 'URA-';

function subjectFields(cert: X509Certificate): Map<string, string> {
  return new Map(
    cert.subject
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const),
  );
}

/** The otherName values of the subjectAltName extension, as [type-id, text] pairs (IA5String or UTF8String values). */
export function otherNamesOf(cert: X509Certificate): [string, string][] {
  const raw = cert.raw;
  try {
    const certificate = der.readElement(raw, 0);
    const [tbs] = der.childrenOf(raw, certificate);
    if (tbs === undefined) return [];
    const extensionsWrapper = der.childrenOf(raw, tbs).find((e) => e.tag === 0xa3);
    if (extensionsWrapper === undefined) return [];
    const [extensions] = der.childrenOf(raw, extensionsWrapper);
    if (extensions === undefined) return [];
    const out: [string, string][] = [];
    for (const extension of der.childrenOf(raw, extensions)) {
      const parts = der.childrenOf(raw, extension);
      const id = parts[0];
      const value = parts[parts.length - 1];
      if (id === undefined || value === undefined || value.tag !== 0x04 || der.oidOf(raw, id) !== SUBJECT_ALT_NAME_OID)
        continue;
      const names = der.readElement(raw, value.contentStart);
      for (const name of der.childrenOf(raw, names)) {
        if (name.tag !== 0xa0) continue; // [0] otherName
        const [typeId, wrapped] = der.childrenOf(raw, name);
        if (typeId === undefined || wrapped === undefined || wrapped.tag !== 0xa0) continue;
        const [text] = der.childrenOf(raw, wrapped);
        if (text === undefined || (text.tag !== 0x16 && text.tag !== 0x0c)) continue;
        out.push([
          der.oidOf(raw, typeId),
          raw.subarray(text.contentStart, text.end).toString(text.tag === 0x16 ? 'latin1' : 'utf8'),
        ]);
      }
    }
    return out;
  } catch {
    // A certificate the TLS stack accepted but this reader cannot walk names no organization; it is refused, not guessed.
    return [];
  }
}

/** The URA in a UZI otherName value, or undefined when the value does not have the seven-field layout. */
export function uraOfUziOtherName(value: string): string | undefined {
  const fields = value.split('-');
  if (fields.length !== 7) return undefined;
  const ura = fields[4] ?? '';
  return /^\d{8}$/.test(ura) ? ura : undefined;
}

/** The organization a certificate names: its URA (see above) and its O (or, without one, its CN). */
export function organizationOf(cert: X509Certificate): Organization | undefined {
  const fields = subjectFields(cert);
  const found = new Set<string>();
  for (const [type, value] of otherNamesOf(cert)) {
    if (type !== UZI_OTHER_NAME_OID) continue;
    const ura = uraOfUziOtherName(value);
    if (ura === undefined) return undefined; // a UZI otherName we cannot read: not guessed around
    found.add(ura);
  }
  const identifier = fields.get('organizationIdentifier') ?? fields.get('2.5.4.97');
  if (identifier !== undefined && identifier.startsWith(URA_PREFIX)) {
    const ura = identifier.slice(URA_PREFIX.length);
    if (!/^\d{8}$/.test(ura)) return undefined;
    found.add(ura);
  }
  const name = fields.get('O') ?? fields.get('CN');
  const [ura, ...more] = [...found];
  if (ura === undefined || more.length > 0 || name === undefined) return undefined;
  return { name, ura };
}

/** Every certificate in a PEM file (a leaf followed by its intermediates, or a bundle of CA certificates). */
export function certificatesOf(pem: string | Buffer): X509Certificate[] {
  const text = typeof pem === 'string' ? pem : pem.toString('latin1');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

const MAX_CHAIN = 6;

/**
 * Checks that `leaf` chains to one of `roots` through `intermediates` (each a CA certificate, each signature valid, each
 * certificate valid at `now`). Only the roots are trusted: an intermediate sent by the peer helps build the path but
 * vouches for nothing by itself. Returns the reason when it does not.
 */
export function chainProblem(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  now = Date.now(),
): string | undefined {
  const validNow = (c: X509Certificate): boolean => now >= Date.parse(c.validFrom) && now <= Date.parse(c.validTo);
  const issues = (issuer: X509Certificate, c: X509Certificate): boolean =>
    c.checkIssued(issuer) && c.verify(issuer.publicKey);
  if (!validNow(leaf)) return 'the signer certificate is not valid now';
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const root = roots.find((r) => issues(r, current));
    if (root !== undefined) return validNow(root) ? undefined : 'the trusted CA certificate is not valid now';
    const next = intermediates.find((i) => i.ca && i !== current && issues(i, current));
    if (next === undefined) return 'the signer certificate is not issued by the trusted CA';
    if (!validNow(next)) return 'an intermediate CA certificate is not valid now';
    current = next;
  }
  return 'the certificate chain is too long';
}
