import type { BlobPreparation } from './fs-blob-writer.ts';
import type { StoreErrorCode } from './store-error.ts';

/**
 * What the main thread asks a blob writer thread: per blob, in order, one `prepare`, any `write`s (and `return`s), one
 * `commit` or `abort`. The written buffers come back, empty, with the commit's or abort's answer, or when asked for
 * (`return`: the sender has as many at the thread as it lets pile up), so a blob of a few MB costs one answer.
 */
export type WriteRequest =
  /** `direct`: whether the data folder takes O_DIRECT (FsBlobStore.init probed it). */
  | ({ op: 'prepare'; id: number; direct: boolean } & BlobPreparation)
  /** `length` bytes of `buffer` (handed over) are the blob's next. */
  | { op: 'write'; id: number; buffer: ArrayBuffer; length: number }
  | { op: 'return'; id: number }
  | { op: 'commit'; id: number }
  | { op: 'abort'; id: number };

export type WriteReply =
  | { id: number; op: 'returned'; buffers: ArrayBuffer[] }
  | { id: number; op: 'committed'; sha256: string; buffers: ArrayBuffer[] }
  | { id: number; op: 'aborted'; buffers: ArrayBuffer[] }
  /**
   * The blob is discarded (its temp file removed). Told as it happens; the commit that follows is answered with it
   * again, then with the buffers.
   */
  | { id: number; op: 'failed'; code: StoreErrorCode; message: string; buffers?: ArrayBuffer[] };
