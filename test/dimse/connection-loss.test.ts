// A peer that vanishes without A-ABORT or A-RELEASE (killed, cable pulled): the association ends, and nothing that
// waits on it hangs. A relay between our SCU and SCP lets the test cut the connection at will.
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { Association, DimseProtocolError } from '../../src/dimse/index.ts';
import { startServer } from './helpers.ts';

const Verification = '1.2.840.10008.1.1';
const ImplicitLE = '1.2.840.10008.1.2';

test('release and echo after the connection was lost end at once instead of hanging', async (t) => {
  const { port } = await startServer(t, { handlers: { echo: async () => undefined } });
  const sockets: Socket[] = [];
  const relay = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.push(client, upstream);
    client.pipe(upstream).pipe(client);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  t.after(() => relay.close());
  const address = relay.address();
  assert.ok(typeof address === 'object' && address !== null);

  const assoc = await Association.connect({
    host: '127.0.0.1',
    port: address.port,
    callingAeTitle: 'TESTSCU',
    calledAeTitle: 'BEELDBRUG',
    presentationContexts: [{ abstractSyntax: Verification, transferSyntaxes: [ImplicitLE] }],
  });
  assert.equal(await assoc.echo(), 0);
  for (const s of sockets) s.destroy();

  // Whether the echo goes out before or after our side sees the connection end, it fails when it does.
  await assert.rejects(
    assoc.echo(),
    (err: unknown) => err instanceof DimseProtocolError,
    'a request on a lost association fails',
  );
  // "At once" without a clock: release settles before the event loop turns, so it waits for no I/O and no timer.
  const settled = await Promise.race([
    assoc.release().then(() => 'released'),
    new Promise<string>((r) => setImmediate(() => r('still waiting'))),
  ]);
  assert.equal(settled, 'released', 'release of a lost association returns at once');
});
