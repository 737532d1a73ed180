// C-ECHO and C-STORE against our server with DCMTK echoscu/storescu, and our SCU against DCMTK storescp.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Association, DimseFailure, Status } from '../../src/dimse/index.ts';
import { freePort, waitFor } from '../support/net.ts';
import { requireTool } from '../support/tools.ts';
import { tempDir } from '../support/tmp.ts';
import { CT, datasetOf, ExplicitLE, ImplicitLE, makeInstance, run, startPeer, startServer } from './helpers.ts';

test('echoscu gets Success from our server; the echo handler sees the calling AE', async (t) => {
  const echoscu = requireTool(t, 'echoscu');
  if (echoscu === undefined) return;
  const seen: string[] = [];
  const { port, lines } = await startServer(t, { handlers: { echo: async (a) => void seen.push(a.callingAeTitle) } });
  const r = await run(echoscu, ['-aet', 'ECHOSCU', '-aec', 'BEELDBRUG', '127.0.0.1', String(port)]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(seen, ['ECHOSCU']);
  assert.ok(lines.some((l) => l.msg === 'association accepted' && l['callingAe'] === 'ECHOSCU'));
});

test('echoscu with a calling AE that is not allow-listed is rejected (permanent, calling AE not recognized)', async (t) => {
  const echoscu = requireTool(t, 'echoscu');
  if (echoscu === undefined) return;
  const { port, lines } = await startServer(t, { handlers: {} });
  const r = await run(echoscu, ['-aet', 'INTRUDER', '-aec', 'BEELDBRUG', '127.0.0.1', String(port)]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr + r.stdout, /Rejected Permanent|Calling AE Title Not Recognized/i);
  assert.ok(lines.some((l) => l.reason === 'CALLING_AE_NOT_RECOGNIZED'));
  const ok = await run(echoscu, ['-aet', 'ECHOSCU', '-aec', 'BEELDBRUG', '127.0.0.1', String(port)]);
  assert.equal(ok.code, 0);
});

test('storescu sends several files over one association; the handler receives byte-identical data sets', async (t) => {
  const storescu = requireTool(t, 'storescu');
  if (storescu === undefined) return;
  const dir = tempDir(t);
  const files = [];
  for (let i = 0; i < 5; i++)
    files.push(
      await makeInstance(dir, `f${i}`, {
        sopInstanceUid: `1.2.3.4.1.${i + 1}`,
        pixelBytes: 20_000 + i * 70_001 + (i % 2),
        seed: i + 7,
        implicit: i === 3,
      }),
    );
  const received = new Map<string, { bytes: Buffer; ts: string; chunks: number }>();
  const { port } = await startServer(t, {
    maxPduLength: 16384,
    handlers: {
      store: async (_a, req) => {
        const parts: Buffer[] = [];
        for await (const c of req.data) parts.push(c);
        received.set(req.sopInstanceUid, {
          bytes: Buffer.concat(parts),
          ts: req.transferSyntaxUid,
          chunks: parts.length,
        });
      },
    },
  });
  const r = await run(storescu, ['-aet', 'STORESCU', '-aec', 'BEELDBRUG', '127.0.0.1', String(port), ...files]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(received.size, files.length);
  for (const [i, f] of files.entries()) {
    const got = received.get(`1.2.3.4.1.${i + 1}`);
    assert.ok(got !== undefined);
    const want = datasetOf(f);
    assert.equal(got.ts, want.transferSyntaxUid, 'accepted in the file transfer syntax, so no conversion by storescu');
    assert.ok(got.bytes.equals(want.bytes), `instance ${i} differs`);
  }
  assert.ok(
    [...received.values()].some((x) => x.chunks > 1),
    'large data sets arrive in several chunks',
  );
});

test('a failing store handler turns into a failure status; the server keeps working', async (t) => {
  const storescu = requireTool(t, 'storescu');
  if (storescu === undefined) return;
  const dir = tempDir(t);
  const a = await makeInstance(dir, 'a', { sopInstanceUid: '1.2.3.9.1' });
  const b = await makeInstance(dir, 'b', { sopInstanceUid: '1.2.3.9.2' });
  const ok: string[] = [];
  const { port } = await startServer(t, {
    handlers: {
      store: async (_a, req) => {
        if (req.sopInstanceUid === '1.2.3.9.1') throw new DimseFailure(Status.OutOfResources, 'disk full');
        for await (const _ of req.data) {
          /* drain */
        }
        ok.push(req.sopInstanceUid);
      },
    },
  });
  const r = await run(storescu, ['-v', '-aet', 'STORESCU', '-aec', 'BEELDBRUG', '127.0.0.1', String(port), a]);
  assert.match(r.stderr + r.stdout, /Received Store Response \(Refused: OutOfResources\)/);
  const r2 = await run(storescu, ['-v', '-aet', 'STORESCU', '-aec', 'BEELDBRUG', '127.0.0.1', String(port), b]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.deepEqual(ok, ['1.2.3.9.2']);
});

test('our SCU: C-ECHO and C-STORE to DCMTK storescp, files arrive identical', async (t) => {
  const storescp = requireTool(t, 'storescp');
  if (storescp === undefined) return;
  const dir = tempDir(t);
  const out = join(dir, 'out');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(out);
  const port = await freePort();
  startPeer(t, storescp, ['-aet', 'STORESCP', '-od', out, '--max-pdu', '16384', String(port)]);
  const files = [
    await makeInstance(dir, 'x1', { sopInstanceUid: '1.2.3.7.1', pixelBytes: 100_000 }),
    await makeInstance(dir, 'x2', { sopInstanceUid: '1.2.3.7.2', pixelBytes: 30_001 }),
  ];
  let assoc: Association | undefined;
  await waitFor('storescp', async () => {
    assoc = await Association.connect({
      host: '127.0.0.1',
      port,
      callingAeTitle: 'TESTSCU',
      calledAeTitle: 'STORESCP',
      presentationContexts: [
        { abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: [ExplicitLE, ImplicitLE] },
        { abstractSyntax: CT, transferSyntaxes: [ExplicitLE] },
      ],
    });
    return true;
  });
  assert.ok(assoc !== undefined);
  assert.equal(assoc.peerMaxPduLength, 16384);
  assert.equal(await assoc.echo(), Status.Success);
  for (const [i, f] of files.entries()) {
    const ds = datasetOf(f);
    // one as a Buffer, one streamed from the file in small chunks
    const status = await assoc.store({
      sopClassUid: CT,
      sopInstanceUid: `1.2.3.7.${i + 1}`,
      transferSyntaxUid: ExplicitLE,
      data: i === 0 ? ds.bytes : streamFrom(f, ds.bytes.length),
    });
    assert.equal(status, Status.Success);
  }
  await assoc.release();
  const got = readdirSync(out).sort();
  assert.equal(got.length, 2);
  for (const [i, f] of files.entries()) {
    const name = got.find((g) => g.endsWith(`1.2.3.7.${i + 1}`));
    assert.ok(name !== undefined, `file for instance ${i + 1}: ${got.join(',')}`);
    assert.ok(datasetOf(join(out, name)).bytes.equals(datasetOf(f).bytes));
  }
});

async function* streamFrom(file: string, datasetLength: number): AsyncIterable<Buffer> {
  const { createReadStream, statSync } = await import('node:fs');
  const size = statSync(file).size;
  for await (const c of createReadStream(file, { start: size - datasetLength, highWaterMark: 7000 })) yield c as Buffer;
}

test('our SCU: a data source that fails mid-message aborts the association (a DIMSE message cannot be withdrawn)', async (t) => {
  let completed = 0;
  const { port, lines } = await startServer(t, {
    maxPduLength: 4096,
    handlers: {
      store: async (_a, req) => {
        for await (const _ of req.data) {
          /* drain */
        }
        completed++;
      },
    },
  });
  const connectOpts = {
    host: '127.0.0.1',
    port,
    callingAeTitle: 'TESTSCU',
    calledAeTitle: 'BEELDBRUG',
    presentationContexts: [
      { abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: [ExplicitLE] },
      { abstractSyntax: CT, transferSyntaxes: [ExplicitLE] },
    ],
  };
  const assoc = await Association.connect(connectOpts);
  async function* failing(): AsyncIterable<Buffer> {
    yield Buffer.alloc(10_000, 1);
    throw new Error('disk read error');
  }
  await assert.rejects(
    assoc.store({ sopClassUid: CT, sopInstanceUid: '1.2.3.8.1', transferSyntaxUid: ExplicitLE, data: failing() }),
    /disk read error/,
  );
  await assert.rejects(assoc.echo());
  const { waitFor: wait } = await import('../support/net.ts');
  await wait('server saw the abort', () => Promise.resolve(lines.some((l) => l.reason === 'PEER_ABORT')));
  assert.equal(completed, 0, 'the partial instance never completed (its data stream failed or the handler never ran)');
  const again = await Association.connect(connectOpts);
  assert.equal(await again.echo(), Status.Success);
  await again.release();
});
