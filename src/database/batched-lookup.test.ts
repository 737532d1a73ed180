import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchedLookup } from './batched-lookup.ts';

/** A lookup whose batches the test answers one at a time, so it sees which keys went together. */
function heldLookup(): {
  batches: number[][];
  lookup: BatchedLookup<number, string>;
  answerNext(o?: { fail?: boolean }): void;
} {
  const pending: { keys: number[]; resolve(v: string[]): void; reject(e: Error): void }[] = [];
  const batches: number[][] = [];
  const lookup = new BatchedLookup<number, string>(
    (keys) =>
      new Promise((resolve, reject) => {
        batches.push(keys);
        pending.push({ keys, resolve, reject });
      }),
    { concurrency: 1, maxBatch: 3 },
  );
  return {
    batches,
    lookup,
    answerNext(o = {}) {
      const next = pending.shift();
      if (next === undefined) throw new Error('no batch is out');
      if (o.fail === true) next.reject(new Error('server gone'));
      else next.resolve(next.keys.map((k) => `answer ${k}`));
    },
  };
}

test('batched lookup: alone when idle; while a batch is out the others wait and go together, at most maxBatch at a time', async () => {
  const h = heldLookup();
  const first = h.lookup.get(1);
  assert.deepEqual(h.batches, [[1]], 'the first question goes at once, alone');
  const waiting = [2, 3, 4, 5].map((k) => h.lookup.get(k));
  assert.equal(h.batches.length, 1, 'the others wait while one batch is out');
  h.answerNext();
  assert.equal(await first, 'answer 1');
  assert.deepEqual(h.batches[1], [2, 3, 4], 'the waiting ones go as one batch, cut at maxBatch');
  h.answerNext();
  assert.deepEqual(await Promise.all(waiting.slice(0, 3)), ['answer 2', 'answer 3', 'answer 4']);
  assert.deepEqual(h.batches[2], [5]);
  h.answerNext();
  assert.equal(await waiting[3], 'answer 5', 'each gets its own answer');
});

test('batched lookup: a failed batch fails its own questions only, and the next batch still goes', async () => {
  const h = heldLookup();
  const first = h.lookup.get(1);
  const second = [h.lookup.get(2), h.lookup.get(3)];
  h.answerNext({ fail: true });
  await assert.rejects(first, /server gone/);
  h.answerNext();
  assert.deepEqual(await Promise.all(second), ['answer 2', 'answer 3']);
  const later = h.lookup.get(4);
  assert.deepEqual(h.batches.at(-1), [4], 'idle again: alone');
  h.answerNext();
  assert.equal(await later, 'answer 4');
});
