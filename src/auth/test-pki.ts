/**
 * A small PKI for the demo network and the tests: a root CA, intermediate CAs under it, and node certificates that
 * carry the organization's name and URA number the way UZI-register server certificates do (see
 * certificate-identity.ts). Production nodes use the hospital's own healthcare PKI; this exists so that every test and
 * demo runs with real mutual TLS (PS3.15 B.9 for DICOM, and node-to-node HTTPS) instead of switching TLS off, through
 * the same path building (leaf, intermediate, root) as a real UZI or PKIoverheid chain.
 * Certificates follow RFC 5280 with ECDSA P-256 keys and SHA-256 signatures.
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  randomInt,
  sign,
  X509Certificate,
} from 'node:crypto';
import { isIP } from 'node:net';
import { certificatesOf, type Organization, UZI_OTHER_NAME_OID } from './certificate-identity.ts';
import * as der from './der.ts';

export type { Organization } from './certificate-identity.ts';

export interface IssuedCertificate {
  /** The certificate, followed by the intermediate CA certificates above it (never the root): what TLS sends. */
  certPem: string;
  keyPem: string;
}

/**
 * Where a node certificate names its organization: `uzi-server` as a UZI-register server certificate (subjectAltName
 * otherName 2.5.5.5, the subject's serialNumber the UZI number), `organization-identifier` as earlier versions of this
 * PKI did (subject organizationIdentifier "URA-<number>"), `none` for a certificate that names no organization.
 */
export type CertificateProfile = 'uzi-server' | 'organization-identifier' | 'none';

/** A stand-in for the OID of the issuing CA in the UZI otherName: a private arc, so it is never taken for a real one. */
const TEST_CA_OID = '2.16.528.1.1007.99.8888';

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  country: '2.5.4.6',
  organization: '2.5.4.10',
  serialNumber: '2.5.4.5',
  /** X.520 organizationIdentifier: where earlier versions of this PKI wrote the URA, as "URA-<number>". */
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

function name(parts: {
  commonName: string;
  organization?: Organization;
  profile?: CertificateProfile;
  uziNumber?: string;
}): Buffer {
  const rdn = (oid: string, value: Buffer): Buffer => der.set(der.sequence(der.objectIdentifier(oid), value));
  const org = parts.organization;
  return der.sequence(
    rdn(OID.country, der.printableString('NL')),
    ...(org !== undefined ? [rdn(OID.organization, der.utf8String(org.name))] : []),
    ...(org !== undefined && parts.profile === 'organization-identifier'
      ? [rdn(OID.organizationIdentifier, der.utf8String(`URA-${org.ura}`))]
      : []),
    ...(parts.uziNumber !== undefined ? [rdn(OID.serialNumber, der.printableString(parts.uziNumber))] : []),
    rdn(OID.commonName, der.utf8String(parts.commonName)),
  );
}

/** subjectAltName otherName { type-id 2.5.5.5, value [0] EXPLICIT IA5String } as a GeneralName ([0] IMPLICIT). */
function uziOtherName(value: string): Buffer {
  return der.tlv(
    0xa0,
    Buffer.concat([der.objectIdentifier(UZI_OTHER_NAME_OID), der.explicit(0, der.ia5String(value))]),
  );
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return der.sequence(der.objectIdentifier(oid), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
}

function keyIdentifier(publicKey: KeyObject): Buffer {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest()
    .subarray(0, 20);
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
    der.explicit(
      3,
      der.sequence(
        ...o.extensions,
        extension(OID.subjectKeyIdentifier, false, der.octetString(keyIdentifier(o.publicKey))),
        extension(OID.authorityKeyIdentifier, false, der.sequence(der.implicit(0, keyIdentifier(o.authorityKey)))),
      ),
    ),
  );
}

const caExtensions = (pathLength: number): Buffer[] => [
  extension(OID.basicConstraints, true, der.sequence(der.boolean(true), der.smallInteger(pathLength))),
  // keyCertSign (bit 5) and cRLSign (bit 6): 0b00000110, the last bit unused.
  extension(OID.keyUsage, true, der.bitString(Buffer.from([0x06]), 1)),
];

