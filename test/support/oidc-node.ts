// A node that signs people in through a test identity provider: the provider started first (it must know the node's
// callback address), its client secret and CA written where the node's configuration points.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createTestCa, type IssuedCertificate } from '../../src/auth/index.ts';
import { type ExchangeNode, type ExchangeNodeOptions, startExchangeNode } from './exchange.ts';
import { freePort } from './net.ts';
import { type IdpPerson, startTestIdp, type TestIdp } from './oidc-idp.ts';
import { tempDir } from './tmp.ts';

export interface NodeBehindIdp {
  node: ExchangeNode;
  idp: TestIdp;
  /** The CA of the node and the provider both, and a file holding it (for a CLI's --ca). */
  ca: IssuedCertificate;
  caFile: string;
  /** The node's HTTPS origin, e.g. https://127.0.0.1:1234, and its port. */
  origin: string;
  port: number;
  redirectUri: string;
}

export async function startNodeBehindIdp(
  t: TestContext,
  o: {
    people: Record<string, IdpPerson>;
    roles: { group: string; role: string }[];
    /** Claims beyond the standard ones (the UZI role code); none when absent. */
    claims?: Record<string, string>;
  } & Omit<ExchangeNodeOptions, 'ca' | 'port' | 'oidc'>,
): Promise<NodeBehindIdp> {
  const { people, roles, claims, ...nodeOptions } = o;
  const ca = createTestCa({ commonName: 'Beeldbrug test CA' });
  const port = await freePort();
  const origin = `https://127.0.0.1:${port}`;
  const redirectUri = `${origin}/api/v1/session/oidc/callback`;
  const idp = await startTestIdp(t, { ca, redirectUri, people });
  const dir = tempDir(t);
  writeFileSync(join(dir, 'client-secret'), `${idp.clientSecret}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'idp-ca.crt'), ca.certPem);
  const node = await startExchangeNode(t, {
    ...nodeOptions,
    ca,
    port,
    oidc: {
      issuer: idp.issuer,
      clientId: idp.clientId,
      clientSecretFile: join(dir, 'client-secret'),
      caFile: join(dir, 'idp-ca.crt'),
      redirectUri,
      ...(claims !== undefined ? { claims } : {}),
      roles,
    },
  });
  return { node, idp, ca, caFile: join(dir, 'idp-ca.crt'), origin, port, redirectUri };
}
