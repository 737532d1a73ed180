import { randomBytes } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import { canDecode, type Dataset, decodeFrame, type DicomJson, toDicomJson, TransferSyntax } from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { ReleasedInstance } from '../studies/index.ts';
import { datasetOf, formatBulkPath, framesOf, headersOf } from './stored-instance.ts';

/** Binary values over this size are left behind a bulk data URI, so a series' metadata stays small for a viewer. */
const MAX_INLINE_BYTES = 1024;

export const OCTETS = 'multipart/related; type="application/octet-stream"';

/**
 * WADO-RS metadata of each instance as DICOM JSON (PS3.18 F.2): the header only, Pixel Data and binary values over
 * 1 KB named by a BulkDataURI under the instance's URL. `transform` changes each header before it is written (a
 * de-identified share's viewer gets what its zip holds).
 */
export async function metadataOf(
  instances: readonly ReleasedInstance[],
  urlOf: (i: ReleasedInstance) => string,
  transform?: (header: Dataset) => void,
): Promise<DicomJson[]> {
  const out: DicomJson[] = [];
  for await (const { instance, header, pixelData } of headersOf(instances)) {
    transform?.(header);
    const at = `${urlOf(instance)}/bulk/`;
    // The pixel data is never read for metadata: it is named with its VR, and its bytes are behind its URI.
    if (pixelData !== undefined) header.set(pixelData.tag, pixelData.vr, Buffer.alloc(0));
    out.push(
      toDicomJson(header, {
        bulkDataUri: (el, path) =>
          (path.length === 1 && el.tag === pixelData?.tag) || (el.bytes?.length ?? 0) > MAX_INLINE_BYTES
            ? at + formatBulkPath(path)
            : undefined,
      }),
    );
  }
  return out;
}

/**
 * The transfer syntax an Accept header asks for (PS3.18 8.7.3.5.2: the `transfer-syntax` parameter); undefined for
 * "as stored" (no parameter, or `*`).
 */
export function transferSyntaxAsked(accept: string | undefined): string | undefined {
  const asked = [...(accept ?? '').matchAll(/transfer-syntax\s*=\s*"?([0-9.*]+)"?/gi)].map((m) => m[1] ?? '*');
  return asked.length === 0 || asked.includes('*') ? undefined : asked[0];
}

/**
 * WADO-RS frames (numbered from 1, comma-separated) of one instance: uncompressed frames as little-endian bytes,
 * compressed ones as stored, the part naming their syntax; or decoded, when the request asks for explicit VR little
 * endian (a viewer without that codec).
 */
export async function sendFrames(
  reply: FastifyReply,
  instance: ReleasedInstance,
  asked: string,
  accept?: string,
): Promise<FastifyReply> {
  const numbers = framesAsked(asked);
  const wanted = transferSyntaxAsked(accept);
  const ds = await datasetOf(instance);
  const { frames, transferSyntaxUid, encapsulated } = framesOf(ds, instance);
  const missing = numbers.filter((f) => f > frames.length);
  if (missing.length > 0)
    throw new BeeldbrugError('NOT_FOUND', `the instance has ${frames.length} frames; no frame ${missing.join(', ')}`);
  const chosen = numbers.map((f) => frames[f - 1]!);
  if (!encapsulated || wanted === undefined || wanted === transferSyntaxUid)
    return sendOctetParts(reply, chosen, encapsulated ? `; transfer-syntax=${transferSyntaxUid}` : '');
  if (wanted !== TransferSyntax.ExplicitVRLittleEndian || !canDecode(transferSyntaxUid))
    throw new BeeldbrugError(
      'TRANSFER_SYNTAX_UNSUPPORTED',
      `frames stored in ${transferSyntaxUid} go as stored, or decoded into ${TransferSyntax.ExplicitVRLittleEndian}; not in ${wanted}`,
    );
  const decoded: Buffer[] = [];
  for (const f of chosen) decoded.push((await decodeFrame(ds, f, transferSyntaxUid)).pixels);
  return sendOctetParts(reply, decoded, '');
}

/** The frame numbers of a WADO-RS frames path segment, checked before anything is read. */
export function framesAsked(asked: string): number[] {
  const numbers = asked.split(',').map((f) => (/^\d+$/.test(f.trim()) ? Number(f.trim()) : 0));
  if (numbers.length === 0 || numbers.some((f) => f < 1))
    throw new BeeldbrugError('REQUEST_INVALID', 'frames are numbered from 1, comma-separated: frames/1 or frames/1,2');
  return numbers;
}

/** Values as a multipart/related answer of application/octet-stream parts (frames, bulk data). */
export function sendOctetParts(reply: FastifyReply, values: readonly Buffer[], typeParameters: string): FastifyReply {
  const boundary = `beeldbrug-${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Type: application/octet-stream${typeParameters}\r\n\r\n`);
  const parts = values.flatMap((v) => [head, v, Buffer.from('\r\n')]);
  return reply
    .type(`${OCTETS}; boundary=${boundary}`)
    .send(Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]));
}
