/**
 * Sending an instance on a presentation context whose transfer syntax differs from the stored one. Among the native
 * syntaxes (implicit and explicit VR little endian, deflated explicit VR little endian, explicit VR big endian; PS3.5
 * A.1-A.5) a data set is rewritten without loss: the values, pixel data included, stay the same; the element headers,
 * the byte order of binary values and the deflate change. That matters in practice: many modalities send implicit VR,
 * GDCM and some archives send deflated or big endian data, many requestors accept only explicit VR little endian for
 * C-GET, and a C-MOVE destination chooses what it accepts. Compressed pixel data goes as stored where the requestor
 * takes it, and is otherwise decoded (see dicom/pixel-codecs.ts) into the native syntax it takes.
 */
import { canConvert, convertedDataset, NATIVE_TRANSFER_SYNTAXES, writeDataset } from '../dicom/index.ts';
import { DimseFailure, Status } from './status.ts';

/** A converted instance is held in memory once; larger ones fail their sub-operation rather than the node. */
const MAX_CONVERTED_BYTES = 256 * 1024 * 1024;

export function canSendAs(storedTransferSyntax: string, contextTransferSyntax: string): boolean {
  return canConvert(storedTransferSyntax, contextTransferSyntax);
}

/**
 * The transfer syntaxes to propose for data stored in `storedTransferSyntax`: as stored first, then the native ones it
 * can be rewritten or decoded into.
 */
export function proposableFor(storedTransferSyntax: string): string[] {
  return [
    storedTransferSyntax,
    ...NATIVE_TRANSFER_SYNTAXES.filter((t) => t !== storedTransferSyntax && canConvert(storedTransferSyntax, t)),
  ];
}

/**
 * The context to send on: one in the stored syntax if there is one (preferring those `preferred` picks), else one the
 * data can be rewritten into.
 */
export function chooseContext<C extends { abstractSyntax: string; transferSyntax: string }>(
  contexts: Iterable<C>,
  sopClassUid: string,
  storedTransferSyntax: string,
  preferred: (c: C) => boolean = () => true,
): C | undefined {
  const forClass = [...contexts].filter((c) => c.abstractSyntax === sopClassUid);
  const rank = (c: C): number => (c.transferSyntax === storedTransferSyntax ? 0 : 2) + (preferred(c) ? 0 : 1);
  return forClass.filter((c) => canSendAs(storedTransferSyntax, c.transferSyntax)).sort((a, b) => rank(a) - rank(b))[0];
}

/** The data set bytes in `to`; passes them through untouched when no rewrite is needed. */
export async function* inTransferSyntax(data: AsyncIterable<Buffer>, from: string, to: string): AsyncIterable<Buffer> {
  if (from === to) {
    yield* data;
    return;
  }
  if (!canSendAs(from, to)) throw new DimseFailure(Status.ProcessingFailure, `cannot convert ${from} to ${to}`);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of data) {
    size += chunk.length;
    if (size > MAX_CONVERTED_BYTES)
      throw new DimseFailure(Status.OutOfResourcesSubOps, `instance too large to convert from ${from} to ${to}`);
    parts.push(chunk);
  }
  let ds;
  try {
    ds = await convertedDataset(Buffer.concat(parts), from, to);
  } catch (err) {
    throw new DimseFailure(Status.ProcessingFailure, `cannot give ${from} as ${to}: ${(err as Error).message}`);
  }
  yield writeDataset(ds, to);
}
