// 10,000 associations opened and closed (echo and release, a refused calling AE, a connection cut off mid-request)
// must not grow the node's memory: what an association holds is let go when it ends. Measured as what the process
// still holds once garbage collection frees no more (V8 heap plus memory outside it, such as Buffers), before and after,
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
const gc = runInNewContext('gc') as (options?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * What the process holds once collections stop freeing anything. Each collection after heavy churn freed another
 * ~3 MiB (objects let go by the weak callbacks and finalizers the one before queued), so a fixed number of
 * collections read a point on a falling curve and swung by up to 10 MiB between runs. Collect, let those tasks run,
 * and read again until two collections in a row free less than 256 KiB each.
 */
async function held(): Promise<number> {
  // Let closing sockets and timers (ARTIM, idle) run out first.
  await new Promise((r) => setTimeout(r, 500));
  let last = Infinity;
  let quiet = 0;
  for (let round = 0; round < 40; round++) {
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    await new Promise((r) => setTimeout(r, 50));
    const m = process.memoryUsage();
    const now = m.heapUsed + m.external;
    // Two quiet rounds in a row: one late step of the clean-up chain must not end the descent early.
    quiet = last - now < 256 * 1024 ? quiet + 1 : 0;
    if (quiet === 2) return Math.min(now, last);
    last = now;
  }
  throw new Error('memory held kept falling after 40 collections');
}

test(`${ROUNDS} associations grow the node's memory by less than 10 MiB`, { timeout: 600_000 }, async (t) => {
  const n = await startTestNode(t, {
    peers: [{ aeTitle: 'CHURN', host: '127.0.0.1', description: 'association churn' }],
  });
  const echo = async (calling: string): Promise<void> => {
    try {
      const a = await Association.connect({
        host: '127.0.0.1',
        port: n.port,
        callingAeTitle: calling,
        calledAeTitle: n.aeTitle,
        presentationContexts: [
          { abstractSyntax: SopClass.Verification, transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian] },
        ],
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
      const s = connect(n.port, '127.0.0.1', () =>
        s.end(Buffer.from([0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01])),
      );
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
  const one = (i: number): Promise<void> => (i % 10 === 8 ? echo('STRANGER') : i % 10 === 9 ? cutOff() : echo('CHURN'));
  const churn = async (count: number): Promise<void> => {
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < count) await one(next++);
      }),
    );
  };

  await churn(Math.min(2000, ROUNDS));
  const before = await held();
  await churn(ROUNDS);
  const after = await held();
  const growthMiB = (after - before) / 1024 / 1024;
  t.diagnostic(
    `held before ${(before / 1048576).toFixed(1)} MiB, after ${(after / 1048576).toFixed(1)} MiB, growth ${growthMiB.toFixed(2)} MiB, rss ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB`,
  );
  assert.ok(growthMiB < 10, `memory held grew ${growthMiB.toFixed(2)} MiB over ${ROUNDS} associations`);
});
