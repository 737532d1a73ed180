import { type Dataset, readFileMeta } from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';

export interface Part10Stream {
  meta: Dataset;
  transferSyntaxUid: string;
  /** Preamble and file meta bytes, exactly as they came. */
  fileMeta: Buffer;
  /** The data set bytes after the file meta, as they keep arriving. */
  dataset: AsyncIterable<Buffer>;
}

/**
 * Reads a Part 10 stream up to the end of its file meta and hands back the rest as a stream, so a file import, an
 * exchange upload and recovery all take a file apart the same way without reading it twice.
 */
export async function splitPart10(source: AsyncIterable<Buffer>): Promise<Part10Stream> {
  const it = source[Symbol.asyncIterator]();
  let head: Buffer = Buffer.alloc(0);
  let found: ReturnType<typeof readFileMeta>;
  let ended = false;
  while (found === undefined) {
    const r = await it.next();
    ended = r.done === true;
    if (!ended) head = head.length === 0 ? (r.value as Buffer) : Buffer.concat([head, r.value as Buffer]);
    try {
      found = readFileMeta(head, ended);
    } catch (cause) {
      throw new BeeldbrugError('DATASET_INVALID', `not a DICOM Part 10 file: ${(cause as Error).message}`, { cause });
    }
  }
  const first = head.subarray(found.datasetOffset);
  const dataset = async function* (): AsyncIterable<Buffer> {
    if (first.length > 0) yield first;
    while (!ended) {
      const r = await it.next();
      if (r.done === true) return;
      yield r.value as Buffer;
    }
  };
  return {
    meta: found.meta,
    transferSyntaxUid: found.transferSyntaxUid,
    fileMeta: head.subarray(0, found.datasetOffset),
    dataset: dataset(),
  };
}
