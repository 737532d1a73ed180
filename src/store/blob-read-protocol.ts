import { SEGMENT_SIZE } from './blob-format.ts';
import type { StoreErrorCode } from './store-error.ts';

/**
 * Plaintext per step when the reader does not say: about the MB the reader thread takes from the disk at once. Pieces
 * of this size travel in buffers of exactly this capacity, which a consumer may hand back to be filled again.
 */
export const CHUNK_BYTES = 16 * SEGMENT_SIZE;

/** What the main thread asks a blob reader thread: one request at a time per open blob. */
export type ReadRequest =
  | {
      op: 'open';
      id: number;
      path: string;
      blobId: string;
      storeKey: Uint8Array;
      keyId: Uint8Array;
      start: number;
      chunkBytes: number;
      /** A buffer of CHUNK_BYTES a consumer handed back, to be filled with this blob's next piece. */
      spare?: ArrayBuffer;
    }
  | { op: 'next'; id: number; spare?: ArrayBuffer }
  | { op: 'close'; id: number }
  /** Answered at once, with nothing: by then the thread has loaded its modules. */
  | { op: 'load'; id: number };

/** A verified piece of plaintext (handed over, not copied), or why the blob cannot be read. */
export type ReadReply =
  | { id: number; chunk: Uint8Array | undefined; done: boolean; error?: undefined }
  | { id: number; error: { code: StoreErrorCode; message: string }; chunk?: undefined };
