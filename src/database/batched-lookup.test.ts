import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchedLookup } from './batched-lookup.ts';

/** A lookup whose batches the test sees start and answers one at a time. */
function heldLookup(): {
  lookup: BatchedLookup<number, string>;
  /** Resolves with the keys of the next batch once it has started. */
  nextBatch(): Promise<number[]>;
  answer(o?: { fail?: boolean }): void;
  started: number;
} {
  const out: { keys: number[]; resolve(v: string[]): void; reject(e: Error): void }[] = [];
  const starts: ((keys: number[]) => void)[] = [];
  const begun: number[][] = [];
  const h = {
    started: 0,
    lookup: new BatchedLookup<number, string>(
      (keys) =>
        new Promise<string[]>((resolve, reject) => {
          h.started += 1;
          out.push({ keys, resolve, reject });
          const waiter = starts.shift();
          if (waiter !== undefined) waiter(keys);
          else begun.push(keys);
        }),
      { concurrency: 1, maxBatch: 3 },
    ),
    nextBatch: () => {
      const early = begun.shift();
      return early !== undefined ? Promise.resolve(early) : new Promise<number[]>((resolve) => starts.push(resolve));
    },
    answer(o: { fail?: boolean } = {}) {
      const next = out.shift();
      if (next === undefined) throw new Error('no batch is out');
      if (o.fail === true) next.reject(new Error('server gone'));
      else next.resolve(next.keys.map((k) => `answer ${k}`));
    },
  };
  return h;
}

test('batched lookup: those asked in one turn go together; while a batch is out the others wait and go next, at most maxBatch at a time', async () => {
  const h = heldLookup();
  const first = [h.lookup.get(1), h.lookup.get(2)];
  assert.equal(h.started, 0, 'nothing goes before the turn is over');
  assert.deepEqual(await h.nextBatch(), [1, 2]);
  const waiting = [3, 4, 5, 6].map((k) => h.lookup.get(k));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(h.started, 1, 'the others wait while one batch is out');
  h.answer();
  assert.deepEqual(await Promise.all(first), ['answer 1', 'answer 2'], 'each gets its own answer');
  assert.deepEqual(await h.nextBatch(), [3, 4, 5], 'the waiting ones go as one batch, cut at maxBatch');
  h.answer();
  assert.deepEqual(await Promise.all(waiting.slice(0, 3)), ['answer 3', 'answer 4', 'answer 5']);
  assert.deepEqual(await h.nextBatch(), [6]);
  h.answer();
  assert.equal(await waiting[3], 'answer 6');
});

test('batched lookup: a failed batch fails its own questions only, and the next batch still goes', async () => {
  const h = heldLookup();
  const first = h.lookup.get(1);
  assert.deepEqual(await h.nextBatch(), [1]);
  const second = [h.lookup.get(2), h.lookup.get(3)];
  h.answer({ fail: true });
  await assert.rejects(first, /server gone/);
  assert.deepEqual(await h.nextBatch(), [2, 3]);
  h.answer();
  assert.deepEqual(await Promise.all(second), ['answer 2', 'answer 3']);
  const later = h.lookup.get(4);
  assert.deepEqual(await h.nextBatch(), [4], 'idle again: alone');
  h.answer();
  assert.equal(await later, 'answer 4');
});
