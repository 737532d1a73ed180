// Property-based and mutation fuzzing of the three parsers that read bytes from strangers: the Part 10 reader, the
// PDU reader and the multipart reader. Each property holds for any input: the parser either succeeds or throws its own
// typed error (DicomError, DimseProtocolError, MultipartError), never a RangeError, TypeError or a hang, and the way the
// bytes are cut into chunks never changes what comes out. `fuzz.test.ts` runs a short round in the test command;
// `npm run fuzz` a long one. A counterexample fast-check prints goes into regressions.ts as a fixed case.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Dataset,
  DicomError,
  encodePart10,
  parseDataset,
  readPart10,
  SopClass,
  Tag,
  TransferSyntax,
  writeDataset,
} from '../../src/dicom/index.ts';
import { MultipartError, readMultipart } from '../../src/dicomweb/index.ts';
import {
  DimseProtocolError,
  encodeAbort,
  encodeAssociateRq,
  encodePDataHeader,
  encodeReleaseRq,
  PduReader,
  type PduSink,
} from '../../src/dimse/index.ts';

const LIMITS = { maxDepth: 8, maxElementLength: 1024 * 1024, maxItems: 10_000 };

/** A small but complete instance: text, numbers, a nested sequence, a private element and native pixel data. */
export function seedPart10(): Buffer {
  const ds = new Dataset()
    .set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 192')
    .set(Tag.SOPClassUID, 'UI', SopClass.CTImageStorage)
    .set(Tag.SOPInstanceUID, 'UI', '2.25.1234567890')
    .set(Tag.StudyInstanceUID, 'UI', '2.25.1234567891')
    .set(Tag.PatientName, 'PN', 'Jansen^Jan')
    .set(Tag.PatientID, 'LO', '999999990')
    .set(Tag.OtherPatientIDsSequence, 'SQ', [
      new Dataset().set(Tag.PatientID, 'LO', 'Z77').set(Tag.IssuerOfPatientID, 'LO', 'ZH'),
    ])
    .set(0x00190010, 'LO', 'BEELDBRUG')
    .set(Tag.Rows, 'US', 4)
    .set(Tag.Columns, 'US', 4)
    .set(Tag.BitsAllocated, 'US', 16)
    .set(Tag.PixelData, 'OW', Buffer.alloc(32, 7));
  return Buffer.concat(encodePart10(ds, TransferSyntax.ExplicitVRLittleEndian));
}

/** What a fuzzer does to bytes: flip, overwrite a 16/32-bit field with an extreme, cut, insert, duplicate a slice. */
const mutation = (size: number) =>
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(size - 1), bit: fc.nat(7) }),
    fc.record({
      kind: fc.constant('u32' as const),
      at: fc.nat(Math.max(0, size - 4)),
      value: fc.constantFrom(0, 1, 0xffffffff, 0xfffffffe, 0x7fffffff, 0x10000, 3),
    }),
    fc.record({
      kind: fc.constant('u16' as const),
      at: fc.nat(Math.max(0, size - 2)),
      value: fc.constantFrom(0, 1, 0xffff, 0x5351 /* 'SQ' */, 0x4e55 /* 'UN' */, 0x424f /* 'OB' */),
    }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(size) }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(size),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
    fc.record({
      kind: fc.constant('repeat' as const),
      at: fc.nat(size),
      length: fc.integer({ min: 1, max: 64 }),
      times: fc.integer({ min: 1, max: 64 }),
    }),
  );

export type Mutation = typeof mutation extends (n: number) => fc.Arbitrary<infer M> ? M : never;

export function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const at = Math.min(m.at, Math.max(0, b.length - 1));
    if (m.kind === 'flip' && b.length > 0) b[at] = (b[at] ?? 0) ^ (1 << m.bit);
    else if (m.kind === 'u32' && b.length >= at + 4) b.writeUInt32LE(m.value, at);
    else if (m.kind === 'u16' && b.length >= at + 2) b.writeUInt16LE(m.value, at);
    else if (m.kind === 'cut') b = b.subarray(0, Math.min(m.at, b.length));
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
    else if (m.kind === 'repeat') {
      const slice = b.subarray(at, at + m.length);
      b = Buffer.concat([b.subarray(0, at), ...Array.from({ length: m.times }, () => slice), b.subarray(at)]);
    }
  }
  return b;
}

/** Cuts bytes into chunks at the given points, as a socket or an HTTP body delivers them. */
export function chunked(b: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    if (p > from) out.push(b.subarray(from, p));
    from = Math.max(from, p);
  }
  if (from < b.length) out.push(b.subarray(from));
  return out;
}

/** The Part 10 reader on a mutated instance: a result or a DicomError, nothing else. */
export function part10Property(seed: Buffer = seedPart10()): fc.IPropertyWithHooks<[Mutation[]]> {
  return fc.property(fc.array(mutation(seed.length), { minLength: 1, maxLength: 6 }), (mutations) => {
    const bytes = mutate(seed, mutations);
    try {
      const p = readPart10(bytes, LIMITS);
      // What was read writes again and reads back the same.
      const again = parseDataset(writeDataset(p.dataset, p.transferSyntaxUid), p.transferSyntaxUid, LIMITS);
      assert.equal(again.size, p.dataset.size);
    } catch (err) {
      if (!(err instanceof DicomError)) throw err;
    }
  });
}

