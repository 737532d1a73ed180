// DICOM TLS (PS3.15 B.9, BCP 195): certificates made per run by the project's test PKI (CA, server, client, and a client from
// another CA); echoscu with +tls against our server, our SCU over TLS, untrusted and missing client certs refused.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Association, DimseProtocolError, Status } from '../../src/dimse/index.ts';
import { makeCa, makeCert, tlsOf } from '../support/test-certificates.ts';
import { requireTool } from '../support/tools.ts';
import { tempDir } from '../support/tmp.ts';
import { run, startServer } from './helpers.ts';

test('DICOM TLS: echoscu and our SCU with client certificates; untrusted or missing certificates are refused', async (t) => {
  const echoscu = requireTool(t, 'echoscu');
  if (echoscu === undefined) return;
  const dir = tempDir(t);
  makeCa(dir, 'ca');
  makeCa(dir, 'rogue-ca');
  makeCert(dir, 'ca', 'server', 'IP:127.0.0.1,DNS:localhost');
  makeCert(dir, 'ca', 'client', 'DNS:client.test');
  makeCert(dir, 'rogue-ca', 'rogue', 'DNS:rogue.test');
  const subjects: (string | undefined)[] = [];
  const { port, lines } = await startServer(t, {
    tls: tlsOf(dir, 'server', 'ca'),
    admit: (r) => {
      subjects.push(r.peerCertificateSubject);
      return r.tls ? { accept: true } : { accept: false, reason: 'no-reason', detail: 'TLS required' };
    },
    handlers: { echo: async () => undefined },
  });
  const tlsArgs = (name: string): string[] => [
    '+tls',
    join(dir, `${name}.key`),
    join(dir, `${name}.crt`),
    '+cf',
    join(dir, 'ca.pem'),
  ];

  for (const profile of [[], ['+py']]) {
    const ok = await run(echoscu, [
      ...profile,
      ...tlsArgs('client'),
      '-aet',
      'ECHOSCU',
      '-aec',
      'BEELDBRUG',
      '127.0.0.1',
      String(port),
    ]);
    assert.equal(ok.code, 0, `echoscu ${profile.join(' ')}: ${ok.stderr}`);
  }
  assert.match(subjects[0] ?? '', /CN=client/);

  const rogue = await run(echoscu, [
    ...tlsArgs('rogue'),
    '-aet',
    'ECHOSCU',
    '-aec',
    'BEELDBRUG',
    '127.0.0.1',
    String(port),
  ]);
  assert.notEqual(rogue.code, 0);
  const plain = await run(echoscu, ['-aet', 'ECHOSCU', '-aec', 'BEELDBRUG', '127.0.0.1', String(port)]);
  assert.notEqual(plain.code, 0);
  assert.ok(lines.filter((l) => l.reason === 'TLS_HANDSHAKE_FAILED').length >= 1);
  assert.equal(subjects.length, 2, 'no association reached admit() without a trusted client certificate');

  const assoc = await Association.connect({
    host: '127.0.0.1',
    port,
    callingAeTitle: 'TESTSCU',
    calledAeTitle: 'BEELDBRUG',
    tls: tlsOf(dir, 'client', 'ca'),
    presentationContexts: [{ abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: ['1.2.840.10008.1.2'] }],
  });
  assert.equal(await assoc.echo(), Status.Success);
  await assoc.release();

  await assert.rejects(
    Association.connect({
      host: '127.0.0.1',
      port,
      callingAeTitle: 'TESTSCU',
      calledAeTitle: 'BEELDBRUG',
      tls: { ...tlsOf(dir, 'client', 'ca'), ca: readFileSync(join(dir, 'rogue-ca.pem')) },
      presentationContexts: [{ abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: ['1.2.840.10008.1.2'] }],
    }),
    (e: unknown) => e instanceof DimseProtocolError && e.code === 'TLS_FAILED',
    'a server certificate from a CA we do not trust is refused by our SCU',
  );
});
