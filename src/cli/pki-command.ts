import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createIntermediateCa, createTestCa, type IssuedCertificate, issueNodeCertificate } from '../auth/index.ts';
import { BeeldbrugError } from '../errors/index.ts';

/** Writes a certificate and its key; the key readable by its owner only. Never overwrites: keys are not replaced silently. */
function writePair(dir: string, base: string, pair: IssuedCertificate): { certPath: string; keyPath: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certPath = join(dir, `${base}.crt`);
  const keyPath = join(dir, `${base}.key`);
  for (const p of [certPath, keyPath]) {
    if (existsSync(p)) throw new BeeldbrugError('KEY_FILE_PROBLEM', `${p} exists; not overwriting it`);
  }
  writeFileSync(keyPath, pair.keyPem, { mode: 0o600, flag: 'wx' });
  writeFileSync(certPath, pair.certPem, { mode: 0o644, flag: 'wx' });
  return { certPath, keyPath };
}

/**
 * A root CA (ca.crt, ca.key) and an issuing CA under it (issuing-ca.crt, issuing-ca.key), the way UZI-register and
 * PKIoverheid issue server certificates: nodes trust the root only and send the issuing CA with their own certificate,
 * so every chain check of the network is exercised with an intermediate.
 */
export function makeCa(
  dir: string,
  commonName: string,
): { certPath: string; keyPath: string; issuingCertPath: string; issuingKeyPath: string } {
  const root = createTestCa({ commonName });
  const written = writePair(dir, 'ca', root);
  const issuing = writePair(dir, 'issuing-ca', createIntermediateCa(root, { commonName: `${commonName} issuing CA` }));
  return { ...written, issuingCertPath: issuing.certPath, issuingKeyPath: issuing.keyPath };
}

const readPair = (dir: string, base: string): IssuedCertificate => ({
  certPem: readFileSync(join(dir, `${base}.crt`), 'utf8'),
  keyPem: readFileSync(join(dir, `${base}.key`), 'utf8'),
});

export function makeNodeCertificate(
  caDir: string,
  outDir: string,
  o: { commonName: string; organization: string; ura: string; hosts: readonly string[] },
): { certPath: string; keyPath: string; caPath: string } {
  let ca: IssuedCertificate;
  let issuer: IssuedCertificate;
  try {
    ca = readPair(caDir, 'ca');
    // A CA folder made before issuing CAs existed has the root only; its certificates keep being issued from it.
    issuer = existsSync(join(caDir, 'issuing-ca.crt')) ? readPair(caDir, 'issuing-ca') : ca;
  } catch (cause) {
    throw new BeeldbrugError(
      'KEY_FILE_PROBLEM',
      `no CA in ${caDir} (ca.crt and ca.key); make one with \`beeldbrug pki ca --out ${caDir}\``,
      { cause },
    );
  }
  if (!/^\d{8}$/.test(o.ura))
    throw new BeeldbrugError('CONFIG_INVALID', `--ura wants the 8-digit URA number, got ${JSON.stringify(o.ura)}`);
  // node.crt holds the node certificate followed by the issuing CA: what TLS and signed receipts send.
  const pair = issueNodeCertificate(issuer, {
    commonName: o.commonName,
    organization: { name: o.organization, ura: o.ura },
    hosts: o.hosts,
  });
  const written = writePair(outDir, 'node', pair);
  const caPath = join(outDir, 'ca.crt');
  if (!existsSync(caPath)) writeFileSync(caPath, ca.certPem, { mode: 0o644 });
  return { ...written, caPath };
}
