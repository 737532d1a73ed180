import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import {
  Dataset,
  DicomError,
  type DicomErrorCode,
  type Element,
  type ParseLimits,
  parseDataset,
  Tag,
  TransferSyntax,
  writeDataset,
} from './index.ts';

const NATIVE = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.DeflatedExplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
] as const;

function sample(): Dataset {
  const nested = new Dataset().set(Tag.CodeValue, 'SH', '121070').set(Tag.CodingSchemeDesignator, 'SH', 'DCM');
  const item = new Dataset()
    .set(Tag.RelationshipType, 'CS', 'CONTAINS')
    .set(Tag.ValueType, 'CS', 'TEXT')
    .set(Tag.ConceptNameCodeSequence, 'SQ', [nested])
    .set(Tag.TextValue, 'UT', 'Geen afwijkingen.');
  return new Dataset()
    .set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 100')
    .set(Tag.SOPClassUID, 'UI', '1.2.840.10008.5.1.4.1.1.2')
    .set(Tag.PatientName, 'PN', 'de Vries^Anneke')
    .set(Tag.PatientID, 'LO', '999999990')
    .set(0x00090010, 'LO', 'BEELDBRUG TEST')
    .set(0x00091010, 'US', [1, 2, 3])
    .set(Tag.ContentSequence, 'SQ', [item, new Dataset()])
    .set(Tag.Rows, 'US', 2)
    .set(Tag.Columns, 'US', 2)
    .set(Tag.RescaleIntercept, 'DS', -1024)
    .set(Tag.ImagePositionPatient, 'DS', [-1.5, 2, 3.25])
    .set(0x00091011, 'FD', [Math.E, -1])
    .set(0x00091012, 'SL', [-5, 7])
    .set(Tag.PixelData, 'OW', Buffer.from([1, 2, 3, 4, 5, 6, 0xff, 0x7f]));
}

/** Structural view for comparisons: VR, decoded numbers/strings and nested items. */
function view(ds: Dataset): unknown[] {
  return [...ds].map((el: Element) => [
    el.tag.toString(16),
    el.items !== undefined
      ? el.items.map(view)
      : el.fragments !== undefined
        ? el.fragments.map((f) => f.toString('hex'))
        : el.bytes?.toString('hex'),
  ]);
}

for (const ts of NATIVE) {
  test(`round trip through ${ts}`, () => {
    const ds = sample();
    const back = parseDataset(writeDataset(ds, ts), ts);
    assert.deepEqual(view(back), view(ds));
    assert.equal(back.string(Tag.PatientName), 'de Vries^Anneke');
    if (ts !== TransferSyntax.ImplicitVRLittleEndian) {
      assert.deepEqual(back.numbers(0x00091010), [1, 2, 3]);
      assert.deepEqual(back.numbers(0x00091011), [Math.E, -1]);
    }
    assert.deepEqual(back.numbers(Tag.Rows), [2]);
    assert.equal(
      back.items(Tag.ContentSequence)[0]?.items(Tag.ConceptNameCodeSequence)[0]?.string(Tag.CodeValue),
      '121070',
    );
    if (ts !== TransferSyntax.ImplicitVRLittleEndian) assert.equal(back.get(0x00091010)?.vr, 'US');
    else assert.equal(back.get(0x00091010)?.vr, 'UN', 'implicit VR cannot tell a private element VR');
  });
}

test('big endian: binary values are byte-swapped on the wire and little endian in memory', () => {
  const ds = new Dataset().set(Tag.Rows, 'US', 0x0102).set(Tag.PixelData, 'OW', Buffer.from([0x01, 0x02]));
  const wire = writeDataset(ds, TransferSyntax.ExplicitVRBigEndian);
  assert.deepEqual(wire.subarray(0, 10), Buffer.from([0x00, 0x28, 0x00, 0x10, 0x55, 0x53, 0x00, 0x02, 0x01, 0x02]));
  assert.deepEqual(
    parseDataset(wire, TransferSyntax.ExplicitVRBigEndian).get(Tag.Rows)?.bytes,
    Buffer.from([0x02, 0x01]),
  );
  assert.deepEqual(
    parseDataset(wire, TransferSyntax.ExplicitVRBigEndian).get(Tag.PixelData)?.bytes,
    Buffer.from([0x01, 0x02]),
  );
});

