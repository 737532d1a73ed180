/** What the main thread and a packing thread (packing-worker.ts) say to each other. */
import type { DicomErrorCode } from './errors.ts';

export type PackingRequest = { id: number; op: 'pack' | 'unpack'; bytes: Uint8Array; maxBytes: number };

export type PackingReply = {
  id: number;
  /** The result; null when a file is not one that packs (pack only). */
  bytes?: Uint8Array | null;
  error?: { code: DicomErrorCode | 'INTERNAL'; message: string };
};
