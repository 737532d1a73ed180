// Certificates and keys made with the `beeldbrug` CLI itself (`pki ca`, `pki node`, `registry network-key`), as an
// administrator makes them, for tests that run a whole network.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { IssuedCertificate } from '../../src/auth/index.ts';
import { tempDir } from './tmp.ts';
import { beeldbrugCli } from './processes.ts';

/** Runs `beeldbrug ARGS` and asserts it succeeded; returns its standard output. */
export function beeldbrug(args: readonly string[]): string {
  const r = spawnSync(process.execPath, [...beeldbrugCli, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `beeldbrug ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A network CA and one certificate per organization (key: a folder name), all from `beeldbrug pki`. */
export function networkCertificates<K extends string>(
  t: TestContext,
  orgs: Record<K, { name: string; ura: string }>,
): { ca: IssuedCertificate; dir: string } & Record<K, IssuedCertificate> {
  const dir = tempDir(t);
  beeldbrug(['pki', 'ca', '--out', join(dir, 'ca'), '--name', 'Regio test CA']);
  const pair = (sub: string, base: string): IssuedCertificate => ({
    certPem: readFileSync(join(dir, sub, `${base}.crt`), 'utf8'),
    keyPem: readFileSync(join(dir, sub, `${base}.key`), 'utf8'),
  });
  const certs: Record<string, IssuedCertificate> = {};
  for (const [sub, org] of Object.entries(orgs) as [K, { name: string; ura: string }][]) {
    beeldbrug([
      'pki',
      'node',
      '--ca',
      join(dir, 'ca'),
      '--out',
      join(dir, sub),
      '--name',
      `${sub}.test`,
      '--organization',
      org.name,
      '--ura',
      org.ura,
      '--host',
      '127.0.0.1',
    ]);
    certs[sub] = pair(sub, 'node');
  }
  return { ca: pair('ca', 'ca'), dir, ...(certs as Record<K, IssuedCertificate>) };
}
