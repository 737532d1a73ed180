import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DimseProtocolError } from './errors.ts';
import { IncomingData } from './incoming-data.ts';

function flow(): { pauses: number; resumes: number; pause(): void; resume(): void } {
  const f = { pauses: 0, resumes: 0, pause: () => void f.pauses++, resume: () => void f.resumes++ };
  return f;
}

test('backpressure: the source is paused above the high-water mark and resumed once the consumer drains', async () => {
  const f = flow();
  const d = new IncomingData(f, 1000);
  for (let i = 0; i < 5; i++) d.push(Buffer.alloc(300));
  assert.equal(f.pauses, 1);
  assert.equal(f.resumes, 0);
  const it = d[Symbol.asyncIterator]();
  for (let i = 0; i < 4; i++) await it.next();
  assert.equal(f.resumes, 0, 'still above the low-water mark (a quarter of high water)');
  await it.next();
  assert.equal(f.resumes, 1);
  d.end();
  assert.equal((await it.next()).done, true);
  await d.finished;
});

test('collect caps the size; discard drops the rest and lets the source flow', async () => {
  const f = flow();
  const d = new IncomingData(f, 100);
  d.push(Buffer.alloc(80));
  d.push(Buffer.alloc(80));
  await assert.rejects(
    d.collect(100),
    (e: unknown) => e instanceof DimseProtocolError && e.code === 'IDENTIFIER_TOO_LARGE',
  );
  assert.equal(f.resumes, f.pauses);
  d.push(Buffer.alloc(80));
  d.end();
  await d.finished;
  assert.equal(d.received, 240);
});

test('a failed association rejects readers and `finished`', async () => {
  const d = new IncomingData(flow());
  d.push(Buffer.from('ab'));
  d.fail(new Error('gone'));
  await assert.rejects(async () => {
    for await (const _ of d) {
      /* consume */
    }
  }, /gone/);
  await assert.rejects(d.finished, /gone/);
});
