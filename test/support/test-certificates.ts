// Certificates made per test run with the project's own test PKI (src/auth, the same code as `beeldbrug pki`), written
// as files the way DCMTK and the node configuration read them.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestCa, issueNodeCertificate } from '../../src/auth/index.ts';

const testOrganization = { name: 'Beeldbrug test', ura: '99999999' };

/** A CA: `${dir}/${name}.pem` and `.key`. */
export function makeCa(dir: string, name: string): void {
  const ca = createTestCa({ commonName: name });
  writeFileSync(join(dir, `${name}.pem`), ca.certPem);
  writeFileSync(join(dir, `${name}.key`), ca.keyPem, { mode: 0o600 });
}

/** A leaf signed by CA `ca`: `${dir}/${name}.crt` and `.key`; `san` like 'IP:127.0.0.1,DNS:localhost'. */
export function makeCert(dir: string, ca: string, name: string, san: string): void {
  const issuer = { certPem: readFileSync(join(dir, `${ca}.pem`), 'utf8'), keyPem: readFileSync(join(dir, `${ca}.key`), 'utf8') };
  const hosts = san.split(',').map((s) => s.replace(/^(IP|DNS):/, '').trim());
  const leaf = issueNodeCertificate(issuer, { commonName: name, organization: testOrganization, hosts });
  writeFileSync(join(dir, `${name}.crt`), leaf.certPem);
  writeFileSync(join(dir, `${name}.key`), leaf.keyPem, { mode: 0o600 });
}

/** Key, certificate and trusted CA of a leaf, as TLS options. */
export function tlsOf(dir: string, name: string, ca: string): { key: Buffer; cert: Buffer; ca: Buffer } {
  return { key: readFileSync(join(dir, `${name}.key`)), cert: readFileSync(join(dir, `${name}.crt`)), ca: readFileSync(join(dir, `${ca}.pem`)) };
}
