// SIGKILL the receiving node in the middle of a push and start it again: the sender keeps trying, the transfer resumes
// from what the receiver already holds, and it ends with every instance there once, intact, and nothing orphaned.
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnNode, startNodeProcess } from '../../bench/our-node.ts';
import { createTestCa, issueNodeCertificate } from '../../src/auth/index.ts';
import { sendStudy } from '../../src/exchange/index.ts';
import { silentLogger } from '../../src/log/index.ts';
import { openEmbeddedStore, readEncryptionKeyFile } from '../../src/store/index.ts';
import { writeCtStudy } from '../../src/synth/index.ts';
import { midden, noord, startExchangeNode } from '../support/exchange.ts';
import { freePort } from '../support/net.ts';
import { tempDir } from '../support/tmp.ts';

test('SIGKILL of the receiver mid-transfer: it resumes after restart, nothing lost or duplicated', async (t) => {
  const ca = createTestCa({ commonName: 'regio test CA' });
  const dir = tempDir(t, 'beeldbrug-receiver-');
  const keys = tempDir(t);
  const cert = issueNodeCertificate(ca, { commonName: 'midden.test', organization: midden, hosts: ['127.0.0.1'] });
  writeFileSync(join(keys, 'ca.crt'), ca.certPem);
  writeFileSync(join(keys, 'node.crt'), cert.certPem);
  writeFileSync(join(keys, 'node.key'), cert.keyPem);
  const httpsPort = await freePort();
  const dimsePort = await freePort();
  const first = await spawnNode({
    aeTitle: 'MIDDEN', port: dimsePort, dir, peers: [],
    edit: (raw) => {
      raw['node'] = { name: midden.name, organization: midden };
      raw['exchange'] = {
        listen: { host: '127.0.0.1', port: httpsPort },
        tls: { certFile: join(keys, 'node.crt'), keyFile: join(keys, 'node.key'), caFile: join(keys, 'ca.crt') },
        partners: [{ ura: noord.ura, name: noord.name }],
      };
    },
  });
  let receiver = first;
  t.after(() => receiver.stop('SIGKILL'));

  const sender = await startExchangeNode(t, { ca, us: noord, partners: [{ ...midden, baseUrl: `https://127.0.0.1:${httpsPort}` }] });
  const ct = await writeCtStudy({ outDir: join(tempDir(t), 'ct'), instances: 120, seed: 21 });
  for (const f of ct.files) await sender.n.node.studies.importFile({ actor: { kind: 'system', task: 'test' }, purpose: 'import' }, f);

  let killed = false;
  let restarted: Promise<void> | undefined;
  const result = await sendStudy(
    { studyInstanceUid: ct.studyInstanceUid, to: { ...midden, baseUrl: `https://127.0.0.1:${httpsPort}` }, purpose: 'transfer', urgency: 'urgent', reason: 'test', user: { id: 'r', name: 'R' } },
    {
      studies: sender.n.node.studies,
      tls: sender.tls,
      logger: silentLogger(),
      onProgress: (p) => {
        if (!killed && p.sent >= 20) {
          killed = true;
          receiver.child.kill('SIGKILL');
          restarted = (async () => {
            await new Promise((r) => setTimeout(r, 300));
            receiver = await startNodeProcess('MIDDEN', dimsePort, dir, join(dir, 'beeldbrug.yaml'));
          })();
        }
      },
    },
  );
  await restarted;
  assert.ok(killed, 'the receiver was killed mid-transfer');
  assert.equal(result.instances, 120);
  // Acknowledgements in flight at the kill are lost, so the sender's count can be short; the bytes tell the story: every
  // instance went out at least once, and the resumed attempt did not send the study all over again.
  const studyBytes = sender.n.node.studies.studyInstances({ actor: { kind: 'system', task: 'test' }, purpose: 'exchange' }, ct.studyInstanceUid).reduce((n, i) => n + i.blob.size, 0);
  assert.ok(result.bytesSent >= studyBytes && result.bytesSent < 2 * studyBytes, `resumed rather than started over (${result.bytesSent} of ${studyBytes} bytes)`);
  await receiver.stop();

  const store = await openEmbeddedStore({ dataDir: join(dir, 'data'), encryptionKey: readEncryptionKeyFile(join(dir, 'keys', 'store.key')) });
  t.after(() => store.close());
  const recovery = await store.recover();
  assert.deepEqual(recovery.missingBlobs, []);
  assert.equal(store.index.stats().instances, 120, 'every instance once');
  for (const sent of sender.n.node.studies.studyInstances({ actor: { kind: 'system', task: 'test' }, purpose: 'exchange' }, ct.studyInstanceUid)) {
    assert.equal(store.index.getInstance(sent.instance.sopInstanceUid)?.blob.sha256, sent.blob.sha256);
  }
  const blobs = readdirSync(join(dir, 'data', 'blobs'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
  assert.deepEqual(new Set(blobs), store.index.referencedBlobIds(), 'no orphan files');
});