/** A self-signed root CA for a demo network or a test run; it may sign intermediate CAs and node certificates. */
export function createTestCa(o: { commonName: string; validDays?: number }): IssuedCertificate {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const subject = name({ commonName: o.commonName });
  const tbs = tbsCertificate({
    issuer: subject,
    subject,
    publicKey,
    authorityKey: publicKey,
    validDays: o.validDays ?? 3650,
    extensions: caExtensions(1),
  });
  return {
    certPem: signCertificate(tbs, privateKey),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/**
 * An intermediate CA under `root`, as UZI-register and PKIoverheid issue server certificates (root, domain CA, issuing
 * CA). Its `certPem` is the intermediate alone; certificates it issues carry it after the leaf.
 */
export function createIntermediateCa(
  root: IssuedCertificate,
  o: { commonName: string; validDays?: number },
): IssuedCertificate {
  const rootCert = new X509Certificate(root.certPem);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const tbs = tbsCertificate({
    issuer: issuerNameOf(rootCert),
    subject: name({ commonName: o.commonName }),
    publicKey,
    authorityKey: rootCert.publicKey,
    validDays: o.validDays ?? 1825,
    extensions: caExtensions(0),
  });
  const below = intermediatesOf(root.certPem);
  return {
    certPem: signCertificate(tbs, createPrivateKey(root.keyPem)) + below,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** The certificates of a PEM file that are not self-signed (a root is configured as trusted, never sent), as PEM. */
function intermediatesOf(pem: string): string {
  return certificatesOf(pem)
    .filter((c) => !(c.checkIssued(c) && c.verify(c.publicKey)))
    .map((c) => c.toString())
    .join('');
}

/**
 * A certificate for one node (or a test client), usable for both sides of mutual TLS. `hosts` are DNS names or IP
 * addresses for the subjectAltName; `notBefore` lets tests make expired certificates; `profile` where the organization
 * is named (a UZI-register server certificate by default). Issued by `ca`, whose intermediates follow the new leaf.
 */
export function issueNodeCertificate(
  ca: IssuedCertificate,
  o: {
    commonName: string;
    organization: Organization;
    hosts?: readonly string[];
    validDays?: number;
    notBefore?: Date;
    profile?: CertificateProfile;
  },
): IssuedCertificate {
  if (!/^\d{8}$/.test(o.organization.ura))
    throw new Error(`a URA number is 8 digits, got ${JSON.stringify(o.organization.ura)}`);
  const profile = o.profile ?? 'uzi-server';
  const caKey = createPrivateKey(ca.keyPem);
  const caCert = new X509Certificate(ca.certPem);
  // The certificate holder's UZI number (a server certificate has its own): made up per certificate. Role code 00.000
  // and AGB code 00000000 are the values a server certificate without a care provider's role carries here.
  const uziNumber = String(randomInt(10_000_000, 99_999_999));
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const altNames = (o.hosts ?? []).map((h) => {
    const family = isIP(h);
    if (family === 4) return der.implicit(7, Buffer.from(h.split('.').map(Number)));
    if (family === 6) throw new Error('IPv6 addresses in certificates are not supported by the test PKI');
    return der.implicit(2, Buffer.from(h, 'ascii'));
  });
  if (profile === 'uzi-server')
    altNames.push(uziOtherName(`${TEST_CA_OID}-1-${uziNumber}-S-${o.organization.ura}-00.000-00000000`));
  const tbs = tbsCertificate({
    issuer: issuerNameOf(caCert),
    subject: name({
      commonName: o.commonName,
      ...(profile !== 'none' ? { organization: o.organization, profile } : {}),
      ...(profile === 'uzi-server' ? { uziNumber } : {}),
    }),
    publicKey,
    authorityKey: caCert.publicKey,
    validDays: o.validDays ?? 825,
    ...(o.notBefore !== undefined ? { notBefore: o.notBefore } : {}),
    extensions: [
      extension(OID.basicConstraints, true, der.sequence()),
      // digitalSignature (bit 0): 0b10000000, seven bits unused.
      extension(OID.keyUsage, true, der.bitString(Buffer.from([0x80]), 7)),
      extension(
        OID.extKeyUsage,
        false,
        der.sequence(der.objectIdentifier(OID.serverAuth), der.objectIdentifier(OID.clientAuth)),
      ),
      ...(altNames.length > 0 ? [extension(OID.subjectAltName, false, der.sequence(...altNames))] : []),
    ],
  });
  return {
    certPem: signCertificate(tbs, caKey) + intermediatesOf(ca.certPem),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** The issuer Name of a certificate is its CA's subject, byte for byte, so that path building matches it exactly. */
function issuerNameOf(caCert: X509Certificate): Buffer {
  // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version, serial, sigAlg, issuer, validity, subject, ... } }
  const raw = caCert.raw;
  const [tbs] = der.childrenOf(raw, der.readElement(raw, 0));
  const subject = tbs !== undefined ? der.childrenOf(raw, tbs)[5] : undefined;
  if (subject === undefined) throw new Error('the CA certificate has no subject');
  return raw.subarray(subject.start, subject.end);
}
