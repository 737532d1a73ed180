// Certificates made per test run with the openssl CLI: EC P-256 CAs and leaf certificates usable for both server
// and client authentication, as DICOM TLS (PS3.15 B.9) and node-to-node mutual TLS need.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function openssl(args: readonly string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

/** A self-signed CA: `${dir}/${name}.pem` and `.key`. */
export function makeCa(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/O=Beeldbrug test/CN=${name}`,
    '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`)]);
}

/** A leaf certificate signed by CA `ca`: `${dir}/${name}.crt` and `.key`; `san` like 'IP:127.0.0.1,DNS:localhost'. */
export function makeCert(dir: string, ca: string, name: string, san: string): void {
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/O=Beeldbrug test/CN=${name}`,
    '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.csr`)]);
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  openssl(['x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', join(dir, `${ca}.pem`), '-CAkey', join(dir, `${ca}.key`), '-CAcreateserial',
    '-days', '2', '-extfile', join(dir, `${name}.ext`), '-out', join(dir, `${name}.crt`)]);
}

/** Key, certificate and trusted CA of a leaf, as TLS options. */
export function tlsOf(dir: string, name: string, ca: string): { key: Buffer; cert: Buffer; ca: Buffer } {
  return { key: readFileSync(join(dir, `${name}.key`)), cert: readFileSync(join(dir, `${name}.crt`)), ca: readFileSync(join(dir, `${ca}.pem`)) };
}
