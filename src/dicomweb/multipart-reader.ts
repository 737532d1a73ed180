/**
 * Streaming reader for multipart/related bodies (RFC 2046 5.1, RFC 2387), the framing of DICOMweb STOW-RS requests
 * and WADO-RS responses (PS3.18 8.6.1.2) and of the exchange upload. Part bodies stream as they arrive, so a part of
 * any size is never held in memory; headers, part counts and the preamble are capped, and every malformed body gives
 * a MultipartError with a stable code.
 */

export const MultipartErrorCode = {
  BAD_CONTENT_TYPE: 'BAD_CONTENT_TYPE',
  NO_FIRST_BOUNDARY: 'NO_FIRST_BOUNDARY',
  HEADER_TOO_LARGE: 'HEADER_TOO_LARGE',
  BAD_HEADER: 'BAD_HEADER',
  TRUNCATED: 'TRUNCATED',
  TOO_MANY_PARTS: 'TOO_MANY_PARTS',
  BAD_DELIMITER: 'BAD_DELIMITER',
} as const;
export type MultipartErrorCode = (typeof MultipartErrorCode)[keyof typeof MultipartErrorCode];

export class MultipartError extends Error {
  readonly code: MultipartErrorCode;
  constructor(code: MultipartErrorCode, message: string) {
    super(message);
    this.name = 'MultipartError';
    this.code = code;
  }
}

export interface MultipartLimits {
  maxHeaderBytes?: number;
  maxParts?: number;
  maxPreambleBytes?: number;
}

export interface Part {
  /** Header names in lower case. */
  headers: ReadonlyMap<string, string>;
  /** The body; must be read to its end before the next part is handed out. */
  body: AsyncIterable<Buffer>;
}

/** The boundary and type of a `multipart/related; type="application/dicom"; boundary=...` Content-Type. */
export function parseMultipartContentType(header: string | undefined): { boundary: string; type: string | undefined } {
  const [media = '', ...params] = (header ?? '').split(';');
  if (media.trim().toLowerCase() !== 'multipart/related') {
    throw new MultipartError('BAD_CONTENT_TYPE', `expected multipart/related, got ${JSON.stringify(media.trim())}`);
  }
  const values = new Map<string, string>();
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    values.set(
      p.slice(0, eq).trim().toLowerCase(),
      p
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1'),
    );
  }
  const boundary = values.get('boundary');
  // RFC 2046 5.1.1: 1 to 70 characters from a restricted set, not ending in a space.
  if (boundary === undefined || !/^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/.test(boundary)) {
    throw new MultipartError('BAD_CONTENT_TYPE', 'the boundary parameter is missing or not a valid RFC 2046 boundary');
  }
  return { boundary, type: values.get('type') };
}

/** Pulls chunks from a source and lets the reader put back what it read too far. */
class ChunkSource {
  readonly #it: AsyncIterator<Buffer>;
  #pending: Buffer | undefined;

