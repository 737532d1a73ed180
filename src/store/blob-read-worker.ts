// A reader thread of the blob store: opens, reads and decrypts blobs with blocking calls, off the event loop, and hands
// each verified piece of plaintext to the main thread without copying it (blob-read-pool.ts speaks to it).
import { parentPort } from 'node:worker_threads';
import { BlobCursor, READ_BYTES, type ReadBuffer } from './blob-cursor.ts';
import { asStoreError } from './store-error.ts';
import type { ReadReply, ReadRequest } from './blob-read-protocol.ts';

const port = parentPort;
if (port === null) throw new Error('blob-read-worker.ts runs as a worker thread');

const cursors = new Map<number, { cursor: BlobCursor; chunkBytes: number }>();
// One read buffer for all blobs: the plaintext is always a new buffer, and a blob whose piece was overwritten by another
// blob's reads it again (see ReadBuffer).
const buf: ReadBuffer = { bytes: Buffer.allocUnsafe(READ_BYTES), owner: undefined };

port.on('message', (m: ReadRequest) => {
  if (m.op === 'close') {
    cursors.get(m.id)?.cursor.close();
    cursors.delete(m.id);
    return;
  }
  try {
    let open = cursors.get(m.id);
    if (m.op === 'open') {
      const cursor = new BlobCursor(m.path, m.blobId, Buffer.from(m.storeKey), Buffer.from(m.keyId), m.start, buf);
      open = { cursor, chunkBytes: m.chunkBytes };
      cursors.set(m.id, open);
    }
    const chunk = open?.cursor.next(open.chunkBytes);
    const done = chunk === undefined || open?.cursor.closed === true;
    if (done) cursors.delete(m.id);
    reply({ id: m.id, chunk: chunk === undefined ? undefined : own(chunk), done });
  } catch (err) {
    cursors.delete(m.id);
    const e = asStoreError(err, 'reading a blob');
    reply({ id: m.id, error: { code: e.code, message: e.message } });
  }
});

function reply(r: ReadReply): void {
  port?.postMessage(r, r.chunk !== undefined ? [r.chunk.buffer as ArrayBuffer] : []);
}

/** The bytes in an ArrayBuffer of their own, which can be handed over (a pooled one would take its neighbours along). */
function own(b: Buffer): Uint8Array {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b;
  const copy = Buffer.allocUnsafeSlow(b.byteLength);
  b.copy(copy);
  return copy;
}
