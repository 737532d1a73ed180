// DICOM TLS switched on per port in the node configuration (PS3.15 B.9, BCP 195): storescu with a client certificate
// from the trusted CA stores over TLS; plain DICOM and certificates from another CA get nowhere on that port.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from '../dimse/helpers.ts';
import { freePort } from '../support/net.ts';
import { startTestNode } from '../support/node.ts';
import { makeCa, makeCert } from '../support/test-certificates.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

test('a TLS listener from the configuration: trusted client certificate in, plain and untrusted out', async (t) => {
  if ([requireTool(t, 'storescu'), requireTool(t, 'echoscu'), requireTool(t, 'dump2dcm')].includes(undefined)) return;
  const pki = tempDir(t);
  makeCa(pki, 'ca');
  makeCa(pki, 'rogue-ca');
  makeCert(pki, 'ca', 'node', 'IP:127.0.0.1,DNS:localhost');
  makeCert(pki, 'ca', 'pacs', 'DNS:pacs.test');
  makeCert(pki, 'rogue-ca', 'rogue', 'DNS:rogue.test');
  const tlsPort = await freePort();
  const n = await startTestNode(t, {
    peers: [{ aeTitle: 'PACS', host: '127.0.0.1', description: 'test PACS' }],
    edit: (raw) => {
      const dimse = raw['dimse'] as { listeners: unknown[] };
      dimse.listeners.push({ host: '127.0.0.1', port: tlsPort, tls: { certFile: join(pki, 'node.crt'), keyFile: join(pki, 'node.key'), caFile: join(pki, 'ca.pem') } });
    },
  });
  assert.equal(n.node.dimsePorts[1], tlsPort);

  const dump = join(pki, 'x.dump');
  const file = join(pki, 'x.dcm');
  writeFileSync(dump, '(0008,0016) UI [1.2.840.10008.5.1.4.1.1.7]\n(0008,0018) UI [1.2.826.0.1.3680043.9.7777.42.1]\n(0010,0020) LO [TLS1]\n(0020,000d) UI [1.2.826.0.1.3680043.9.7777.42]\n(0020,000e) UI [1.2.826.0.1.3680043.9.7777.42.2]\n');
  assert.equal((await run('dump2dcm', ['+te', dump, file])).code, 0);

  const tls = (name: string, ca = 'ca'): string[] => ['+tls', join(pki, `${name}.key`), join(pki, `${name}.crt`), '+cf', join(pki, `${ca}.pem`)];
  const peer = ['-aet', 'PACS', '-aec', n.aeTitle, '127.0.0.1', String(tlsPort)];
  const stored = await run('storescu', [...tls('pacs'), ...peer, file]);
  assert.equal(stored.code, 0, stored.stderr);
  assert.equal(n.node.store.index.stats().instances, 1);

  const plain = await run('echoscu', peer, 10_000);
  assert.notEqual(plain.code, 0, 'plain DICOM on the TLS port fails');
  const rogue = await run('echoscu', [...tls('rogue', 'ca'), ...peer], 10_000);
  assert.notEqual(rogue.code, 0, 'a client certificate from another CA is refused');
  const noCert = await run('echoscu', ['+tla', '+cf', join(pki, 'ca.pem'), ...peer], 10_000);
  assert.notEqual(noCert.code, 0, 'TLS without a client certificate is refused');
});
