// DICOM TLS switched on per port in the node configuration (PS3.15 B.9, BCP 195): storescu with a client certificate
// from the trusted CA stores over TLS; plain DICOM and certificates from another CA get nowhere on that port. Every
// certificate comes from an issuing CA under the root, as UZI-register server certificates do; only the root is trusted.
// Which certificate may stand for which AE title: an unbound peer must show our own organization, a bound peer
// (dimse.peers[].certificate) its bound URA, subject or fingerprint.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { run, startPeer } from '../dimse/helpers.ts';
import { freePort, waitFor } from '../support/net.ts';
import { logLines, startTestNode } from '../support/node.ts';
import { makeCa, makeCert, makeIntermediateCa } from '../support/test-certificates.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

// The test node's own organization (test/support/node.ts), a partner, and an organization nobody bound.
const own = { name: 'Testziekenhuis', ura: '12345678' };
const partner = { name: 'Ziekenhuis Midden', ura: '10000002' };
const stranger = { name: 'Ziekenhuis Zuid', ura: '10000003' };

test('a TLS listener from the configuration: trusted client certificate in, plain and untrusted out', async (t) => {
  if ([requireTool(t, 'storescu'), requireTool(t, 'echoscu'), requireTool(t, 'dump2dcm')].includes(undefined)) return;
  const pki = tempDir(t);
  makeCa(pki, 'ca');
  makeIntermediateCa(pki, 'ca', 'issuing');
  makeCa(pki, 'rogue-ca');
  makeCert(pki, 'issuing', 'node', 'IP:127.0.0.1,DNS:localhost', { organization: own });
  makeCert(pki, 'issuing', 'pacs', 'DNS:pacs.test', { organization: own });
  makeCert(pki, 'issuing', 'midden', 'DNS:midden.test', { organization: partner });
  makeCert(pki, 'issuing', 'zuid', 'DNS:zuid.test', { organization: stranger });
  makeCert(pki, 'issuing', 'anonymous', 'DNS:modality.test', { organization: own, profile: 'none' });
  makeCert(pki, 'rogue-ca', 'rogue', 'DNS:rogue.test', { organization: own });
  const anonymousFingerprint = new X509Certificate(readFileSync(join(pki, 'anonymous.crt'))).fingerprint256;
  const tlsPort = await freePort();
  const n = await startTestNode(t, {
    peers: [{ aeTitle: 'PACS', host: '127.0.0.1', description: 'test PACS' }],
    edit: (raw) => {
      const dimse = raw['dimse'] as { listeners: unknown[]; peers: unknown[] };
      dimse.listeners.push({
        host: '127.0.0.1',
        port: tlsPort,
        tls: { certFile: join(pki, 'node.crt'), keyFile: join(pki, 'node.key'), caFile: join(pki, 'ca.pem') },
      });
      dimse.peers.push({ aeTitle: 'MIDDEN', host: '127.0.0.1', certificate: { ura: partner.ura } });
      dimse.peers.push({ aeTitle: 'MODALITY', host: '127.0.0.1', certificate: { sha256: anonymousFingerprint } });
    },
  });
  assert.equal(n.node.dimsePorts[1], tlsPort);

  const dump = join(pki, 'x.dump');
  const file = join(pki, 'x.dcm');
  writeFileSync(
    dump,
    '(0008,0016) UI [1.2.840.10008.5.1.4.1.1.7]\n(0008,0018) UI [1.2.826.0.1.3680043.9.7777.42.1]\n(0010,0020) LO [TLS1]\n(0020,000d) UI [1.2.826.0.1.3680043.9.7777.42]\n(0020,000e) UI [1.2.826.0.1.3680043.9.7777.42.2]\n',
  );
  assert.equal((await run('dump2dcm', ['+te', dump, file])).code, 0);

  const tls = (name: string, ca = 'ca'): string[] => [
    '+tls',
    join(pki, `${name}.key`),
    join(pki, `${name}.crt`),
    '+cf',
    join(pki, `${ca}.pem`),
  ];
  const as = (aeTitle: string): string[] => ['-aet', aeTitle, '-aec', n.aeTitle, '127.0.0.1', String(tlsPort)];
  const stored = await run('storescu', [...tls('pacs'), ...as('PACS'), file]);
  assert.equal(stored.code, 0, `a PACS of our own organization stores, through the issuing CA: ${stored.stderr}`);
  assert.equal((await n.node.store.index.stats()).instances, 1);

  const plain = await run('echoscu', as('PACS'), 10_000);
  assert.notEqual(plain.code, 0, 'plain DICOM on the TLS port fails');
  const rogue = await run('echoscu', [...tls('rogue', 'ca'), ...as('PACS')], 10_000);
  assert.notEqual(rogue.code, 0, 'a client certificate from another CA is refused');
  const noCert = await run('echoscu', ['+tla', '+cf', join(pki, 'ca.pem'), ...as('PACS')], 10_000);
  assert.notEqual(noCert.code, 0, 'TLS without a client certificate is refused');

  // The same trusted CA, other organizations: each certificate gets only the AE title it is bound to.
  const echo = async (cert: string, aeTitle: string): Promise<number | null> =>
    (await run('echoscu', [...tls(cert), ...as(aeTitle)], 10_000)).code;
  assert.notEqual(await echo('zuid', 'PACS'), 0, "another organization's certificate cannot use our PACS's AE title");
  assert.notEqual(
    await echo('anonymous', 'PACS'),
    0,
    'a certificate without organization cannot use an unbound AE title',
  );
  assert.equal(await echo('midden', 'MIDDEN'), 0, 'a peer bound to its URA gets in with its certificate');
  assert.notEqual(
    await echo('zuid', 'MIDDEN'),
    0,
    "a peer bound to a URA: another organization's certificate is refused",
  );
  assert.notEqual(
    await echo('anonymous', 'MIDDEN'),
    0,
    'a peer bound to a URA: a certificate without organization is refused',
  );
  assert.notEqual(
    await echo('pacs', 'MIDDEN'),
    0,
    "a peer bound to a URA: our own organization's certificate is not the partner",
  );
  assert.equal(
    await echo('anonymous', 'MODALITY'),
    0,
    'a certificate without organization gets in where its fingerprint is bound',
  );
  assert.notEqual(await echo('pacs', 'MODALITY'), 0, 'a peer bound to a fingerprint: another certificate is refused');

  await waitFor(
    'the refusals in the log',
    async () => logLines(n).filter((l) => l['reason'] === 'PEER_CERTIFICATE_MISMATCH').length >= 6,
  );
  const refusal = logLines(n).find((l) => l['reason'] === 'PEER_CERTIFICATE_MISMATCH' && l['callingAe'] === 'MIDDEN');
  assert.match(String(refusal?.['detail']), /bound to URA 10000002; the certificate is of URA 10000003/);
});

