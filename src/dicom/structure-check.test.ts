import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DicomError } from './errors.ts';
import { StructureCheck } from './structure-check.ts';
import { TransferSyntax } from './transfer-syntax.ts';

const u16 = (n: number): Buffer => Buffer.from([n & 0xff, n >> 8]);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const tag = (g: number, e: number): Buffer => Buffer.concat([u16(g), u16(e)]);
const short = (g: number, e: number, vr: string, value: Buffer): Buffer =>
  Buffer.concat([tag(g, e), Buffer.from(vr), u16(value.length), value]);
const long = (g: number, e: number, vr: string, length: number): Buffer =>
  Buffer.concat([tag(g, e), Buffer.from(vr), Buffer.alloc(2), u32(length)]);
const item = (length: number): Buffer => Buffer.concat([tag(0xfffe, 0xe000), u32(length)]);
const itemEnd = Buffer.concat([tag(0xfffe, 0xe00d), u32(0)]);
const sequenceEnd = Buffer.concat([tag(0xfffe, 0xe0dd), u32(0)]);
const UNDEFINED = 0xffffffff;

/** Explicit VR little endian: a sequence of undefined length with an undefined-length item, then encapsulated pixel data. */
const encapsulated = Buffer.concat([
  short(0x0008, 0x0060, 'CS', Buffer.from('CT')),
  long(0x0040, 0xa730, 'SQ', UNDEFINED),
  item(UNDEFINED),
  short(0x0008, 0x0100, 'SH', Buffer.from('T-1 ')),
  itemEnd,
  item(12),
  short(0x0008, 0x0102, 'SH', Buffer.from('DCM ')),
  sequenceEnd,
  long(0x7fe0, 0x0010, 'OB', UNDEFINED),
  item(0),
  item(6),
  Buffer.from([1, 2, 3, 4, 5, 6]),
  sequenceEnd,
  long(0xfffc, 0xfffc, 'OB', 4),
  Buffer.alloc(4),
]);

function check(
  bytes: Buffer,
  chunk: number,
  ts: string = TransferSyntax.ExplicitVRLittleEndian,
): DicomError | undefined {
  const c = new StructureCheck(ts);
  try {
    for (let i = 0; i < bytes.length; i += chunk) c.push(bytes.subarray(i, i + chunk));
    c.end();
    return undefined;
  } catch (err) {
    if (err instanceof DicomError) return err;
    throw err;
  }
}

test('a complete data set passes however it is chunked; one cut off inside a value, item or sequence does not', () => {
  for (const chunk of [1, 3, 7, 64, encapsulated.length])
    assert.equal(check(encapsulated, chunk), undefined, `chunks of ${chunk}`);
  let refused = 0;
  for (let cut = 1; cut < encapsulated.length; cut++) {
    const err = check(encapsulated.subarray(0, cut), 5);
    if (err !== undefined) {
      assert.equal(err.code, 'TRUNCATED', `cut at ${cut}: ${err.message}`);
      refused++;
    }
  }
  // Only the cuts between top-level elements are whole data sets: the CS, after the sequence, after the pixel data.
  assert.equal(refused, encapsulated.length - 1 - 3);
});

test('pixel data declaring more than arrives is refused; so are stray delimiters and undefined lengths on plain values', () => {
  const header = short(0x0008, 0x0060, 'CS', Buffer.from('CT'));
  const err = check(Buffer.concat([header, long(0x7fe0, 0x0010, 'OW', 0x7ffffff0), Buffer.alloc(64)]), 16);
  assert.equal(err?.code, 'TRUNCATED');
  assert.match(err!.message, /short of a value's declared length/);
  assert.equal(check(Buffer.concat([header, itemEnd]), 4)?.code, 'BAD_ITEM');
  assert.equal(check(Buffer.concat([header, long(0x0009, 0x0010, 'UT', UNDEFINED)]), 4)?.code, 'BAD_VR');
  assert.equal(
    check(
      Buffer.concat([header, long(0x7fe0, 0x0010, 'OB', UNDEFINED), short(0x0008, 0x0060, 'CS', Buffer.from('CT'))]),
      4,
    )?.code,
    'BAD_ITEM',
    'only fragments inside encapsulated pixel data',
  );
});

test('implicit VR little endian and explicit big endian are walked with their own header layout', () => {
  const implicit = Buffer.concat([
    tag(0x0008, 0x0060),
    u32(2),
    Buffer.from('CT'),
    tag(0x0040, 0xa730),
    u32(UNDEFINED),
    item(UNDEFINED),
    tag(0x0008, 0x0100),
    u32(4),
    Buffer.from('T-1 '),
    itemEnd,
    sequenceEnd,
    tag(0x7fe0, 0x0010),
    u32(4),
    Buffer.alloc(4),
  ]);
  assert.equal(check(implicit, 3, TransferSyntax.ImplicitVRLittleEndian), undefined);
  assert.equal(
    check(implicit.subarray(0, implicit.length - 2), 3, TransferSyntax.ImplicitVRLittleEndian)?.code,
    'TRUNCATED',
  );
  const be = Buffer.from([
    0x00, 0x08, 0x00, 0x60, 0x43, 0x53, 0x00, 0x02, 0x43, 0x54, 0x7f, 0xe0, 0x00, 0x10, 0x4f, 0x57, 0, 0, 0x00, 0x00,
    0x00, 0x04, 1, 2, 3, 4,
  ]);
  assert.equal(check(be, 5, TransferSyntax.ExplicitVRBigEndian), undefined);
  assert.equal(check(be.subarray(0, be.length - 1), 5, TransferSyntax.ExplicitVRBigEndian)?.code, 'TRUNCATED');
});

test('deep nesting after the header is capped, not followed into the stack', () => {
  const deep = Buffer.concat(
    Array.from({ length: 10_000 }, () => Buffer.concat([long(0x0040, 0xa730, 'SQ', UNDEFINED), item(UNDEFINED)])),
  );
  assert.equal(check(deep, 4096)?.code, 'TOO_DEEP');
});
