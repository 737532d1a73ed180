// The decoders the DIMSE and DICOMweb tests do not reach with DCMTK or GDCM encoders: HTJ2K (neither encodes it;
// OpenJPH's own encoder makes the stream), 8-bit JPEG baseline (DCMTK's dcmcjpeg encodes it, and its dcmdjpeg decodes
// it for comparison), and multi-frame pixel data split by the Basic Offset Table.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from '../../test/support/processes.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { requireTool } from '../../test/support/tools.ts';
import { Dataset } from './dataset.ts';
import { Tag } from './dictionary.ts';
import { encodePart10, readPart10 } from './part10.ts';
import { decodePixelData, framesOfFragments } from './pixel-codecs.ts';
import { SopClass } from './sop-class.ts';
import { TransferSyntax } from './transfer-syntax.ts';

const require = createRequire(import.meta.url);

function image(rows: number, columns: number, bits: 8 | 16): { ds: Dataset; pixels: Buffer } {
  const pixels = Buffer.alloc(rows * columns * (bits / 8));
  for (let y = 0; y < rows; y++)
    for (let x = 0; x < columns; x++) {
      const v = (x * 7 + y * 13 + ((x * y) % 31)) % (bits === 8 ? 256 : 4096);
      if (bits === 8) pixels[y * columns + x] = v;
      else pixels.writeUInt16LE(v, (y * columns + x) * 2);
    }
  const ds = new Dataset()
    .set(Tag.SOPClassUID, 'UI', SopClass.SecondaryCaptureImageStorage)
    .set(Tag.SOPInstanceUID, 'UI', '2.25.1234567')
    .set(Tag.SamplesPerPixel, 'US', 1)
    .set(Tag.PhotometricInterpretation, 'CS', 'MONOCHROME2')
    .set(Tag.Rows, 'US', rows)
    .set(Tag.Columns, 'US', columns)
    .set(Tag.BitsAllocated, 'US', bits)
    .set(Tag.BitsStored, 'US', bits === 8 ? 8 : 12)
    .set(Tag.HighBit, 'US', bits === 8 ? 7 : 11)
    .set(Tag.PixelRepresentation, 'US', 0);
  return { ds, pixels };
}

test('HTJ2K lossless, as OpenJPH encodes it, decodes to the original pixels', async () => {
  const { ds, pixels } = image(64, 48, 16);
  const factory = require('@cornerstonejs/codec-openjph/wasmjs') as () => Promise<{
    HTJ2KEncoder: new () => {
      getDecodedBuffer(info: object): Uint8Array;
      setQuality(lossless: boolean, quantizationStep: number): void;
      encode(): void;
      getEncodedBuffer(): Uint8Array;
      delete(): void;
    };
  }>;
  const encoder = new (await factory()).HTJ2KEncoder();
  encoder
    .getDecodedBuffer({
      width: 48,
      height: 64,
      bitsPerSample: 16,
      componentCount: 1,
      isSigned: false,
      isUsingColorTransform: false,
    })
    .set(pixels);
  encoder.setQuality(true, 0);
  encoder.encode();
  const stream = Buffer.from(encoder.getEncodedBuffer());
  encoder.delete();
  ds.setElement({ tag: Tag.PixelData, vr: 'OB', fragments: [Buffer.alloc(0), stream] });
  await decodePixelData(ds, TransferSyntax.HTJ2KLossless);
  assert.equal(ds.get(Tag.PixelData)?.vr, 'OW');
  assert.ok(ds.get(Tag.PixelData)?.bytes?.equals(pixels), 'pixel for pixel');
});

test("8-bit JPEG baseline, as DCMTK's dcmcjpeg encodes it, decodes as DCMTK's dcmdjpeg decodes it", async (t) => {
  const dcmcjpeg = requireTool(t, 'dcmcjpeg');
  const dcmdjpeg = requireTool(t, 'dcmdjpeg');
  if (dcmcjpeg === undefined || dcmdjpeg === undefined) return;
  const dir = tempDir(t);
  const { ds, pixels } = image(64, 64, 8);
  ds.setElement({ tag: Tag.PixelData, vr: 'OB', bytes: pixels });
  const plain = join(dir, 'plain.dcm');
  writeFileSync(plain, Buffer.concat(encodePart10(ds, TransferSyntax.ExplicitVRLittleEndian)));
  const jpeg = join(dir, 'baseline.dcm');
  assert.equal((await run(dcmcjpeg, ['+eb', plain, jpeg])).code, 0);
  const back = join(dir, 'dcmtk.dcm');
  assert.equal((await run(dcmdjpeg, [jpeg, back])).code, 0);
  const compressed = readPart10(readFileSync(jpeg));
  assert.equal(compressed.transferSyntaxUid, TransferSyntax.JPEGBaseline8Bit);
  await decodePixelData(compressed.dataset, compressed.transferSyntaxUid);
  const ours = compressed.dataset.get(Tag.PixelData)?.bytes ?? Buffer.alloc(0);
  const theirs = readPart10(readFileSync(back)).dataset.get(Tag.PixelData)?.bytes ?? Buffer.alloc(1);
  assert.equal(ours.length, pixels.length);
  // Two IDCT implementations (libjpeg-turbo, DCMTK's IJG) may round a level apart; a lossy image, near its original.
  let worst = 0;
  for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - theirs[i]!));
  assert.ok(worst <= 1, `at most one level from DCMTK's decoding, found ${worst}`);
});

test('multi-frame pixel data is split into frames by the Basic Offset Table', () => {
  const a = Buffer.from([1, 2, 3, 4]);
  const b = Buffer.from([5, 6]);
  const c = Buffer.from([7, 8]);
  // Frame 1 is fragments a and b (offset 0); frame 2 is c, after a and b with their 8-byte item headers.
  const table = Buffer.alloc(8);
  table.writeUInt32LE(0, 0);
  table.writeUInt32LE(a.length + 8 + b.length + 8, 4);
  assert.deepEqual(framesOfFragments([table, a, b, c], 2), [Buffer.concat([a, b]), c]);
  assert.deepEqual(framesOfFragments([Buffer.alloc(0), a, c], 2), [a, c], 'one fragment per frame');
  assert.deepEqual(framesOfFragments([Buffer.alloc(0), a, b], 1), [Buffer.concat([a, b])], 'one frame');
});
