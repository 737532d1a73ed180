// Local throughput check of the C-STORE hot path (not a timed assertion): DCMTK storescu sends ~200 instances of
// ~520 KB over one association; the handler drains to /dev/null, then to a file with fsync before the response.
import assert from 'node:assert/strict';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { StoreRequest } from '../../src/dimse/index.ts';
import { requireTool } from '../support/tools.ts';
import { tempDir } from '../support/tmp.ts';
import { makeInstance, run, startServer } from './helpers.ts';

const COUNT = Number(process.env['DIMSE_BENCH_COUNT'] ?? 200);

test(`storescu -> our SCP: ${COUNT} x ~520 KB over one association`, async (t) => {
  const storescu = requireTool(t, 'storescu');
  if (storescu === undefined) return;
  const dir = tempDir(t);
  const template = await makeInstance(dir, 'template', {
    sopInstanceUid: '1.2.826.0.1.3680043.9.9999.100000',
    pixelBytes: 512 * 512 * 2,
    seed: 3,
  });
  const bytes = readFileSync(template);
  const uidAt = bytes.indexOf('1.2.826.0.1.3680043.9.9999.100000');
  const files: string[] = [];
  for (let i = 0; i < COUNT; i++) {
    const copy = Buffer.from(bytes);
    copy.write(String(100000 + i), uidAt + 27, 'latin1');
    const f = join(dir, `i${i}.dcm`);
    writeFileSync(f, copy);
    files.push(f);
  }
  const sink = createWriteStream('/dev/null');
  const drainToNull = async (_a: unknown, req: StoreRequest): Promise<void> => {
    for await (const c of req.data) if (!sink.write(c)) await new Promise<void>((r) => sink.once('drain', () => r()));
  };
  let n = 0;
  const durable = async (_a: unknown, req: StoreRequest): Promise<void> => {
    const fh = await open(join(dir, `rx-${n++ % 4}.bin`), 'w');
    try {
      for await (const c of req.data) await fh.write(c);
      await fh.sync();
    } finally {
      await fh.close();
    }
  };
  for (const [name, store] of [
    ['drain to /dev/null', drainToNull],
    ['write + fsync per instance', durable],
  ] as const) {
    let stored = 0;
    const { port, server } = await startServer(t, {
      handlers: {
        store: async (a, req) => {
          await store(a, req);
          stored++;
        },
      },
    });
    const started = process.hrtime.bigint();
    const r = await run(
      storescu,
      ['-aet', 'STORESCU', '-aec', 'BEELDBRUG', '--max-pdu', '131072', '127.0.0.1', String(port), ...files],
      120_000,
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(stored, COUNT);
    const msg = `${name}: ${COUNT} instances (${(bytes.length / 1024).toFixed(0)} KB) in ${seconds.toFixed(2)} s = ${(COUNT / seconds).toFixed(0)} instances/s, ${((COUNT * bytes.length) / seconds / 1e6).toFixed(0)} MB/s`;
    t.diagnostic(msg);
    console.log(msg);
    await server.close();
  }
});