test('encapsulated pixel data keeps the offset table and fragments as slices', () => {
  const frag = Buffer.from('ffd8ffe000104a464946ffd9', 'hex');
  const ds = new Dataset()
    .set(Tag.Rows, 'US', 1)
    .setElement({ tag: Tag.PixelData, vr: 'OB', fragments: [Buffer.alloc(0), frag] });
  const bytes = writeDataset(ds, TransferSyntax.JPEGBaseline8Bit);
  const back = parseDataset(bytes, TransferSyntax.JPEGBaseline8Bit);
  const el = back.get(Tag.PixelData);
  assert.equal(el?.vr, 'OB');
  assert.deepEqual(el?.fragments, [Buffer.alloc(0), frag]);
  assert.equal(el?.fragments?.[1]?.buffer, bytes.buffer, 'fragments are not copied');
});

test('values are sliced from the input, not copied', () => {
  const bytes = writeDataset(sample(), TransferSyntax.ExplicitVRLittleEndian);
  const back = parseDataset(bytes, TransferSyntax.ExplicitVRLittleEndian);
  assert.equal(back.get(Tag.PixelData)?.bytes?.buffer, bytes.buffer);
});

test('implicit VR: unknown tags are UN, or SQ when of undefined length; UN of undefined length is read as a sequence', () => {
  const inner = new Dataset().set(Tag.PatientID, 'LO', 'P1');
  const ds = new Dataset().set(0x00111010, 'SQ', [inner]).set(0x00111020, 'LO', 'xy');
  const implicit = parseDataset(
    writeDataset(ds, TransferSyntax.ImplicitVRLittleEndian),
    TransferSyntax.ImplicitVRLittleEndian,
  );
  assert.equal(implicit.get(0x00111010)?.vr, 'SQ');
  assert.equal(implicit.items(0x00111010)[0]?.string(Tag.PatientID), 'P1');
  assert.equal(implicit.get(0x00111020)?.vr, 'UN');

  // Explicit VR 'UN' with undefined length whose content is implicit VR little endian (PS3.5 6.2.2).
  const item = writeDataset(inner, TransferSyntax.ImplicitVRLittleEndian);
  const un = Buffer.concat([
    Buffer.from([0x11, 0x00, 0x10, 0x10, 0x55, 0x4e, 0, 0, 0xff, 0xff, 0xff, 0xff]),
    Buffer.from([0xfe, 0xff, 0x00, 0xe0]),
    u32(item.length),
    item,
    Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]),
  ]);
  const parsed = parseDataset(un, TransferSyntax.ExplicitVRLittleEndian);
  assert.equal(parsed.items(0x00111010)[0]?.string(Tag.PatientID), 'P1');
});

test('explicit UN of a known element gets its dictionary VR back (PS3.5 6.2.2)', () => {
  const item = writeDataset(new Dataset().set(Tag.PatientID, 'LO', 'P7'), TransferSyntax.ImplicitVRLittleEndian);
  const seq = Buffer.concat([Buffer.from([0xfe, 0xff, 0x00, 0xe0]), u32(item.length), item]);
  for (const little of [true, false]) {
    const tag = (t: number): Buffer => {
      const b = Buffer.alloc(4);
      if (little) {
        b.writeUInt16LE(t >>> 16, 0);
        b.writeUInt16LE(t & 0xffff, 2);
      } else {
        b.writeUInt16BE(t >>> 16, 0);
        b.writeUInt16BE(t & 0xffff, 2);
      }
      return b;
    };
    const len = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      if (little) b.writeUInt32LE(n);
      else b.writeUInt32BE(n);
      return b;
    };
    const bytes = Buffer.concat([
      tag(Tag.PatientName),
      Buffer.from('UN\0\0'),
      len(4),
      Buffer.from('A^B '),
      tag(Tag.OtherPatientIDsSequence),
      Buffer.from('UN\0\0'),
      len(seq.length),
      seq,
      tag(Tag.Rows),
      Buffer.from('UN\0\0'),
      len(2),
      Buffer.from([0x00, 0x02]),
    ]);
    const ds = parseDataset(bytes, little ? TransferSyntax.ExplicitVRLittleEndian : TransferSyntax.ExplicitVRBigEndian);
    assert.equal(ds.get(Tag.PatientName)?.vr, 'PN');
    assert.equal(ds.string(Tag.PatientName), 'A^B');
    assert.equal(ds.items(Tag.OtherPatientIDsSequence)[0]?.string(Tag.PatientID), 'P7');
    assert.equal(ds.number(Tag.Rows), 512, 'UN bytes are little endian even in a big-endian file');
  }
});

