// The thread that encrypts and writes what arrives for the quarantine (incoming-write-thread.ts speaks to it): each
// gathered MiB comes handed over, is encrypted and written with blocking calls, and goes back empty to be filled again.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { Cipher } from 'node:crypto';
import { ctrAt } from './incoming-cipher.ts';
import type { WriteReply, WriteRequest } from './incoming-write-thread.ts';

const port = parentPort;
if (port === null) throw new Error('incoming-write-worker.ts runs as a worker thread');

const files = new Map<number, { fd: number; cipher: Cipher; at: number; failed: boolean }>();

const failure = (id: number, err: unknown, final = false): WriteReply => {
  const code = (err as { code?: unknown } | null)?.code;
  return {
    id,
    op: 'failed',
    message: err instanceof Error ? err.message : String(err),
    code: typeof code === 'string' ? code : undefined,
    final,
  };
};

port.on('message', (m: WriteRequest) => {
  if (m.op === 'open') {
    try {
      files.set(m.id, { fd: openSync(m.path, 'r+'), cipher: ctrAt(m.key, m.offset), at: m.offset, failed: false });
    } catch (err) {
      port.postMessage(failure(m.id, err));
    }
    return;
  }
  const f = files.get(m.id);
  if (m.op === 'write') {
    if (f !== undefined && !f.failed) {
      try {
        const encrypted = f.cipher.update(new Uint8Array(m.buffer, 0, m.length));
        for (let done = 0; done < encrypted.length;)
          done += writeSync(f.fd, encrypted, done, encrypted.length - done, f.at + done);
        f.at += m.length;
      } catch (err) {
        f.failed = true;
        port.postMessage(failure(m.id, err));
      }
    }
    const back: WriteReply = { id: m.id, op: 'written', buffer: m.buffer };
    port.postMessage(back, [m.buffer]);
    return;
  }
  // end: what was written is made durable, and the file closed, also after a failure (for what did arrive).
  files.delete(m.id);
  if (f === undefined) return port.postMessage({ id: m.id, op: 'ended' } satisfies WriteReply);
  try {
    fsyncSync(f.fd);
    port.postMessage({ id: m.id, op: 'ended' } satisfies WriteReply);
  } catch (err) {
    port.postMessage(failure(m.id, err, true));
  } finally {
    closeSync(f.fd);
  }
});
