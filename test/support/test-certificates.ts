// Certificates made per test run with the project's own test PKI (src/auth, the same code as `beeldbrug pki`), written
// as files the way DCMTK and the node configuration read them.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CertificateProfile,
  createIntermediateCa,
  createTestCa,
  issueNodeCertificate,
  type Organization,
} from '../../src/auth/index.ts';

const testOrganization = { name: 'Beeldbrug test', ura: '99999999' };

/** A root CA: `${dir}/${name}.pem` and `.key`. */
export function makeCa(dir: string, name: string): void {
  const ca = createTestCa({ commonName: name });
  writeFileSync(join(dir, `${name}.pem`), ca.certPem);
  writeFileSync(join(dir, `${name}.key`), ca.keyPem, { mode: 0o600 });
}

/** An intermediate CA under CA `root`: `${dir}/${name}.pem` (the intermediate and any above it but the root) and `.key`. */
export function makeIntermediateCa(dir: string, root: string, name: string): void {
  const issuer = {
    certPem: readFileSync(join(dir, `${root}.pem`), 'utf8'),
    keyPem: readFileSync(join(dir, `${root}.key`), 'utf8'),
  };
  const ca = createIntermediateCa(issuer, { commonName: name });
  writeFileSync(join(dir, `${name}.pem`), ca.certPem);
  writeFileSync(join(dir, `${name}.key`), ca.keyPem, { mode: 0o600 });
}

/**
 * A leaf signed by CA `ca`: `${dir}/${name}.crt` (the leaf, then the intermediates under the root) and `.key`; `san` like
 * 'IP:127.0.0.1,DNS:localhost'. A UZI-register server certificate of `organization` unless `profile` says otherwise.
 */
export function makeCert(
  dir: string,
  ca: string,
  name: string,
  san: string,
  o: { organization?: Organization; profile?: CertificateProfile } = {},
): void {
  const issuer = {
    certPem: readFileSync(join(dir, `${ca}.pem`), 'utf8'),
    keyPem: readFileSync(join(dir, `${ca}.key`), 'utf8'),
  };
  const hosts = san.split(',').map((s) => s.replace(/^(IP|DNS):/, '').trim());
  const leaf = issueNodeCertificate(issuer, {
    commonName: name,
    organization: o.organization ?? testOrganization,
    hosts,
    ...(o.profile !== undefined ? { profile: o.profile } : {}),
  });
  writeFileSync(join(dir, `${name}.crt`), leaf.certPem);
  writeFileSync(join(dir, `${name}.key`), leaf.keyPem, { mode: 0o600 });
}

/** Key, certificate and trusted CA of a leaf, as TLS options. */
export function tlsOf(dir: string, name: string, ca: string): { key: Buffer; cert: Buffer; ca: Buffer } {
  return {
    key: readFileSync(join(dir, `${name}.key`)),
    cert: readFileSync(join(dir, `${name}.crt`)),
    ca: readFileSync(join(dir, `${ca}.pem`)),
  };
}