test('sequences and items of defined length are read', () => {
  const item = writeDataset(new Dataset().set(Tag.CodeValue, 'SH', 'T-D0050'), TransferSyntax.ExplicitVRLittleEndian);
  const itemBytes = Buffer.concat([Buffer.from([0xfe, 0xff, 0x00, 0xe0]), u32(item.length), item]);
  const seq = Buffer.concat([
    Buffer.from([0x08, 0x00, 0x32, 0x10, 0x53, 0x51, 0, 0]),
    u32(itemBytes.length * 2),
    itemBytes,
    itemBytes,
  ]);
  const ds = parseDataset(
    Buffer.concat([seq, explicit(Tag.PatientID, 'LO', 'AB')]),
    TransferSyntax.ExplicitVRLittleEndian,
  );
  assert.equal(ds.items(Tag.ProcedureCodeSequence).length, 2);
  assert.equal(ds.items(Tag.ProcedureCodeSequence)[1]?.string(Tag.CodeValue), 'T-D0050');
  assert.equal(ds.string(Tag.PatientID), 'AB');
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function tagBytes(tag: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(tag >>> 16, 0);
  b.writeUInt16LE(tag & 0xffff, 2);
  return b;
}
function explicit(tag: number, vr: string, value: string | Buffer, length?: number): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const long = ['OB', 'OW', 'SQ', 'UN', 'UT'].includes(vr);
  const h = Buffer.alloc(long ? 8 : 4);
  h.write(vr, 0, 'latin1');
  if (long) h.writeUInt32LE(length ?? v.length, 4);
  else h.writeUInt16LE(length ?? v.length, 2);
  return Buffer.concat([tagBytes(tag), h, v]);
}
const ITEM_U = Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]);
const ITEM_END = Buffer.from([0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0]);
const SEQ_END = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
const SQ_U = explicit(Tag.ContentSequence, 'SQ', Buffer.alloc(0), 0xffffffff);

function nested(depth: number): Buffer {
  let inner = explicit(Tag.TextValue, 'UT', 'xx');
  for (let i = 0; i < depth; i++) inner = Buffer.concat([SQ_U, ITEM_U, inner, ITEM_END, SEQ_END]);
  return inner;
}

/** `depth` undefined-length sequences, each in an item of the one before: built in one concat, not one per level. */
/** (In implicit VR, (0040,A730) is SQ by the dictionary; the headers are tag and 4-byte length.) */
function deepUndefined(depth: number, implicit = false): Buffer {
  const open = implicit
    ? Buffer.concat([tagBytes(Tag.ContentSequence), u32(0xffffffff), ITEM_U])
    : Buffer.concat([SQ_U, ITEM_U]);
  const inner = implicit
    ? Buffer.concat([tagBytes(Tag.TextValue), u32(2), Buffer.from('xx')])
    : explicit(Tag.TextValue, 'UT', 'xx');
  return Buffer.concat([
    ...Array<Buffer>(depth).fill(open),
    inner,
    ...Array<Buffer>(depth).fill(Buffer.concat([ITEM_END, SEQ_END])),
  ]);
}

