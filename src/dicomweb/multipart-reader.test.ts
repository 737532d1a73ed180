import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MultipartError, parseMultipartContentType, readMultipart } from './multipart-reader.ts';

/** A small seeded generator, so a failing case can be replayed from its seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

function encode(boundary: string, parts: { headers: [string, string][]; body: Buffer }[], preamble = ''): Buffer {
  const out: Buffer[] = [Buffer.from(preamble)];
  for (const p of parts) {
    out.push(
      Buffer.from(`--${boundary}\r\n${p.headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`),
      p.body,
      Buffer.from('\r\n'),
    );
  }
  out.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(out);
}

async function* chunked(b: Buffer, next: () => number, max: number): AsyncIterable<Buffer> {
  for (let at = 0; at < b.length;) {
    const n = 1 + Math.floor(next() * max);
    yield b.subarray(at, at + n);
    at += n;
  }
}

async function readAll(
  source: AsyncIterable<Buffer>,
  boundary: string,
): Promise<{ headers: Record<string, string>; body: Buffer }[]> {
  const out: { headers: Record<string, string>; body: Buffer }[] = [];
  for await (const part of readMultipart(source, boundary, { maxParts: 50 })) {
    const chunks: Buffer[] = [];
    for await (const c of part.body) chunks.push(Buffer.from(c));
    out.push({ headers: Object.fromEntries(part.headers), body: Buffer.concat(chunks) });
  }
  return out;
}

test('random parts in random chunkings come back exactly, even with near-delimiters in the data', async () => {
  const boundary = 'bb-7f3a9c';
  for (let seed = 1; seed <= 300; seed++) {
    const next = rng(seed);
    const parts = Array.from({ length: 1 + Math.floor(next() * 4) }, (_, i) => {
      const pieces: Buffer[] = [];
      const n = Math.floor(next() * 6);
      for (let k = 0; k < n; k++) {
        const r = next();
        // Random bytes, prefixes of the delimiter, or the boundary with its last character changed: near-misses that
        // must not end the part (RFC 2046 forbids the delimiter itself inside a body).
        if (r < 0.4)
          pieces.push(Buffer.from(Array.from({ length: Math.floor(next() * 300) }, () => Math.floor(next() * 256))));
        else if (r < 0.7)
          pieces.push(Buffer.from(`\r\n--${boundary}`.slice(0, 1 + Math.floor(next() * (boundary.length + 3)))));
        else pieces.push(Buffer.from(`\r\n--${boundary.slice(0, -1)}Z\r\n`));
      }
      return {
        headers: [
          ['Content-Type', 'application/dicom'],
          ['X-Part', String(i)],
        ] as [string, string][],
        body: Buffer.concat(pieces),
      };
    });
    const encoded = encode(boundary, parts, next() < 0.3 ? 'preamble text\r\n' : '');
    const got = await readAll(chunked(encoded, next, 1 + Math.floor(next() * 40)), boundary);
    assert.equal(got.length, parts.length, `seed ${seed}: part count`);
    for (const [i, p] of parts.entries()) {
      assert.ok(got[i]?.body.equals(p.body), `seed ${seed}: part ${i} body`);
      assert.equal(got[i]?.headers['content-type'], 'application/dicom');
      assert.equal(got[i]?.headers['x-part'], String(i));
    }
  }
});

test('a part whose body the caller does not read is skipped, and the next part is still right', async () => {
  const body = encode('b1', [
    { headers: [['Content-Type', 'a']], body: Buffer.alloc(100_000, 1) },
    { headers: [['Content-Type', 'b']], body: Buffer.from('second') },
  ]);
  const seen: string[] = [];
  for await (const part of readMultipart(chunked(body, rng(3), 5000), 'b1')) {
    if (part.headers.get('content-type') === 'b') for await (const c of part.body) seen.push(c.toString());
  }
  assert.deepEqual(seen, ['second']);
});

const malformed: [string, string, string][] = [
  ['no boundary at all', 'just some bytes', 'NO_FIRST_BOUNDARY'],
  ['text before the boundary without a line end', 'junk--b\r\n\r\nx\r\n--b--', 'NO_FIRST_BOUNDARY'],
  ['ends inside part headers', '--b\r\nContent-Type: a', 'TRUNCATED'],
  ['ends inside a part body', '--b\r\nContent-Type: a\r\n\r\nsome data', 'TRUNCATED'],
  ['no close delimiter', '--b\r\nContent-Type: a\r\n\r\ndata\r\n--b', 'TRUNCATED'],
  ['not a header line', '--b\r\nthis is not a header\r\n\r\ndata\r\n--b--', 'BAD_HEADER'],
  ['garbage after a boundary', '--b garbage\r\n\r\ndata\r\n--b--', 'BAD_DELIMITER'],
  ['headers too large', `--b\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\ndata\r\n--b--`, 'HEADER_TOO_LARGE'],
  ['too many parts', `${'--b\r\n\r\nx\r\n'.repeat(60)}--b--`, 'TOO_MANY_PARTS'],
];
for (const [name, text, code] of malformed) {
  test(`malformed multipart: ${name} -> ${code}`, async () => {
    await assert.rejects(
      readAll(chunked(Buffer.from(text), rng(7), 7), 'b'),
      (e: unknown) => e instanceof MultipartError && e.code === code,
    );
  });
}

test('the Content-Type gives boundary and type; anything else is refused', () => {
  assert.deepEqual(parseMultipartContentType('multipart/related; type="application/dicom"; boundary=abc-123'), {
    boundary: 'abc-123',
    type: 'application/dicom',
  });
  assert.equal(parseMultipartContentType('Multipart/Related;boundary="a b"').boundary, 'a b');
  for (const bad of [
    undefined,
    'application/json',
    'multipart/related',
    'multipart/related; boundary=',
    `multipart/related; boundary=${'x'.repeat(71)}`,
    'multipart/related; boundary="ends with space "',
  ]) {
    assert.throws(
      () => parseMultipartContentType(bad),
      (e: unknown) => e instanceof MultipartError && e.code === 'BAD_CONTENT_TYPE',
      String(bad),
    );
  }
});

test('the close delimiter ends the body whatever follows it: no line end, or a long epilogue, in any chunking', async () => {
  const part = {
    headers: [['Content-Type', 'application/dicom']] as [string, string][],
    body: Buffer.from('instance'),
  };
  const body = encode('b0undary', [part]);
  const bare = body.subarray(0, body.lastIndexOf('--') + 2);
  assert.ok(bare.toString('latin1').endsWith('--b0undary--'));
  const long = Buffer.concat([bare, Buffer.from('x'.repeat(5000))]);
  for (const b of [bare, long]) {
    for (const max of [1, 3, 64, 100_000]) {
      const parts = await readAll(chunked(b, rng(max), max), 'b0undary');
      assert.deepEqual(
        parts.map((p) => p.body.toString()),
        ['instance'],
      );
    }
  }
});
