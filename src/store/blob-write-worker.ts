// A thread that writes blobs (blob-write-pool.ts speaks to it): it opens each temp file, derives the blob's key, and
// seals, hashes and writes what arrives with the same FsBlobWriter the event loop runs for a blob of its own, so the
// event loop that receives instances only copies their bytes into buffers that travel here and back.
import { parentPort } from 'node:worker_threads';
import { type AlignedSlots, directWriteSlots } from './aligned-slots.ts';
import type { WriteReply, WriteRequest } from './blob-write-protocol.ts';
import { type FsBlobWriter, openBlobWriter } from './fs-blob-writer.ts';
import { asStoreError } from './store-error.ts';

const port = parentPort;
if (port === null) throw new Error('blob-write-worker.ts runs as a worker thread');

let slots: AlignedSlots | undefined;

type Failed = Extract<WriteReply, { op: 'failed' }>;

interface Blob {
  /** The blob's requests, each after the one before. */
  turn: Promise<void>;
  writer: FsBlobWriter | undefined;
  failure: Failed | undefined;
  /** Written buffers, to go back with the next answer. */
  held: ArrayBuffer[];
}

const blobs = new Map<number, Blob>();

function fail(id: number, blob: Blob, err: unknown, what: string): void {
  if (blob.failure !== undefined) return;
  const e = asStoreError(err, what);
  blob.failure = { id, op: 'failed', code: e.code, message: e.message };
  blob.writer = undefined;
  port?.postMessage(blob.failure);
}

function answer(blob: Blob, r: WriteReply & { buffers: ArrayBuffer[] }): void {
  blob.held = [];
  port?.postMessage(r, r.buffers);
}

port.on('message', (m: WriteRequest) => {
  if (m.op === 'prepare') {
    const blob: Blob = { turn: Promise.resolve(), writer: undefined, failure: undefined, held: [] };
    if (m.direct) slots ??= directWriteSlots();
    // Hashed as it arrives: this thread has nothing else to do meanwhile.
    blob.turn = openBlobWriter(m, m.direct ? slots : undefined, () => undefined, true).then(
      (w) => void (blob.writer = w),
      (err: unknown) => fail(m.id, blob, err, 'creating a blob'),
    );
    blobs.set(m.id, blob);
    return;
  }
  const blob = blobs.get(m.id);
  if (blob === undefined) return;
  if (m.op === 'write') {
    blob.turn = blob.turn.then(async () => {
      try {
        await blob.writer?.write(Buffer.from(m.buffer, 0, m.length));
      } catch (err) {
        fail(m.id, blob, err, 'writing a blob');
      }
      blob.held.push(m.buffer);
    });
    return;
  }
  if (m.op === 'return') {
    blob.turn = blob.turn.then(() => answer(blob, { id: m.id, op: 'returned', buffers: blob.held }));
    return;
  }
  blobs.delete(m.id);
  blob.turn = blob.turn.then(async () => {
    const writer = blob.writer;
    if (m.op === 'abort') {
      await writer?.abort();
      return answer(blob, { id: m.id, op: 'aborted', buffers: blob.held });
    }
    try {
      if (writer !== undefined) {
        const ref = await writer.commit();
        return answer(blob, { id: m.id, op: 'committed', sha256: ref.sha256, buffers: blob.held });
      }
    } catch (err) {
      fail(m.id, blob, err, 'committing a blob');
    }
    const failure = blob.failure ?? { id: m.id, op: 'failed', code: 'IO', message: 'the blob was not written' };
    answer(blob, { ...failure, buffers: blob.held });
  });
});
