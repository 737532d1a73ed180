// A reader thread of the blob store: opens, reads and decrypts blobs with blocking calls, off the event loop, and hands
// each verified piece of plaintext to the main thread without copying it (blob-read-pool.ts speaks to it).
import { parentPort } from 'node:worker_threads';
import { BlobCursor, READ_BYTES, type ReadBuffer } from './blob-cursor.ts';
import { asStoreError } from './store-error.ts';
import { CHUNK_BYTES, type ReadReply, type ReadRequest } from './blob-read-protocol.ts';

const port = parentPort;
if (port === null) throw new Error('blob-read-worker.ts runs as a worker thread');

const cursors = new Map<number, { cursor: BlobCursor; chunkBytes: number }>();
// One read buffer for all blobs: the plaintext is always a new buffer, and a blob whose piece was overwritten by another
// blob's reads it again (see ReadBuffer).
const buf: ReadBuffer = { bytes: Buffer.allocUnsafe(READ_BYTES), owner: undefined };
/** Buffers of CHUNK_BYTES handed back by the main thread, filled again before new ones are made. */
const spares: ArrayBuffer[] = [];
const MAX_SPARES = 8;

port.on('message', (m: ReadRequest) => {
  if (m.op === 'close') {
    cursors.get(m.id)?.cursor.close();
    cursors.delete(m.id);
    return;
  }
  if (m.op === 'load') return reply({ id: m.id, chunk: undefined, done: true });
  if (m.spare !== undefined && spares.length < MAX_SPARES) spares.push(m.spare);
  try {
    let open = cursors.get(m.id);
    if (m.op === 'open') {
      const cursor = new BlobCursor(m.path, m.blobId, Buffer.from(m.storeKey), Buffer.from(m.keyId), m.start, buf);
      open = { cursor, chunkBytes: m.chunkBytes };
      cursors.set(m.id, open);
    }
    // A piece of the usual size goes out in a buffer of its own, of exactly CHUNK_BYTES, which can come back (a spare)
    // instead of each piece being new memory for the main thread's collector to find.
    const into =
      open?.chunkBytes === CHUNK_BYTES
        ? Buffer.from(spares.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES).buffer)
        : undefined;
    const chunk = open?.cursor.next(open.chunkBytes, into);
    const done = chunk === undefined || open?.cursor.closed === true;
    if (done) cursors.delete(m.id);
    if (into !== undefined && chunk?.buffer !== into.buffer && spares.length < MAX_SPARES) spares.push(into.buffer);
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

/**
 * The bytes in an ArrayBuffer that can be handed over whole: one of ours of CHUNK_BYTES (the piece at its start), or a
 * buffer of their own (a pooled one would take its neighbours along).
 */
function own(b: Buffer): Uint8Array {
  if (b.byteOffset === 0 && (b.byteLength === b.buffer.byteLength || b.buffer.byteLength === CHUNK_BYTES)) return b;
  const copy = Buffer.allocUnsafeSlow(b.byteLength);
  b.copy(copy);
  return copy;
}
