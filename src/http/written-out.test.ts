import assert from 'node:assert/strict';
import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { sendGathered } from './written-out.ts';

/**
 * Serves one answer made by `answer`, fetches it, and gives back its bytes (none when it was cut off) and the number of
 * writes it took.
 */
async function served(
  answer: (res: ServerResponse) => Promise<void>,
): Promise<{ body: Buffer; writes: number; outcome: Promise<unknown> }> {
  let writes = 0;
  let outcome: Promise<unknown> = Promise.resolve();
  const server = createServer((_req, res) => {
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    res.write = ((...args: unknown[]) => ((writes += 1), write(...args))) as typeof res.write;
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    outcome = answer(res).then(
      () => res.end(),
      (err: unknown) => (res.destroy(), Promise.reject(err)),
    );
    outcome.catch(() => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const body = await new Promise<Buffer>((resolve) => {
      request({ host: '127.0.0.1', port, path: '/' }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', () => resolve(Buffer.alloc(0)));
      })
        // A send that fails ends the connection mid-answer: the client sees it cut off.
        .on('error', () => resolve(Buffer.alloc(0)))
        .end();
    });
    return { body, writes, outcome };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const bytes = (n: number, seed: number): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) % 251));

test('a zip-like stream goes out whole and in order: its many small pieces gathered into a few writes, its large ones as they are', async () => {
  // Per file: thirty 4-byte header fields, then the file (large), then a 16-byte data descriptor.
  const pieces: Buffer[] = [];
  for (let file = 0; file < 5; file++) {
    for (let field = 0; field < 30; field++) pieces.push(bytes(4, file * 31 + field));
    pieces.push(bytes(200_000, file));
    pieces.push(bytes(16, file + 100));
  }
  const handed: Buffer[] = [];
  const { body, writes, outcome } = await served((res) =>
    sendGathered(res, Readable.from(pieces, { objectMode: true }), (p) => handed.push(p)),
  );
  await outcome;
  assert.deepEqual(body, Buffer.concat(pieces));
  assert.equal(handed.length, pieces.length, 'every piece handed back once');
  assert.ok(
    handed.every((p, i) => p === pieces[i]),
    'in the order they came',
  );
  // Each file: its gathered small pieces (the previous descriptor and this header) and the file; then the last descriptor.
  assert.ok(writes <= 2 * 5 + 1, `${writes} writes for ${pieces.length} pieces`);
});

test('small pieces beyond the staging buffer are sent as it fills, and nothing is lost', async () => {
  const pieces = Array.from({ length: 3000 }, (_, i) => bytes(1000 + (i % 17), i));
  const { body, writes, outcome } = await served((res) =>
    sendGathered(res, Readable.from(pieces, { objectMode: true }), () => undefined),
  );
  await outcome;
  assert.deepEqual(body, Buffer.concat(pieces));
  assert.ok(writes >= 2 && writes <= 4, `${writes} writes of a 2 MiB buffer for ${body.length} bytes`);
});

test('a stream that fails rejects the send, and the stream is destroyed', async () => {
  const failing = new Readable({
    read() {
      this.push(bytes(10, 1));
      this.destroy(new Error('the store could not read the file'));
    },
  });
  const { outcome } = await served((res) => sendGathered(res, failing, () => undefined));
  await assert.rejects(outcome, /could not read the file/);
  assert.equal(failing.destroyed, true);
});
