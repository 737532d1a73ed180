/** What the main thread and a packing thread (packing-worker.ts) say to each other. */
import type { DicomErrorCode } from './errors.ts';

/** 'load' makes the thread load its modules and compile the codec (no data): the first transfer then waits for none of it. */
export type PackingRequest =
  { id: number; op: 'pack' | 'unpack'; bytes: Uint8Array; maxBytes: number } | { id: number; op: 'load' };

export type PackingReply = {
  id: number;
  /** The result; null when a file is not one that packs (pack only). */
  bytes?: Uint8Array | null;
  error?: { code: DicomErrorCode | 'INTERNAL'; message: string };
};
