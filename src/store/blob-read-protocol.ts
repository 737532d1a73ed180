import type { StoreErrorCode } from './store-error.ts';

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
    }
  | { op: 'next'; id: number }
  | { op: 'close'; id: number };

/** A verified piece of plaintext (handed over, not copied), or why the blob cannot be read. */
export type ReadReply =
  | { id: number; chunk: Uint8Array | undefined; done: boolean; error?: undefined }
  | { id: number; error: { code: StoreErrorCode; message: string }; chunk?: undefined };
