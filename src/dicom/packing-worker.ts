// A packing thread: JPEG-LS coding of packed instances (packed-instance.ts) off the event loop, which then only moves
// bytes between sockets and these threads (packing-pool.ts speaks to it).
import { parentPort } from 'node:worker_threads';
import { DicomError } from './errors.ts';
import { packInstance, unpackInstance } from './packed-instance.ts';
import { loadJpegLs } from './pixel-codecs.ts';
import type { PackingReply, PackingRequest } from './packing-protocol.ts';

const port = parentPort;
if (port === null) throw new Error('packing-worker.ts runs as a worker thread');

port.on('message', (m: PackingRequest) => {
  void answer(m).then((reply) =>
    port.postMessage(reply, reply.bytes instanceof Uint8Array ? [reply.bytes.buffer as ArrayBuffer] : []),
  );
});

async function answer(m: PackingRequest): Promise<PackingReply> {
  if (m.op === 'load') return loadJpegLs().then(() => ({ id: m.id, bytes: null }));
  const bytes = Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
  try {
    const out = m.op === 'pack' ? await packInstance(bytes) : await unpackInstance(bytes, m.maxBytes);
    // A result that shares its memory with other buffers is copied, so the transfer takes nothing else along.
    return { id: m.id, bytes: out === undefined ? null : owned(out) };
  } catch (err) {
    return {
      id: m.id,
      error:
        err instanceof DicomError
          ? { code: err.code, message: err.message }
          : { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) },
    };
  }
}

function owned(b: Buffer): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b);
}
