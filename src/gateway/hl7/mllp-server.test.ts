import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { createTestCa, issueNodeCertificate, organizationOf } from '../../auth/index.ts';
import { silentLogger } from '../../log/index.ts';
import { type MllpOptions, MllpServer } from './mllp-server.ts';

const frame = (s: string): Buffer => Buffer.concat([Buffer.from([0x0b]), Buffer.from(s), Buffer.from([0x1c, 0x0d])]);

async function serve(t: TestContext, o: Partial<MllpOptions> = {}): Promise<number> {
  const server = new MllpServer({
    allowed: () => true,
    handle: async (m) => `ACK:${m.toString()}`,
    maxMessageBytes: 1024,
    idleMs: 600_000,
    logger: silentLogger(),
    ...o,
  });
  t.after(() => server.close());
  return server.listen(0, '127.0.0.1');
}

/** Everything the server writes until it closes the connection, or until `frames` acknowledgements have come. */
function talk(port: number, write: (s: Socket) => void, frames = Infinity): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let data = '';
    s.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      if (data.split('\x1c\r').length - 1 >= frames) {
        s.destroy();
        resolve({ data, closed: false });
      }
    });
    s.on('close', () => resolve({ data, closed: true }));
    s.on('error', () => undefined);
    s.on('connect', () => write(s));
  });
}

test('MLLP: a message split over writes and two messages in one write are each acknowledged, in order, framed', async (t) => {
  const port = await serve(t);
  const r = await talk(
    port,
    (s) => {
      const both = Buffer.concat([frame('MSH|one'), Buffer.from('noise outside a frame'), frame('MSH|two')]);
      const first = frame('MSH|split');
      s.write(first.subarray(0, 4));
      s.write(Buffer.concat([first.subarray(4), both]));
    },
    3,
  );
  assert.equal(r.data, '\x0bACK:MSH|split\x1c\r\x0bACK:MSH|one\x1c\r\x0bACK:MSH|two\x1c\r');
});

test('MLLP: an address not allowed is disconnected unread; a message larger than allowed ends its connection', async (t) => {
  let handled = 0;
  const refusing = await serve(t, { allowed: () => false, handle: async () => (handled++, 'ACK') });
  const refused = await talk(refusing, (s) => s.write(frame('MSH|x')));
  assert.deepEqual(refused, { data: '', closed: true });
  const small = await serve(t, { maxMessageBytes: 16 });
  const large = await talk(small, (s) => s.write(frame(`MSH|${'x'.repeat(100)}`)));
  assert.deepEqual(large, { data: '', closed: true });
  assert.equal(handled, 0);
});

test("MLLP over TLS: OpenSSL's s_client with a certificate of our organization gets its acknowledgement; without one, or with another organization's, no connection", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beeldbrug-mllp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = createTestCa({ commonName: 'MLLP test CA' });
  const org = { name: 'Ziekenhuis Noord', ura: '10000001' };
  const server = issueNodeCertificate(ca, { commonName: 'node.test', organization: org, hosts: ['127.0.0.1'] });
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  for (const [name, o] of [
    ['ris', org],
    ['other', { name: 'Ziekenhuis Zuid', ura: '10000003' }],
  ] as const) {
    const c = issueNodeCertificate(ca, { commonName: `${name}.test`, organization: o });
    writeFileSync(join(dir, `${name}.crt`), c.certPem);
    writeFileSync(join(dir, `${name}.key`), c.keyPem, { mode: 0o600 });
  }
  const port = await serve(t, {
    tls: {
      key: server.keyPem,
      cert: server.certPem,
      ca: ca.certPem,
      clientProblem: (cert) => (organizationOf(cert)?.ura === org.ura ? undefined : 'another organization'),
    },
  });
  const sClient = (who: 'ris' | 'other' | undefined): Promise<string> =>
    new Promise((resolve) => {
      const args = ['s_client', '-quiet', '-connect', `127.0.0.1:${port}`, '-CAfile', join(dir, 'ca.crt')];
      if (who !== undefined) args.push('-cert', join(dir, `${who}.crt`), '-key', join(dir, `${who}.key`));
      const p = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'ignore'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString('latin1');
        // The acknowledgement is the event waited for; s_client would otherwise keep the connection open.
        if (out.includes('\x1c\r')) p.kill();
      });
      p.on('close', () => resolve(out));
      p.stdin.on('error', () => undefined);
      p.stdin.write(frame('MSH|over tls'));
    });
  assert.equal(await sClient('ris'), '\x0bACK:MSH|over tls\x1c\r');
  assert.equal(await sClient(undefined), '', 'the node asks for a client certificate and gets none');
  assert.equal(await sClient('other'), '', "a certificate of the CA, but another hospital's");
});