interface Event {
  kind: string;
  value: string;
}

function readPdus(chunks: readonly Buffer[]): { events: Event[]; error: string | undefined } {
  const events: Event[] = [];
  const sink: PduSink = {
    control: (p) =>
      events.push({
        kind: 'control',
        value: JSON.stringify(p, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
      }),
    pdvStart: (ctx, cmd, last) => events.push({ kind: 'pdv', value: `${ctx}/${cmd}/${last}` }),
    pdvData: (c) => {
      const prev = events.at(-1);
      if (prev?.kind === 'data') prev.value += c.toString('hex');
      else events.push({ kind: 'data', value: c.toString('hex') });
    },
    pdvEnd: () => events.push({ kind: 'end', value: '' }),
  };
  const reader = new PduReader(sink, { maxPduLength: 16 * 1024, maxControlPduLength: 64 * 1024 });
  reader.acceptData = true;
  try {
    for (const c of chunks) reader.push(c);
    return { events, error: undefined };
  } catch (err) {
    if (!(err instanceof DimseProtocolError)) throw err;
    return { events, error: err.code };
  }
}

/** A conversation as a peer sends it: associate, data, release, abort. */
export function seedPdus(): Buffer {
  const rq = encodeAssociateRq({
    protocolVersion: 1,
    calledAeTitle: 'BEELDBRUG',
    callingAeTitle: 'PACS01',
    applicationContext: '1.2.840.10008.3.1.1.1',
    contexts: [
      { id: 1, abstractSyntax: SopClass.Verification, transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian] },
    ],
    userInfo: {
      maxPduLength: 16384,
      implementationClassUid: '1.2.3.4',
      implementationVersionName: 'FUZZ',
      roleSelections: [],
    },
  });
  const data = Buffer.from('0123456789abcdef');
  return Buffer.concat([
    rq,
    encodePDataHeader(1, true, true, data.length),
    data,
    encodeReleaseRq(),
    encodeAbort({ source: 0, reason: 0 }),
  ]);
}

/**
 * The PDU reader on a mutated conversation cut into random chunks: the same events and the same error, if any, as
 * when the whole stream arrives at once; only DimseProtocolError is thrown.
 */
export function pduProperty(seed: Buffer = seedPdus()): fc.IPropertyWithHooks<[Mutation[], number[]]> {
  return fc.property(
    fc.array(mutation(seed.length), { minLength: 0, maxLength: 6 }),
    fc.array(fc.nat(), { maxLength: 12 }),
    (mutations, cuts) => {
      const bytes = mutate(seed, mutations);
      const whole = readPdus([bytes]);
      const pieces = readPdus(chunked(bytes, cuts));
      assert.deepEqual(pieces, whole);
    },
  );
}

export function seedMultipart(boundary: string): Buffer {
  const part = (body: string) =>
    `--${boundary}\r\nContent-Type: application/dicom\r\nContent-Length: ${body.length}\r\n\r\n${body}\r\n`;
  return Buffer.from(
    `preamble\r\n${part('first instance bytes')}${part(`--${boundary.slice(0, 3)} not a boundary`)}--${boundary}--\r\n`,
  );
}

async function readAllParts(
  chunks: readonly Buffer[],
  boundary: string,
): Promise<{ parts: { headers: [string, string][]; body: string }[]; error: string | undefined }> {
  const parts: { headers: [string, string][]; body: string }[] = [];
  async function* source(): AsyncIterable<Buffer> {
    for (const c of chunks) yield c;
  }
  try {
    for await (const p of readMultipart(source(), boundary, {
      maxHeaderBytes: 1024,
      maxParts: 16,
      maxPreambleBytes: 1024,
    })) {
      const body: Buffer[] = [];
      for await (const c of p.body) body.push(c);
      parts.push({ headers: [...p.headers], body: Buffer.concat(body).toString('hex') });
    }
    return { parts, error: undefined };
  } catch (err) {
    if (!(err instanceof MultipartError)) throw err;
    return { parts, error: err.code };
  }
}

/** The multipart reader on a mutated body cut into random chunks: chunking changes nothing; only MultipartError. */
export function multipartProperty(): fc.IAsyncPropertyWithHooks<[Mutation[], number[]]> {
  const boundary = 'fuzz-boundary-0123';
  const seed = seedMultipart(boundary);
  return fc.asyncProperty(
    fc.array(mutation(seed.length), { minLength: 0, maxLength: 6 }),
    fc.array(fc.nat(), { maxLength: 12 }),
    async (mutations, cuts) => {
      const bytes = mutate(seed, mutations);
      const whole = await readAllParts([bytes], boundary);
      const pieces = await readAllParts(chunked(bytes, cuts), boundary);
      assert.deepEqual(pieces, whole);
    },
  );
}
