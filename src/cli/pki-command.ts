import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestCa, type IssuedCertificate, issueNodeCertificate } from '../auth/index.ts';
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

export function makeCa(dir: string, commonName: string): { certPath: string; keyPath: string } {
  return writePair(dir, 'ca', createTestCa({ commonName }));
}

export function makeNodeCertificate(
  caDir: string,
  outDir: string,
  o: { commonName: string; organization: string; ura: string; hosts: readonly string[] },
): { certPath: string; keyPath: string; caPath: string } {
  let ca: IssuedCertificate;
  try {
    ca = { certPem: readFileSync(join(caDir, 'ca.crt'), 'utf8'), keyPem: readFileSync(join(caDir, 'ca.key'), 'utf8') };
  } catch (cause) {
    throw new BeeldbrugError('KEY_FILE_PROBLEM', `no CA in ${caDir} (ca.crt and ca.key); make one with \`beeldbrug pki ca --out ${caDir}\``, { cause });
  }
  if (!/^\d{8}$/.test(o.ura)) throw new BeeldbrugError('CONFIG_INVALID', `--ura wants the 8-digit URA number, got ${JSON.stringify(o.ura)}`);
  const pair = issueNodeCertificate(ca, { commonName: o.commonName, organization: { name: o.organization, ura: o.ura }, hosts: o.hosts });
  const written = writePair(outDir, 'node', pair);
  const caPath = join(outDir, 'ca.crt');
  if (!existsSync(caPath)) writeFileSync(caPath, ca.certPem, { mode: 0o644 });
  return { ...written, caPath };
}