test('outgoing DICOM TLS checks the server it reached: a C-MOVE goes to the bound or own-organization PACS, and to no other', async (t) => {
  const tools = ['storescu', 'movescu', 'storescp', 'echoscu', 'dump2dcm'].map((p) => requireTool(t, p));
  if (tools.includes(undefined)) return;
  const pki = tempDir(t);
  makeCa(pki, 'ca');
  makeIntermediateCa(pki, 'ca', 'issuing');
  makeCert(pki, 'issuing', 'node', 'IP:127.0.0.1,DNS:localhost', { organization: own });
  makeCert(pki, 'issuing', 'pacs', 'IP:127.0.0.1,DNS:pacs.test', { organization: own });
  makeCert(pki, 'issuing', 'midden', 'IP:127.0.0.1,DNS:midden.test', { organization: partner });
  makeCert(pki, 'issuing', 'zuid', 'IP:127.0.0.1,DNS:zuid.test', { organization: stranger });
  const tlsOf = (name: string): string[] => [
    '+tls',
    join(pki, `${name}.key`),
    join(pki, `${name}.crt`),
    '+cf',
    join(pki, 'ca.pem'),
  ];

  // Three DICOM TLS servers: our own PACS, the partner's (bound to its URA), and one that answers at an address
  // configured for our PACS with another organization's certificate.
  const servers = {
    own: { aeTitle: 'PACS_TLS', cert: 'pacs', port: await freePort(), dir: join(pki, 'own') },
    partner: { aeTitle: 'MIDDEN_TLS', cert: 'midden', port: await freePort(), dir: join(pki, 'partner') },
    impostor: { aeTitle: 'PACS_TLS2', cert: 'zuid', port: await freePort(), dir: join(pki, 'impostor') },
  };
  for (const s of Object.values(servers)) {
    mkdirSync(s.dir);
    startPeer(t, 'storescp', [...tlsOf(s.cert), '--aetitle', s.aeTitle, '-od', s.dir, String(s.port)]);
    await waitFor(
      `storescp ${s.aeTitle}`,
      async () => (await run('echoscu', [...tlsOf('pacs'), '-aec', s.aeTitle, '127.0.0.1', String(s.port)])).code === 0,
    );
  }
  const n = await startTestNode(t, {
    peers: [{ aeTitle: 'PACS', host: '127.0.0.1', description: 'the PACS that asks' }],
    edit: (raw) => {
      const dimse = raw['dimse'] as { peers: unknown[]; tlsClient?: unknown };
      dimse.tlsClient = {
        certFile: join(pki, 'node.crt'),
        keyFile: join(pki, 'node.key'),
        caFile: join(pki, 'ca.pem'),
      };
      dimse.peers.push({ aeTitle: servers.own.aeTitle, host: '127.0.0.1', port: servers.own.port, tls: true });
      dimse.peers.push({
        aeTitle: servers.partner.aeTitle,
        host: '127.0.0.1',
        port: servers.partner.port,
        tls: true,
        certificate: { ura: partner.ura },
      });
      dimse.peers.push({
        aeTitle: servers.impostor.aeTitle,
        host: '127.0.0.1',
        port: servers.impostor.port,
        tls: true,
      });
    },
  });
  const dump = join(pki, 'x.dump');
  const file = join(pki, 'x.dcm');
  writeFileSync(
    dump,
    '(0008,0016) UI [1.2.840.10008.5.1.4.1.1.7]\n(0008,0018) UI [1.2.826.0.1.3680043.9.7777.43.1]\n(0010,0020) LO [TLSOUT]\n(0020,000d) UI [1.2.826.0.1.3680043.9.7777.43]\n(0020,000e) UI [1.2.826.0.1.3680043.9.7777.43.2]\n',
  );
  assert.equal((await run('dump2dcm', ['+te', dump, file])).code, 0);
  assert.equal((await run('storescu', ['-aet', 'PACS', '-aec', n.aeTitle, '127.0.0.1', String(n.port), file])).code, 0);

  const move = (destination: string) =>
    run('movescu', [
      '-aet',
      'PACS',
      '-aec',
      n.aeTitle,
      '-aem',
      destination,
      '-S',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      'StudyInstanceUID=1.2.826.0.1.3680043.9.7777.43',
      '127.0.0.1',
      String(n.port),
    ]);
  const filesIn = (dir: string): string[] => readdirSync(dir).filter((f) => !f.startsWith('.'));

  assert.equal((await move(servers.own.aeTitle)).code, 0);
  assert.equal(filesIn(servers.own.dir).length, 1, 'our own PACS (a certificate of our URA) gets the study');
  assert.equal((await move(servers.partner.aeTitle)).code, 0);
  assert.equal(filesIn(servers.partner.dir).length, 1, 'a destination bound to a URA gets it with that certificate');

  const refused = await move(servers.impostor.aeTitle);
  assert.match(`${refused.stdout}${refused.stderr}`, /Failed|Refused|Out of Resources|fail/i);
  assert.deepEqual(
    filesIn(servers.impostor.dir),
    [],
    'a server with another organization’s certificate receives nothing',
  );
  const refusalLine = (): Record<string, unknown> | undefined =>
    logLines(n).find((l) => typeof l['detail'] === 'string' && l['detail'].includes('PACS_TLS2 at 127.0.0.1'));
  await waitFor('the refusal in the log', async () => refusalLine() !== undefined);
  const line = refusalLine();
  assert.match(String(line?.['detail']), /is of URA 10000003, not ours; .*nothing was sent/);
});