/** The same with defined lengths: each level's sequence and item lengths count everything inside them. */
function deepDefined(depth: number): Buffer {
  const inner = explicit(Tag.TextValue, 'UT', 'xx');
  const heads: Buffer[] = [];
  for (let level = depth - 1, content = inner.length + 20 * (depth - 1); level >= 0; level--, content -= 20) {
    heads.push(
      explicit(Tag.ContentSequence, 'SQ', Buffer.alloc(0), content + 8),
      Buffer.from([0xfe, 0xff, 0x00, 0xe0]),
      u32(content),
    );
  }
  return Buffer.concat([...heads, inner]);
}

const EXPL = TransferSyntax.ExplicitVRLittleEndian;
const cases: { name: string; bytes: Buffer; ts?: string; code: DicomErrorCode; limits?: ParseLimits }[] = [
  {
    name: 'element header cut short',
    bytes: Buffer.concat([explicit(Tag.PatientID, 'LO', 'AB'), Buffer.from([0x10, 0x00, 0x30, 0x00, 0x44])]),
    code: 'TRUNCATED',
  },
  { name: 'value longer than the data', bytes: explicit(Tag.PatientID, 'LO', 'AB', 100), code: 'LENGTH_EXCEEDS_DATA' },
  {
    name: 'absurd length beyond the data',
    bytes: explicit(Tag.PixelData, 'OB', 'AB', 0x3ffffffe),
    code: 'LENGTH_EXCEEDS_DATA',
  },
  {
    name: 'length over the element limit',
    bytes: explicit(Tag.PixelData, 'OB', 'AB', 0xfffffff0),
    code: 'ELEMENT_TOO_LARGE',
  },
  {
    name: 'small element limit',
    bytes: explicit(Tag.PatientID, 'LO', 'ABCD'),
    code: 'ELEMENT_TOO_LARGE',
    limits: { maxElementLength: 2 },
  },
  { name: 'odd length', bytes: explicit(Tag.PatientID, 'LO', 'ABC'), code: 'ODD_LENGTH' },
  { name: 'VR letters that are no VR', bytes: explicit(Tag.PatientID, 'ZZ', 'AB'), code: 'BAD_VR' },
  { name: 'lower-case VR', bytes: explicit(Tag.PatientID, 'lo', 'AB'), code: 'BAD_VR' },
  {
    name: 'undefined length on a text VR',
    bytes: Buffer.concat([tagBytes(Tag.TextValue), Buffer.from('UT\0\0'), u32(0xffffffff)]),
    code: 'BAD_VR',
  },
  { name: 'sequence without delimiter', bytes: Buffer.concat([SQ_U, ITEM_U, ITEM_END]), code: 'UNTERMINATED_ITEM' },
  {
    name: 'item without delimiter',
    bytes: Buffer.concat([SQ_U, ITEM_U, explicit(Tag.TextValue, 'UT', 'ab')]),
    code: 'UNTERMINATED_ITEM',
  },
  { name: 'nesting beyond maxDepth', bytes: nested(40), code: 'TOO_DEEP' },
  { name: 'nesting beyond a small maxDepth', bytes: nested(3), code: 'TOO_DEEP', limits: { maxDepth: 2 } },
  { name: 'item tag at the top level', bytes: Buffer.concat([ITEM_U, ITEM_END]), code: 'BAD_ITEM' },
  { name: 'item delimiter at the top level', bytes: ITEM_END, code: 'BAD_ITEM' },
  {
    name: 'element where an item belongs',
    bytes: Buffer.concat([SQ_U, explicit(Tag.PatientID, 'LO', 'AB'), SEQ_END]),
    code: 'BAD_ITEM',
  },
  {
    name: 'sequence delimiter in a defined-length sequence',
    bytes: Buffer.concat([explicit(Tag.ContentSequence, 'SQ', SEQ_END)]),
    code: 'BAD_ITEM',
  },
  {
    name: 'item longer than its sequence',
    bytes: explicit(
      Tag.ContentSequence,
      'SQ',
      Buffer.concat([Buffer.from([0xfe, 0xff, 0x00, 0xe0]), u32(20), Buffer.alloc(8)]),
    ),
    code: 'LENGTH_EXCEEDS_DATA',
  },
  {
    name: 'fragment of undefined length',
    bytes: Buffer.concat([explicit(Tag.PixelData, 'OB', Buffer.alloc(0), 0xffffffff), ITEM_U]),
    code: 'BAD_ITEM',
  },
  {
    name: 'encapsulated pixel data without delimiter',
    bytes: Buffer.concat([
      explicit(Tag.PixelData, 'OB', Buffer.alloc(0), 0xffffffff),
      Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0, 0, 0, 0]),
    ]),
    code: 'UNTERMINATED_ITEM',
  },
  {
    name: 'too many items',
    bytes: Buffer.concat([SQ_U, ITEM_U, ITEM_END, ITEM_U, ITEM_END, ITEM_U, ITEM_END, SEQ_END]),
    code: 'TOO_MANY_ITEMS',
    limits: { maxItems: 2 },
  },
  // Nesting far past the limit is refused at the limit, as a DicomError: never a stack overflow (RangeError).
  { name: 'nesting 10,000 deep (undefined lengths)', bytes: deepUndefined(10_000), code: 'TOO_DEEP' },
  { name: 'nesting 10,000 deep (defined lengths)', bytes: deepDefined(10_000), code: 'TOO_DEEP' },
  {
    name: 'nesting 10,000 deep in implicit VR',
    bytes: deepUndefined(10_000, true),
    ts: TransferSyntax.ImplicitVRLittleEndian,
    code: 'TOO_DEEP',
  },
  {
    name: 'nesting 10,000 deep inside a UN of undefined length',
    bytes: Buffer.concat([
      explicit(0x00091010, 'UN', Buffer.alloc(0), 0xffffffff),
      ITEM_U,
      deepUndefined(10_000, true),
    ]),
    code: 'TOO_DEEP',
  },
  {
    name: 'nesting 10,000 deep against a limit set far above the stack',
    bytes: deepUndefined(10_000),
    code: 'TOO_DEEP',
    limits: { maxDepth: 1_000_000 },
  },
  {
    name: 'odd item length',
    bytes: Buffer.concat([SQ_U, Buffer.from([0xfe, 0xff, 0x00, 0xe0]), u32(3), Buffer.alloc(3), SEQ_END]),
    code: 'ODD_LENGTH',
  },
  {
    name: 'odd fragment length',
    bytes: Buffer.concat([
      explicit(Tag.PixelData, 'OB', Buffer.alloc(0), 0xffffffff),
      Buffer.from([0xfe, 0xff, 0x00, 0xe0]),
      u32(3),
      Buffer.alloc(3),
      SEQ_END,
    ]),
    code: 'ODD_LENGTH',
  },
  {
    name: 'odd length in implicit VR',
    bytes: Buffer.concat([tagBytes(Tag.PatientID), u32(3), Buffer.from('ABC')]),
    ts: TransferSyntax.ImplicitVRLittleEndian,
    code: 'ODD_LENGTH',
  },
  {
    name: 'a deflate bomb (8 MiB of zeros in a few KiB) against the inflate limit',
    bytes: deflateRawSync(Buffer.alloc(8 << 20)),
    ts: TransferSyntax.DeflatedExplicitVRLittleEndian,
    code: 'HEADER_TOO_LARGE',
    limits: { maxInflatedLength: 1 << 20 },
  },
  {
    name: 'implicit VR length beyond the data',
    bytes: Buffer.concat([tagBytes(Tag.PatientID), u32(0x3ffffff0), Buffer.alloc(4)]),
    ts: TransferSyntax.ImplicitVRLittleEndian,
    code: 'LENGTH_EXCEEDS_DATA',
  },
  { name: 'unknown transfer syntax', bytes: Buffer.alloc(0), ts: '1.2.3.4.5', code: 'UNSUPPORTED_TRANSFER_SYNTAX' },
  {
    name: 'corrupt deflate stream',
    bytes: Buffer.from('not deflate at all, really'),
    ts: TransferSyntax.DeflatedExplicitVRLittleEndian,
    code: 'TRUNCATED',
  },
];

