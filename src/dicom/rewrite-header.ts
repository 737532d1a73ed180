import type { Dataset } from './dataset.ts';
import { requireTransferSyntax, writeDataset } from './dataset-codec.ts';
import { DicomError } from './errors.ts';
import { HeaderReader } from './header-reader.ts';

/**
 * Streams a data set with its header (every element before Pixel Data) edited and re-encoded, and everything from
 * Pixel Data on passed through byte for byte: attribute coercion (PS3.4 B.4.1.3) without touching the image. Only the
 * header is held in memory. Deflated data cannot be cut this way and is refused.
 */
export async function* rewriteHeader(
  data: AsyncIterable<Buffer>,
  transferSyntaxUid: string,
  edit: (header: Dataset) => void,
): AsyncIterable<Buffer> {
  if (requireTransferSyntax(transferSyntaxUid).deflated) {
    throw new DicomError('UNSUPPORTED_TRANSFER_SYNTAX', 'attributes of deflated data sets are not rewritten', 0);
  }
  const reader = new HeaderReader(transferSyntaxUid);
  const it = data[Symbol.asyncIterator]();
  const held: Buffer[] = [];
  let heldLength = 0;
  for (let next = await it.next(); !next.done; next = await it.next()) {
    held.push(next.value);
    heldLength += next.value.length;
    if (reader.push(next.value)) break;
  }
  const header = reader.end();
  const headerLength = reader.headerLength ?? heldLength;
  edit(header);
  yield writeDataset(header, transferSyntaxUid);
  const tail = Buffer.concat(held, heldLength).subarray(headerLength);
  held.length = 0;
  if (tail.length > 0) yield tail;
  for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
}
