// Our node with its HTTPS side on (DICOMweb, the workspace) and a radiologist account, for the web benchmarks.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { makeCa, makeNodeCertificate } from '../src/cli/pki-command.ts';
import { parseConfig } from '../src/config/index.ts';
import { openAccounts } from '../src/node/index.ts';
import { freePort } from '../test/support/net.ts';
import { run } from '../test/support/processes.ts';
import { type NodeProcess, spawnNode } from './our-node.ts';

export const BENCH_SCU = 'BENCH_SCU';

export interface WebNode {
  node: NodeProcess;
  dimsePort: number;
  httpsPort: number;
  /** The node's certificate (PEM file) and the CA it chains to. */
  certPath: string;
  keyPath: string;
  caPath: string;
  /** A radiologist who signs in with this password and a TOTP code from this secret. */
  account: { username: string; password: string; totpSecret: string };
}

export async function spawnWebNode(
  work: string,
  o: {
    prepare?: (dir: string) => Promise<void>;
    /** More of the node's configuration (e.g. its share section), given the HTTPS port. */
    edit?: (raw: Record<string, unknown>, httpsPort: number) => void;
    /** A partner account too, signing in over SFTP with this key (an OpenSSH .pub line). */
    partner?: { username: string; organization: string; publicKey: string };
  } = {},
): Promise<WebNode> {
  const pki = join(work, 'pki');
  makeCa(join(pki, 'ca'), 'Beeldbrug benchmark CA');
  const tls = makeNodeCertificate(join(pki, 'ca'), join(pki, 'node'), {
    commonName: 'web.bench',
    organization: 'Benchmark',
    ura: '12345678',
    hosts: ['127.0.0.1'],
  });
  const dimsePort = await freePort();
  const httpsPort = await freePort();
  const account = { username: 'bench.radioloog', password: 'a long enough benchmark passphrase', totpSecret: '' };
  const node = await spawnNode({
    aeTitle: 'BEELDBRUG',
    port: dimsePort,
    dir: join(work, 'node'),
    peers: [{ aeTitle: BENCH_SCU, host: '127.0.0.1', description: 'benchmark storescu' }],
    edit: (raw) => {
      raw['exchange'] = {
        listen: { host: '127.0.0.1', port: httpsPort },
        tls: { certFile: tls.certPath, keyFile: tls.keyPath, caFile: tls.caPath },
        // A node with the HTTPS side on must trust someone; nobody from there calls in these benchmarks.
        partners: [{ ura: '87654321', name: 'Partnerziekenhuis' }],
      };
      o.edit?.(raw, httpsPort);
    },
    prepare: async (dir, configPath) => {
      await o.prepare?.(dir);
      const config = parseConfig(parseYaml(readFileSync(configPath, 'utf8')) as Record<string, unknown>, configPath);
      const accounts = await openAccounts(config);
      try {
        ({ totpSecret: account.totpSecret } = await accounts.createLocal({
          username: account.username,
          name: 'Bench Radioloog',
          role: 'radiologist',
          password: account.password,
        }));
        if (o.partner !== undefined) {
          const { account: partner } = await accounts.createLocal({
            username: o.partner.username,
            name: 'Bench partner',
            role: 'partner',
            organization: o.partner.organization,
            password: account.password,
            createdBy: { id: 'os:bench', name: 'bench (beeldbrug user add)' },
          });
          await accounts.addSshKey(partner.id, o.partner.publicKey);
        }
      } finally {
        await accounts.close();
      }
    },
  });
  return { node, dimsePort, httpsPort, certPath: tls.certPath, keyPath: tls.keyPath, caPath: tls.caPath, account };
}

/** DCMTK storescu sends the files on one association (how the study gets into a node or Orthanc, untimed). */
export async function storescu(port: number, calledAe: string, files: readonly string[]): Promise<void> {
  const r = await run('storescu', ['-aet', BENCH_SCU, '-aec', calledAe, '127.0.0.1', String(port), ...files], 600_000);
  if (r.code !== 0)
    throw new Error(`storescu into ${calledAe} failed (${r.code}):\n${(r.stdout + r.stderr).slice(-2000)}`);
}