test('malformed input: each case is a DicomError with its code and an offset', async (t) => {
  for (const c of cases) {
    await t.test(c.name, () => {
      assert.throws(
        () => parseDataset(c.bytes, c.ts ?? EXPL, c.limits),
        (e: unknown) => {
          assert.ok(e instanceof DicomError, `${String(e)}`);
          assert.equal(e.code, c.code, e.message);
          if (c.code !== 'UNSUPPORTED_TRANSFER_SYNTAX') assert.equal(typeof e.offset, 'number');
          return true;
        },
      );
    });
  }
});

test('nesting up to maxDepth is accepted', () => {
  const ds = parseDataset(nested(32), EXPL);
  let d: Dataset | undefined = ds;
  let depth = 0;
  while (d?.has(Tag.ContentSequence)) {
    d = d.items(Tag.ContentSequence)[0];
    depth++;
  }
  assert.equal(depth, 32);
  assert.equal(d?.string(Tag.TextValue), 'xx');
  // The corpus builders make well-formed nesting: at the limit it parses, so TOO_DEEP above is the depth, nothing else.
  const deepest = (x: Dataset): number =>
    x.has(Tag.ContentSequence) ? 1 + deepest(x.items(Tag.ContentSequence)[0] ?? new Dataset()) : 0;
  assert.equal(deepest(parseDataset(deepUndefined(32), EXPL)), 32);
  assert.equal(deepest(parseDataset(deepDefined(32), EXPL)), 32);
  assert.equal(deepest(parseDataset(deepUndefined(32, true), TransferSyntax.ImplicitVRLittleEndian)), 32);
  assert.equal(
    deepest(parseDataset(deepUndefined(256), EXPL, { maxDepth: 1_000_000 })),
    256,
    'a limit asked above the ceiling stops at 256',
  );
});

