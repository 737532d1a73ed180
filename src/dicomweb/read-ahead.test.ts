import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readAhead } from './read-ahead.ts';

/** A source of `chunks` chunks of `size` bytes filled with `fill`, recording when it is opened, read and closed. */
function source(
  log: string[],
  name: string,
  o: { chunks: number; size: number; fill: number; failAt?: number },
): AsyncIterable<Buffer> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Buffer> {
      log.push(`open ${name}`);
      let n = 0;
      return {
        next: async () => {
          await Promise.resolve();
          if (n === o.failAt) throw new Error(`${name} is damaged`);
          if (n === o.chunks) return { done: true, value: undefined };
          n += 1;
          log.push(`read ${name}`);
          return { done: false, value: Buffer.alloc(o.size, o.fill) };
        },
        return: async () => {
          log.push(`close ${name}`);
          return { done: true, value: undefined };
        },
      };
    },
  };
}

test('read ahead: every body whole and in order, at most `ahead` items opened before their turn', async () => {
  const log: string[] = [];
  const items = [1, 2, 3, 4, 5, 6];
  const got: { item: number; bytes: number; fills: Set<number> }[] = [];
  for await (const { item, body } of readAhead(items, (i) => source(log, `#${i}`, { chunks: 3, size: 1000, fill: i }), {
    ahead: 2,
    maxBytesEach: 1_000_000,
  })) {
    // When an item's turn comes, no item more than `ahead` past it has been opened.
    const opened = log.filter((l) => l.startsWith('open')).length;
    assert.ok(opened <= Math.min(items.length, item + 2), `item ${item}: ${opened} opened`);
    const entry = { item, bytes: 0, fills: new Set<number>() };
    for await (const chunk of body) {
      entry.bytes += chunk.length;
      for (const b of chunk) entry.fills.add(b);
    }
    got.push(entry);
  }
  assert.deepEqual(
    got.map((g) => [g.item, g.bytes, [...g.fills]]),
    items.map((i) => [i, 3000, [i]]),
  );
  for (const i of items) assert.ok(log.includes(`close #${i}`), `#${i} closed`);
});

test('read ahead: each item stops reading at its byte budget until its turn comes', async () => {
  const log: string[] = [];
  const iterator = readAhead(['a', 'b', 'c'], (name) => source(log, name, { chunks: 50, size: 1000, fill: 1 }), {
    ahead: 2,
    maxBytesEach: 2000,
  })[Symbol.asyncIterator]();
  const first = await iterator.next();
  assert.equal(first.done, false);
  // Let the readers run as far as they may: each holds its budget (two chunks), none of the fifty.
  for (let k = 0; k < 200; k++) await new Promise<void>((r) => setImmediate(r));
  const readOf = (name: string): number => log.filter((l) => l === `read ${name}`).length;
  assert.deepEqual([readOf('a'), readOf('b'), readOf('c')], [2, 2, 2]);
  // Taking the current item's chunks lets it read on; the others wait for their turn.
  const { body } = first.value as { body: AsyncIterable<Buffer> };
  let taken = 0;
  for await (const chunk of body) {
    taken += chunk.length;
    if (taken === 10_000) break;
  }
  assert.ok(readOf('a') >= 10, `a read ${readOf('a')}`);
  assert.deepEqual([readOf('b'), readOf('c')], [2, 2]);
  await iterator.return?.(undefined);
  for (const name of ['a', 'b', 'c']) assert.ok(log.includes(`close ${name}`), `${name} closed when the reader stops`);
});

test('read ahead: a source that fails fails its own body, after the items before it arrived whole', async () => {
  const log: string[] = [];
  const got: string[] = [];
  await assert.rejects(async () => {
    for await (const { item, body } of readAhead(
      ['x', 'y', 'z'],
      (name) => source(log, name, { chunks: 2, size: 10, fill: 2, ...(name === 'y' ? { failAt: 1 } : {}) }),
      { ahead: 2, maxBytesEach: 1000 },
    )) {
      let bytes = 0;
      for await (const chunk of body) bytes += chunk.length;
      got.push(`${item}:${bytes}`);
    }
  }, /y is damaged/);
  assert.deepEqual(got, ['x:20']);
  assert.ok(log.includes('close z'), 'the item read ahead after the failure is closed');
});
