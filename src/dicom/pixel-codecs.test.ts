// The decoders the DIMSE and DICOMweb tests do not reach with DCMTK or GDCM encoders: HTJ2K (neither encodes it;
// OpenJPH's own encoder makes the stream), 8-bit JPEG baseline and RLE (DCMTK's dcmcjpeg and dcmcrle encode them, its
// dcmdjpeg and dcmdrle decode them for comparison), and multi-frame pixel data split by the Basic Offset Table.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
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

/** A data set with pixels encoded by a DCMTK tool, that tool's own decoding of it, and ours. */
async function dcmtkRoundTrip(
  t: TestContext,
  o: { ds: Dataset; encoder: string; encoderArgs: string[]; decoder: string; transferSyntax: string },
): Promise<{ ours: Buffer; theirs: Buffer } | undefined> {
  const encoder = requireTool(t, o.encoder);
  const decoder = requireTool(t, o.decoder);
  if (encoder === undefined || decoder === undefined) return undefined;
  const dir = tempDir(t);
  const plain = join(dir, 'plain.dcm');
  writeFileSync(plain, Buffer.concat(encodePart10(o.ds, TransferSyntax.ExplicitVRLittleEndian)));
  const encoded = join(dir, 'encoded.dcm');
  assert.equal((await run(encoder, [...o.encoderArgs, plain, encoded])).code, 0);
  const back = join(dir, 'dcmtk.dcm');
  assert.equal((await run(decoder, [encoded, back])).code, 0);
  const compressed = readPart10(readFileSync(encoded));
  assert.equal(compressed.transferSyntaxUid, o.transferSyntax);
  await decodePixelData(compressed.dataset, compressed.transferSyntaxUid);
  return {
    ours: compressed.dataset.get(Tag.PixelData)?.bytes ?? Buffer.alloc(0),
    theirs: readPart10(readFileSync(back)).dataset.get(Tag.PixelData)?.bytes ?? Buffer.alloc(1),
  };
}

test("8-bit JPEG baseline, as DCMTK's dcmcjpeg encodes it, decodes as DCMTK's dcmdjpeg decodes it", async (t) => {
  const { ds, pixels } = image(64, 64, 8);
  ds.setElement({ tag: Tag.PixelData, vr: 'OB', bytes: pixels });
  const r = await dcmtkRoundTrip(t, {
    ds,
    encoder: 'dcmcjpeg',
    encoderArgs: ['+eb'],
    decoder: 'dcmdjpeg',
    transferSyntax: TransferSyntax.JPEGBaseline8Bit,
  });
  if (r === undefined) return;
  assert.equal(r.ours.length, pixels.length);
  // Two IDCT implementations (libjpeg-turbo, DCMTK's IJG) may round a level apart; a lossy image, near its original.
  let worst = 0;
  for (let i = 0; i < r.ours.length; i++) worst = Math.max(worst, Math.abs(r.ours[i]! - r.theirs[i]!));
  assert.ok(worst <= 1, `at most one level from DCMTK's decoding, found ${worst}`);
});

test("RLE lossless, as DCMTK's dcmcrle encodes it, decodes to the original pixels: 16-bit grey and 8-bit colour", async (t) => {
  const grey = image(40, 56, 16);
  grey.ds.setElement({ tag: Tag.PixelData, vr: 'OW', bytes: grey.pixels });
  const g = await dcmtkRoundTrip(t, {
    ds: grey.ds,
    encoder: 'dcmcrle',
    encoderArgs: [],
    decoder: 'dcmdrle',
    transferSyntax: TransferSyntax.RLELossless,
  });
  if (g === undefined) return;
  assert.ok(g.ours.equals(grey.pixels), 'pixel for pixel');
  assert.ok(g.ours.equals(g.theirs), "and as DCMTK's dcmdrle decodes it");

  // Colour by pixel in, colour by pixel out, whatever order the RLE segments keep the planes in.
  const { ds } = image(24, 32, 8);
  const rgb = Buffer.alloc(24 * 32 * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 5 + (i % 3) * 70) & 0xff;
  ds.set(Tag.SamplesPerPixel, 'US', 3)
    .set(Tag.PhotometricInterpretation, 'CS', 'RGB')
    .set(Tag.PlanarConfiguration, 'US', 0)
    .setElement({ tag: Tag.PixelData, vr: 'OB', bytes: rgb });
  const c = await dcmtkRoundTrip(t, {
    ds,
    encoder: 'dcmcrle',
    encoderArgs: [],
    decoder: 'dcmdrle',
    transferSyntax: TransferSyntax.RLELossless,
  });
  assert.ok(c?.ours.equals(rgb), 'colour pixel for pixel');
});

test('an RLE frame with a header that does not fit its samples or its length is refused before it is decoded', async () => {
  const { ds } = image(16, 16, 16);
  const header = (segments: number, ...offsets: number[]): Buffer => {
    const h = Buffer.alloc(64);
    h.writeUInt32LE(segments, 0);
    offsets.forEach((o, i) => h.writeUInt32LE(o, (i + 1) * 4));
    return h;
  };
  const refused = async (frame: Buffer, why: RegExp) => {
    ds.setElement({ tag: Tag.PixelData, vr: 'OB', fragments: [Buffer.alloc(0), frame] });
    await assert.rejects(decodePixelData(ds, TransferSyntax.RLELossless), why);
  };
  const body = Buffer.alloc(200, 0x7f);
  await refused(Buffer.concat([header(0x7fffffff, 64, 164), body]), /segments, not the 2/);
  await refused(Buffer.concat([header(2, 64, 0x7ffffff0), body]), /outside the frame/);
  await refused(Buffer.concat([header(2, 164, 64), body]), /outside the frame/);
  await refused(header(2, 64, 64).subarray(0, 40), /shorter than its 64-byte header/);
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
