import type { BlobPreparation } from './fs-blob-writer.ts';
import type { StoreErrorCode } from './store-error.ts';

/** What the main thread asks a blob writer thread: per blob, in order, one `prepare`, any `write`s, one `commit` or `abort`. */
export type WriteRequest =
  /** `direct`: whether the data folder takes O_DIRECT (FsBlobStore.init probed it). */
  | ({ op: 'prepare'; id: number; direct: boolean } & BlobPreparation)
  /** `length` bytes of `buffer` (handed over) are the blob's next. */
  | { op: 'write'; id: number; buffer: ArrayBuffer; length: number }
  | { op: 'commit'; id: number }
  | { op: 'abort'; id: number };

export type WriteReply =
  /** The buffer of a `write`, empty, to be filled again. */
  | { id: number; op: 'written'; buffer: ArrayBuffer }
  | { id: number; op: 'committed'; size: number; sha256: string }
  | { id: number; op: 'aborted' }
  /** The blob is discarded (its temp file removed); what comes for it after is answered `failed` again. */
  | { id: number; op: 'failed'; code: StoreErrorCode; message: string };
