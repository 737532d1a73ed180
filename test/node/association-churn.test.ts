// 10,000 associations opened and closed (echo and release, a refused calling AE, a connection cut off mid-request)
// must not grow the node's memory: what an association holds is let go when it ends. Measured as what the process
// still holds after a full garbage collection (V8 heap plus memory outside it, such as Buffers), before and after,
// following a warm-up; RSS is not the measure, because V8 and malloc keep freed pages for reuse.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SopClass, TransferSyntax } from '../../src/dicom/index.ts';
import { Association } from '../../src/dimse/index.ts';
import { startTestNode } from '../support/node.ts';

const ROUNDS = Number(process.env['CHURN_ASSOCIATIONS'] ?? 10_000);
const PARALLEL = 8;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** What the process holds after full collections, with the tasks that weak references and closed handles queue run in between. */
async function held(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

test(`${ROUNDS} associations grow the node's memory by less than 10 MiB`, { timeout: 600_000 }, async (t) => {
  const n = await startTestNode(t, { peers: [{ aeTitle: 'CHURN', host: '127.0.0.1', description: 'association churn' }] });
  const echo = async (calling: string): Promise<void> => {
    try {
      const a = await Association.connect({
        host: '127.0.0.1',
        port: n.port,
        callingAeTitle: calling,
        calledAeTitle: n.aeTitle,
        presentationContexts: [{ abstractSyntax: SopClass.Verification, transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian] }],
      });
      assert.equal(await a.echo(), 0);
      await a.release();
    } catch (err) {
      if (calling === 'CHURN') throw err;
    }
  };
  // An A-ASSOCIATE-RQ header announcing more than is sent, then the connection drops.
  const cutOff = (): Promise<void> =>
    new Promise((resolve) => {
      const s = connect(n.port, '127.0.0.1', () => s.end(Buffer.from([0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01])));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
  const one = (i: number): Promise<void> => (i % 10 === 8 ? echo('STRANGER') : i % 10 === 9 ? cutOff() : echo('CHURN'));
  const churn = async (count: number): Promise<void> => {
    let next = 0;
    await Promise.all(Array.from({ length: PARALLEL }, async () => {
      while (next < count) await one(next++);
    }));
  };

  await churn(Math.min(2000, ROUNDS));
  const before = await held();
  await churn(ROUNDS);
  // Let closing sockets and timers (ARTIM, idle) run out before measuring.
  await new Promise((r) => setTimeout(r, 500));
  const after = await held();
  const growthMiB = (after - before) / 1024 / 1024;
  t.diagnostic(`held before ${(before / 1048576).toFixed(1)} MiB, after ${(after / 1048576).toFixed(1)} MiB, growth ${growthMiB.toFixed(2)} MiB, rss ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB`);
  assert.ok(growthMiB < 10, `memory held grew ${growthMiB.toFixed(2)} MiB over ${ROUNDS} associations`);
});