test('random corruption never escapes as anything but a DicomError', () => {
  const good = writeDataset(sample(), EXPL);
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  let rejected = 0;
  for (let i = 0; i < 3000; i++) {
    const bad = Buffer.from(good.subarray(0, Math.floor(rnd() * good.length) + 1));
    for (let k = 0; k < 3; k++) bad[Math.floor(rnd() * bad.length)] = Math.floor(rnd() * 256);
    for (const ts of [EXPL, TransferSyntax.ImplicitVRLittleEndian]) {
      try {
        parseDataset(bad, ts);
      } catch (e) {
        assert.ok(e instanceof DicomError, `iteration ${i}: ${String(e)}`);
        rejected++;
      }
    }
  }
  assert.ok(rejected > 1000);
});

test('a deflated data set of odd length gets a trailing NUL (PS3.5 A.5), and reads back the same', () => {
  // Find values whose deflated stream has an odd length, as about half do.
  let odd: Buffer | undefined;
  let ds: Dataset | undefined;
  for (let i = 0; odd === undefined && i < 100; i++) {
    ds = new Dataset().set(Tag.PatientName, 'PN', `Patient^${'x'.repeat(i)}${i}`);
    const raw = deflateRawSync(writeDataset(ds, TransferSyntax.ExplicitVRLittleEndian));
    if (raw.length % 2 === 1) odd = raw;
  }
  assert.ok(odd !== undefined && ds !== undefined);
  const written = writeDataset(ds, TransferSyntax.DeflatedExplicitVRLittleEndian);
  assert.equal(written.length, odd.length + 1);
  assert.equal(written.at(-1), 0);
  assert.equal(
    parseDataset(written, TransferSyntax.DeflatedExplicitVRLittleEndian).string(Tag.PatientName),
    ds.string(Tag.PatientName),
  );
});