  constructor(source: AsyncIterable<Buffer>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  async next(): Promise<Buffer | undefined> {
    if (this.#pending !== undefined) {
      const p = this.#pending;
      this.#pending = undefined;
      return p;
    }
    for (;;) {
      const r = await this.#it.next();
      if (r.done === true) return undefined;
      if (r.value.length > 0) return r.value;
    }
  }

  unshift(b: Buffer): void {
    if (b.length > 0) this.#pending = this.#pending === undefined ? b : Buffer.concat([b, this.#pending]);
  }
}

/** The next `n` bytes, or fewer where the body ends first. */
async function readAtMost(src: ChunkSource, n: number): Promise<Buffer> {
  let acc: Buffer = Buffer.alloc(0);
  while (acc.length < n) {
    const chunk = await src.next();
    if (chunk === undefined) break;
    acc = acc.length === 0 ? chunk : Buffer.concat([acc, chunk]);
  }
  src.unshift(acc.subarray(n));
  return acc.subarray(0, n);
}

/** Reads bytes until `marker`; returns what came before it (at most `limit` bytes, else `onLimit`). */
async function readUntil(
  src: ChunkSource,
  marker: Buffer,
  limit: number,
  onLimit: () => MultipartError,
): Promise<Buffer | undefined> {
  let acc: Buffer = Buffer.alloc(0);
  for (;;) {
    const idx = acc.indexOf(marker);
    // The limit holds however the bytes were cut into chunks: a marker found past it is still too late.
    if (idx > limit) throw onLimit();
    if (idx >= 0) {
      src.unshift(acc.subarray(idx + marker.length));
      return acc.subarray(0, idx);
    }
    if (acc.length > limit + marker.length) throw onLimit();
    const chunk = await src.next();
    if (chunk === undefined) return undefined;
    acc = acc.length === 0 ? chunk : Buffer.concat([acc, chunk]);
  }
}

/**
 * A part body: everything up to the next delimiter, streamed. Chunks are yielded as views, not copied; only a tail
 * shorter than the delimiter is carried from one chunk to the next, so a delimiter split across chunks is still found.
 */
async function* partBody(src: ChunkSource, delimiter: Buffer): AsyncIterable<Buffer> {
  const keep = delimiter.length - 1;
  let carry: Buffer = Buffer.alloc(0);
  for (;;) {
    const chunk = await src.next();
    if (chunk === undefined) throw new MultipartError('TRUNCATED', 'the body ended inside a part');
    if (carry.length > 0 && chunk.length < keep) {
      // Too little new data to decide about the carried tail: merge (both are short) and decide later.
      const merged = Buffer.concat([carry, chunk]);
      const at = merged.indexOf(delimiter);
      if (at >= 0) {
        if (at > 0) yield merged.subarray(0, at);
        src.unshift(merged.subarray(at + delimiter.length));
        return;
      }
      const safe = Math.max(0, merged.length - keep);
      if (safe > 0) yield merged.subarray(0, safe);
      carry = merged.subarray(safe);
      continue;
    }
    if (carry.length > 0) {
      // A delimiter that starts in the carried tail ends within the first `keep` bytes of this chunk.
      const window = Buffer.concat([carry, chunk.subarray(0, keep)]);
      const at = window.indexOf(delimiter);
      if (at >= 0 && at < carry.length) {
        if (at > 0) yield carry.subarray(0, at);
        src.unshift(chunk.subarray(at + delimiter.length - carry.length));
        return;
      }
      yield carry;
      carry = Buffer.alloc(0);
    }
    const at = chunk.indexOf(delimiter);
    if (at >= 0) {
      if (at > 0) yield chunk.subarray(0, at);
      src.unshift(chunk.subarray(at + delimiter.length));
      return;
    }
    const safe = Math.max(0, chunk.length - keep);
    if (safe > 0) yield chunk.subarray(0, safe);
    carry = chunk.subarray(safe);
  }
}

function parseHeaders(block: Buffer): Map<string, string> {
  const headers = new Map<string, string>();
  if (block.length === 0) return headers;
  for (const line of block.toString('latin1').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(line.slice(0, colon))) {
      throw new MultipartError('BAD_HEADER', `not a header line: ${JSON.stringify(line.slice(0, 80))}`);
    }
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/**
 * The parts of a multipart body, one after another. Each part's body must be consumed before asking for the next part;
 * the whole body must end with the close delimiter, or the last part fails with TRUNCATED.
 */
export async function* readMultipart(
  source: AsyncIterable<Buffer>,
  boundary: string,
  limits: MultipartLimits = {},
): AsyncIterable<Part> {
  const maxHeaderBytes = limits.maxHeaderBytes ?? 16 * 1024;
  const maxParts = limits.maxParts ?? 100_000;
  const src = new ChunkSource(source);
  const first = Buffer.from(`--${boundary}`, 'latin1');
  const delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  const crlf = Buffer.from('\r\n');
  const headerEnd = Buffer.from('\r\n\r\n');

  // The body may start with the boundary itself, or with a preamble ending in CRLF before it.
  const preamble = await readUntil(
    src,
    first,
    limits.maxPreambleBytes ?? 1024,
    () => new MultipartError('NO_FIRST_BOUNDARY', 'no boundary at the start of the body'),
  );
  if (preamble === undefined) throw new MultipartError('NO_FIRST_BOUNDARY', 'the body has no boundary');
  if (preamble.length > 0 && !preamble.subarray(-2).equals(crlf))
    throw new MultipartError('NO_FIRST_BOUNDARY', 'text before the first boundary does not end a line');

  for (let parts = 0; ; parts++) {
    // After a boundary: "--" closes the body, whatever follows (the epilogue, RFC 2046 5.1.1, is not read: it may be
    // long, have no line end, or be absent); otherwise optional transport padding, then CRLF.
    const start = await readAtMost(src, 2);
    if (start.toString('latin1') === '--') return;
    src.unshift(start);
    const after = await readUntil(
      src,
      crlf,
      256,
      () => new MultipartError('BAD_DELIMITER', 'garbage after a boundary'),
    );
    if (after === undefined) {
      throw new MultipartError('TRUNCATED', 'the body ended without the close delimiter');
    }
    if (!/^[ \t]*$/.test(after.toString('latin1')))
      throw new MultipartError('BAD_DELIMITER', 'garbage after a boundary');
    if (parts >= maxParts) throw new MultipartError('TOO_MANY_PARTS', `more than ${maxParts} parts`);

    src.unshift(crlf); // lets an empty header block end with the same CRLFCRLF marker
    const block = await readUntil(
      src,
      headerEnd,
      maxHeaderBytes,
      () => new MultipartError('HEADER_TOO_LARGE', `part headers over ${maxHeaderBytes} bytes`),
    );
    if (block === undefined) throw new MultipartError('TRUNCATED', 'the body ended inside part headers');
    const headers = parseHeaders(block.subarray(2));
    let consumed = false;
    const body = partBody(src, delimiter);
    yield {
      headers,
      body: (async function* () {
        for await (const c of body) yield c;
        consumed = true;
      })(),
    };
    if (!consumed) {
      // The caller stopped early: skip the rest of this part so the next one starts in the right place.
      for await (const c of body) void c;
    }
  }
}

/** A request body over the bytes a route takes: the route answers 413 and stops reading. */
export class BodyTooLarge extends Error {}

/** A whole (small) body in one buffer, failing with BodyTooLarge once more than `max` bytes have come. */
export async function bodyBytes(
  source: AsyncIterable<Buffer> | NodeJS.ReadableStream,
  max = Number.POSITIVE_INFINITY,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of limitedBody(source as AsyncIterable<Buffer>, max)) chunks.push(c);
  return Buffer.concat(chunks);
}

/** The body as it streams, failing with BodyTooLarge once more than `max` bytes have come. */
export async function* limitedBody(source: AsyncIterable<Buffer>, max: number): AsyncIterable<Buffer> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    if (total > max) throw new BodyTooLarge(`the body is over ${max} bytes`);
    yield chunk;
  }
}
