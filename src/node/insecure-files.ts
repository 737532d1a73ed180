import { X509Certificate } from 'node:crypto';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Config, TlsFilesConfig } from '../config/index.ts';
import type { InsecureSetting } from './secure-defaults.ts';

/**
 * The system CA bundles of the common distributions. A trust list equal to one of these admits anyone who bought a
 * certificate from any public CA.
 */
const SYSTEM_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
  '/etc/ssl/ca-bundle.pem',
  '/etc/ssl/cert.pem',
  '/etc/ca-certificates/extracted/tls-ca-bundle.pem',
];

/** A partner network trusts its own CA, perhaps a few; this many certificates in one file is a public bundle. */
const MANY_CAS = 20;

/** Fingerprints of the public roots Node.js ships (Mozilla's list), computed once when first needed. */
let publicRoots: Map<string, string> | undefined;
function publicRootNames(): Map<string, string> {
  publicRoots ??= new Map(
    rootCertificates.map((pem) => {
      const c = new X509Certificate(pem);
      return [
        c.fingerprint256,
        c.subject
          .split('\n')
          .find((l) => l.startsWith('CN='))
          ?.slice(3) ?? c.subject.replace(/\n/g, ', '),
      ];
    }),
  );
  return publicRoots;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM file that parse; the TLS set-up reports the rest when it reads the file. */
function certificatesIn(text: string): X509Certificate[] {
  const found: X509Certificate[] = [];
  for (const pem of text.match(PEM_CERTIFICATE) ?? []) {
    try {
      found.push(new X509Certificate(pem));
    } catch {
      // not ours to report here
    }
  }
  return found;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The permission bits of a file that gives its group or other users any access, or undefined (also when it cannot be looked at: reading it reports that). */
function looseMode(path: string): number | undefined {
  try {
    const mode = statSync(path).mode & 0o777;
    return (mode & 0o077) !== 0 ? mode : undefined;
  } catch {
    return undefined;
  }
}

/** Every secret file the configuration names, with its key: what nobody but the node's own user may read. */
function secretFiles(config: Readonly<Config>): { key: string; path: string; what: string }[] {
  const files = [
    {
      key: 'store.encryptionKeyFile',
      path: config.store.encryptionKeyFile,
      what: 'the store key (it decrypts every stored image)',
    },
    {
      key: 'audit.keyFile',
      path: config.audit.keyFile,
      what: 'the audit key (with it the audit trail can be rewritten unseen)',
    },
  ];
  for (const { key, tls } of tlsSections(config))
    files.push({
      key: `${key}.keyFile`,
      path: tls.keyFile,
      what: 'a TLS private key (with it anyone can pose as this node)',
    });
  if (config.registry !== undefined)
    files.push({
      key: 'registry.networkKeyFile',
      path: config.registry.networkKeyFile,
      what: "the network's pseudonym key",
    });
  if (config.auth.oidc !== undefined)
    files.push({
      key: 'auth.oidc.clientSecretFile',
      path: config.auth.oidc.clientSecretFile,
      what: 'the OpenID Connect client secret',
    });
  if (config.xca?.assertionSigner !== undefined)
    files.push({
      key: 'xca.assertionSigner.keyFile',
      path: config.xca.assertionSigner.keyFile,
      what: "the XUA assertion key (with it anyone can speak for this hospital's people to the XCA communities)",
    });
  const objects = config.store.objects;
  if (objects !== undefined)
    files.push(
      { key: 'store.objects.accessKeyFile', path: objects.accessKeyFile, what: 'the object storage access key id' },
      {
        key: 'store.objects.secretKeyFile',
        path: objects.secretKeyFile,
        what: "the object storage secret (with it anyone can delete the hospital's transient copies, encrypted as they are)",
      },
    );
  const database = config.database;
  if (database.kind === 'postgresql') {
    if (database.passwordFile !== undefined)
      files.push({
        key: 'database.passwordFile',
        path: database.passwordFile,
        what: 'the database password (with it anyone can read and change the records the node keeps there)',
      });
    if (database.tls?.keyFile !== undefined)
      files.push({
        key: 'database.tls.keyFile',
        path: database.tls.keyFile,
        what: "the private key of the node's database client certificate",
      });
  }
  const share = config.share;
  if (share?.smtp.passwordFile !== undefined)
    files.push({ key: 'share.smtp.passwordFile', path: share.smtp.passwordFile, what: 'the SMTP password' });
  if (share?.sms.tokenFile !== undefined)
    files.push({ key: 'share.sms.tokenFile', path: share.sms.tokenFile, what: "the SMS gateway's token" });
  return files;
}

/** Every place the configuration names a certificate, key and CA file of this node. */
function tlsSections(config: Readonly<Config>): { key: string; tls: TlsFilesConfig; decidesIdentity: boolean }[] {
  const sections: { key: string; tls: TlsFilesConfig; decidesIdentity: boolean }[] = [];
  for (const [i, l] of config.dimse.listeners.entries())
    if (l.tls !== undefined) sections.push({ key: `dimse.listeners[${i}].tls`, tls: l.tls, decidesIdentity: true });
  if (config.dimse.tlsClient !== undefined)
    sections.push({ key: 'dimse.tlsClient', tls: config.dimse.tlsClient, decidesIdentity: true });
  if (config.exchange !== undefined)
    sections.push({ key: 'exchange.tls', tls: config.exchange.tls, decidesIdentity: true });
  // The audit repository is checked by its host name as well, as a web server is; its CA may be a public one.
  if (config.audit.atna !== undefined)
    sections.push({ key: 'audit.atna.tls', tls: config.audit.atna.tls, decidesIdentity: false });
  return sections;
}

/** Why a CA file admits the public at large, or undefined when it does not look like it. */
function publicTrust(caFile: string): string | undefined {
  let real = caFile;
  try {
    real = realpathSync(caFile);
  } catch {
    return undefined;
  }
  const text = readText(real);
  if (text === undefined) return undefined;
  for (const bundle of SYSTEM_BUNDLES) {
    if (real === bundle || (bundle !== real && readText(bundle) === text))
      return `it is the system's public CA bundle (${bundle})`;
  }
  const certificates = certificatesIn(text);
  const roots = publicRootNames();
  const publicOnes = certificates.flatMap((c) => roots.get(c.fingerprint256) ?? []);
  if (publicOnes.length > 0)
    return `it holds ${publicOnes.length === 1 ? 'a public root CA' : `${publicOnes.length} public root CAs`} (${publicOnes.slice(0, 3).join('; ')}${publicOnes.length > 3 ? '; ...' : ''})`;
  if (certificates.length >= MANY_CAS)
    return `it holds ${certificates.length} CA certificates, as a public bundle does`;
  return undefined;
}

/**
 * What makes the node's key, certificate and CA files unsafe to run with: a secret readable by other users, the store
 * and audit key the same, an own certificate out of its validity, a trust list that admits anyone with a bought
 * certificate. The node refuses to start with any of these; `beeldbrug doctor` reports them. A file that cannot be read
 * is not reported here: reading it at start stops the node with its own error.
 */
export function insecureFiles(config: Readonly<Config>, now: Date = new Date()): InsecureSetting[] {
  const found: InsecureSetting[] = [];
  for (const f of secretFiles(config)) {
    const mode = looseMode(f.path);
    if (mode === undefined) continue;
    found.push({
      key: f.key,
      problem: `${f.path} is open to ${(mode & 0o070) !== 0 ? ((mode & 0o007) !== 0 ? 'its group and all other users' : 'its group') : 'all other users'} (mode ${mode.toString(8).padStart(4, '0')}); it holds ${f.what}`,
      fix: `chmod 600 ${f.path} (owned by the user the node runs as), and check who may have copied it`,
    });
  }
  const storeKey = readText(config.store.encryptionKeyFile)?.replace(/\s+/g, '');
  const auditKey = readText(config.audit.keyFile)?.replace(/\s+/g, '');
  if (storeKey !== undefined && storeKey !== '' && storeKey === auditKey) {
    found.push({
      key: 'audit.keyFile',
      problem:
        'the audit key is the store key: whoever needs the one to read images can rewrite the audit trail unseen',
      fix: `give the store its own key (32 random bytes, base64, e.g. \`openssl rand -base64 32\`, mode 0600) in store.encryptionKeyFile and keep the audit key; images stored under the old key can no longer be read, so change it once the node has passed on what it holds (store.retentionDays)`,
    });
  }
  for (const { key, tls, decidesIdentity } of tlsSections(config)) {
    const own = certificatesIn(readText(tls.certFile) ?? '')[0];
    if (own !== undefined) {
      if (own.validToDate.getTime() <= now.getTime()) {
        found.push({
          key: `${key}.certFile`,
          problem: `this node's certificate ${tls.certFile} expired on ${own.validToDate.toISOString()}: partners and peers refuse it`,
          fix: "install a renewed certificate from the hospital's PKI (UZI server certificate) and its key",
        });
      } else if (own.validFromDate.getTime() > now.getTime()) {
        found.push({
          key: `${key}.certFile`,
          problem: `this node's certificate ${tls.certFile} is not valid before ${own.validFromDate.toISOString()}`,
          fix: "check this machine's clock, or install a certificate that is valid now",
        });
      }
    }
    const why = decidesIdentity ? publicTrust(tls.caFile) : undefined;
    if (why !== undefined) {
      found.push({
        key: `${key}.caFile`,
        problem: `${tls.caFile} is not a trust list for partners: ${why}. Anyone who buys a certificate from a public CA could then claim a partner's URA`,
        fix: "name only the CA of the hospitals' network (e.g. the UZI server CA, or the network's private CA) in this file",
      });
    }
  }
  return found;
}

/** This node's own certificates and when each stops being valid, for doctor's warning before that day comes. */
export function ownCertificates(config: Readonly<Config>): { key: string; certFile: string; validTo: Date }[] {
  return tlsSections(config).flatMap(({ key, tls }) => {
    const own = certificatesIn(readText(tls.certFile) ?? '')[0];
    return own !== undefined ? [{ key: `${key}.certFile`, certFile: tls.certFile, validTo: own.validToDate }] : [];
  });
}
