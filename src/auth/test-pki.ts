/**
 * A small PKI for the demo network and the tests: one CA and node certificates that carry the organization's name and
 * URA number. Production nodes use the hospital's own healthcare PKI; this exists so that every test and demo runs with
 * real mutual TLS (PS3.15 B.9 for DICOM, and node-to-node HTTPS) instead of switching TLS off.
 * Certificates follow RFC 5280 with ECDSA P-256 keys and SHA-256 signatures.
 */
import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as der from './der.ts';

export interface Organization {
  name: string;
  /** The URA number (UZI register), 8 digits. */
  ura: string;
}

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  country: '2.5.4.6',
  organization: '2.5.4.10',
  /** X.520 organizationIdentifier: where this PKI writes the URA, as "URA-<number>". */
  organizationIdentifier: '2.5.4.97',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

const URA_PREFIX = 'URA-';

function name(parts: { commonName: string; organization?: Organization }): Buffer {
  const rdn = (oid: string, value: Buffer): Buffer => der.set(der.sequence(der.objectIdentifier(oid), value));
  return der.sequence(
    rdn(OID.country, der.printableString('NL')),
    ...(parts.organization !== undefined
      ? [rdn(OID.organization, der.utf8String(parts.organization.name)), rdn(OID.organizationIdentifier, der.utf8String(URA_PREFIX + parts.organization.ura))]
      : []),
    rdn(OID.commonName, der.utf8String(parts.commonName)),
  );
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return der.sequence(der.objectIdentifier(oid), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
}

function keyIdentifier(publicKey: KeyObject): Buffer {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest().subarray(0, 20);
}

function signCertificate(tbs: Buffer, signer: KeyObject): string {
  const algorithm = der.sequence(der.objectIdentifier(OID.ecdsaWithSha256));
  const signature = sign('sha256', tbs, { key: signer, dsaEncoding: 'der' });
  const cert = der.sequence(tbs, algorithm, der.bitString(signature));
  return `-----BEGIN CERTIFICATE-----\n${cert.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
}

function tbsCertificate(o: {
  issuer: Buffer;
  subject: Buffer;
  publicKey: KeyObject;
  authorityKey: KeyObject;
  validDays: number;
  extensions: Buffer[];
  notBefore?: Date;
}): Buffer {
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  // Five minutes back, so a peer whose clock runs a little behind still accepts a certificate made just now.
  const notBefore = o.notBefore ?? new Date(Date.now() - 5 * 60_000);
  const notAfter = new Date(notBefore.getTime() + o.validDays * 86_400_000);
  return der.sequence(
    der.explicit(0, der.smallInteger(2)),
    der.unsignedInteger(serial),
    der.sequence(der.objectIdentifier(OID.ecdsaWithSha256)),
    o.issuer,
    der.sequence(der.time(notBefore), der.time(notAfter)),
    o.subject,
    o.publicKey.export({ type: 'spki', format: 'der' }),
    der.explicit(3, der.sequence(
      ...o.extensions,
      extension(OID.subjectKeyIdentifier, false, der.octetString(keyIdentifier(o.publicKey))),
      extension(OID.authorityKeyIdentifier, false, der.sequence(der.implicit(0, keyIdentifier(o.authorityKey)))),
    )),
  );
}

/** A self-signed CA for a demo network or a test run. */
export function createTestCa(o: { commonName: string; validDays?: number }): IssuedCertificate {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const subject = name({ commonName: o.commonName });
  const tbs = tbsCertificate({
    issuer: subject,
    subject,
    publicKey,
    authorityKey: publicKey,
    validDays: o.validDays ?? 3650,
    extensions: [
      extension(OID.basicConstraints, true, der.sequence(der.boolean(true), der.smallInteger(0))),
      // keyCertSign (bit 5) and cRLSign (bit 6): 0b00000110, the last bit unused.
      extension(OID.keyUsage, true, der.bitString(Buffer.from([0x06]), 1)),
    ],
  });
  return { certPem: signCertificate(tbs, privateKey), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/**
 * A certificate for one node (or a test client), usable for both sides of mutual TLS. `hosts` are DNS names or IP
 * addresses for the subjectAltName; `notBefore` lets tests make expired certificates.
 */
export function issueNodeCertificate(
  ca: IssuedCertificate,
  o: { commonName: string; organization: Organization; hosts?: readonly string[]; validDays?: number; notBefore?: Date },
): IssuedCertificate {
  if (!/^\d{8}$/.test(o.organization.ura)) throw new Error(`a URA number is 8 digits, got ${JSON.stringify(o.organization.ura)}`);
  const caKey = createPrivateKey(ca.keyPem);
  const caCert = new X509Certificate(ca.certPem);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const altNames = (o.hosts ?? []).map((h) => {
    const family = isIP(h);
    if (family === 4) return der.implicit(7, Buffer.from(h.split('.').map(Number)));
    if (family === 6) throw new Error('IPv6 addresses in certificates are not supported by the test PKI');
    return der.implicit(2, Buffer.from(h, 'ascii'));
  });
  const tbs = tbsCertificate({
    issuer: issuerNameOf(caCert),
    subject: name({ commonName: o.commonName, organization: o.organization }),
    publicKey,
    authorityKey: caCert.publicKey,
    validDays: o.validDays ?? 825,
    ...(o.notBefore !== undefined ? { notBefore: o.notBefore } : {}),
    extensions: [
      extension(OID.basicConstraints, true, der.sequence()),
      // digitalSignature (bit 0): 0b10000000, seven bits unused.
      extension(OID.keyUsage, true, der.bitString(Buffer.from([0x80]), 7)),
      extension(OID.extKeyUsage, false, der.sequence(der.objectIdentifier(OID.serverAuth), der.objectIdentifier(OID.clientAuth))),
      ...(altNames.length > 0 ? [extension(OID.subjectAltName, false, der.sequence(...altNames))] : []),
    ],
  });
  return { certPem: signCertificate(tbs, caKey), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** The organization a certificate from this PKI names: its O and the URA from organizationIdentifier. */
export function organizationOf(cert: X509Certificate): Organization | undefined {
  const fields = new Map(cert.subject.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const));
  const identifier = fields.get('organizationIdentifier') ?? fields.get(OID.organizationIdentifier);
  const organization = fields.get('O');
  if (identifier === undefined || organization === undefined || !identifier.startsWith(URA_PREFIX)) return undefined;
  const ura = identifier.slice(URA_PREFIX.length);
  return /^\d{8}$/.test(ura) ? { name: organization, ura } : undefined;
}

/** The issuer Name of a leaf is the CA's subject, byte for byte, so that path building matches it exactly. */
function issuerNameOf(caCert: X509Certificate): Buffer {
  // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version, serial, sigAlg, issuer, validity, subject, ... } }
  const raw = caCert.raw;
  const tbs = readElement(raw, headerLength(raw, 0));
  let at = tbs.contentStart;
  for (let field = 0; field < 5; field++) at = readElement(raw, at).end; // skip version, serial, sigAlg, issuer, validity
  const subject = readElement(raw, at);
  return raw.subarray(at, subject.end);
}

function headerLength(b: Buffer, at: number): number {
  const first = b[at + 1] ?? 0;
  return at + 2 + (first & 0x80 ? first & 0x7f : 0);
}

function readElement(b: Buffer, at: number): { contentStart: number; end: number } {
  const first = b[at + 1] ?? 0;
  let length = first;
  let contentStart = at + 2;
  if (first & 0x80) {
    length = 0;
    for (let i = 0; i < (first & 0x7f); i++) length = length * 256 + (b[at + 2 + i] ?? 0);
    contentStart = at + 2 + (first & 0x7f);
  }
  return { contentStart, end: contentStart + length };
}
