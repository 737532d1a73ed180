// Packed for the wire and restored: every file comes back byte for byte, whatever its samples (signed, with bits above
// the stored ones, 8-bit of odd length with its pad byte, several frames, colour), and anything it does not pack is left
// alone.
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeCtStudy } from '../synth/index.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { Dataset } from './dataset.ts';
import { Tag } from './dictionary.ts';
import { DicomError } from './errors.ts';
import { packInstance, unpackInstance } from './packed-instance.ts';
import { encodePart10 } from './part10.ts';
import { SopClass } from './sop-class.ts';
import { TransferSyntax } from './transfer-syntax.ts';

const LIMIT = 64 * 1024 * 1024;

/** A smooth image with noise, as an acquisition is: what JPEG-LS packs well and zstd less so. */
function file(o: {
  rows: number;
  columns: number;
  bits: 8 | 16;
  frames?: number;
  samples?: 1 | 3;
  signed?: boolean;
  transferSyntax?: string;
  after?: boolean;
}): Buffer {
  const frames = o.frames ?? 1;
  const bytes = o.bits / 8;
  const samples = o.samples ?? 1;
  const pixels = Buffer.alloc(o.rows * o.columns * samples * bytes * frames);
  let seed = 12345;
  for (let i = 0; i < o.rows * o.columns * samples * frames; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const pixel = Math.floor(i / samples);
    const x = pixel % o.columns;
    const y = Math.floor(pixel / o.columns) % o.rows;
    const smooth = Math.round(400 * Math.sin(x / 9) * Math.cos(y / 13)) + (i % samples) * 20;
    const v = smooth + (seed % 7);
    if (o.bits === 8) pixels[i] = (v + 128) & 0xff;
    // Signed samples as stored, and bits above the stored twelve set now and then (an overlay in the high bits).
    else if (o.signed === true) pixels.writeInt16LE(v - 900, i * 2);
    else pixels.writeUInt16LE((v + 1024) | (i % 97 === 0 ? 0x8000 : 0), i * 2);
  }
  const ds = new Dataset()
    .set(Tag.SOPClassUID, 'UI', SopClass.SecondaryCaptureImageStorage)
    .set(Tag.SOPInstanceUID, 'UI', '2.25.20261206')
    .set(Tag.PatientName, 'PN', 'Jansen^Anna')
    .set(Tag.SamplesPerPixel, 'US', samples)
    .set(Tag.PhotometricInterpretation, 'CS', samples === 3 ? 'RGB' : 'MONOCHROME2')
    .set(Tag.Rows, 'US', o.rows)
    .set(Tag.Columns, 'US', o.columns)
    .set(Tag.BitsAllocated, 'US', o.bits)
    .set(Tag.BitsStored, 'US', o.bits === 8 ? 8 : 12)
    .set(Tag.HighBit, 'US', o.bits === 8 ? 7 : 11)
    .set(Tag.PixelRepresentation, 'US', o.signed === true ? 1 : 0);
  if (frames > 1) ds.set(Tag.NumberOfFrames, 'IS', String(frames));
  ds.set(Tag.PixelData, o.bits === 8 ? 'OB' : 'OW', pixels);
  // Data Set Trailing Padding, after the pixels: it must come back where it was.
  if (o.after === true) ds.set(0xfffcfffc, 'OB', Buffer.from([1, 2, 3, 4]));
  return Buffer.concat(encodePart10(ds, o.transferSyntax ?? TransferSyntax.ExplicitVRLittleEndian));
}

async function roundTrip(original: Buffer): Promise<Buffer> {
  const packed = await packInstance(original);
  assert.ok(packed !== undefined, 'packed');
  assert.ok(packed.length < original.length * 0.9, `${packed.length} of ${original.length} bytes`);
  const restored = await unpackInstance(packed, LIMIT);
  assert.ok(restored.equals(original), 'restored byte for byte');
  return packed;
}

test("a synthetic CT slice comes back byte for byte, in less than zstd's room", async (t) => {
  const dir = tempDir(t, 'packed-ct-');
  const study = await writeCtStudy({ outDir: join(dir, 'study'), instances: 2, seed: 4 });
  for (const path of study.files) {
    const original = readFileSync(path);
    const packed = await roundTrip(original);
    assert.ok(packed.length * 3.3 < original.length, `${(original.length / packed.length).toFixed(2)}x`);
  }
});

test('signed, high-bit, odd 8-bit, multi-frame, implicit VR, trailing elements and colour all come back byte for byte', async () => {
  await roundTrip(file({ rows: 64, columns: 80, bits: 16, signed: true }));
  await roundTrip(file({ rows: 64, columns: 80, bits: 16 }));
  await roundTrip(file({ rows: 33, columns: 51, bits: 8 }));
  await roundTrip(file({ rows: 40, columns: 40, bits: 16, frames: 5 }));
  await roundTrip(file({ rows: 64, columns: 64, bits: 16, transferSyntax: TransferSyntax.ImplicitVRLittleEndian }));
  await roundTrip(file({ rows: 64, columns: 64, bits: 16, after: true }));
  await roundTrip(file({ rows: 31, columns: 47, bits: 8, samples: 3, frames: 2 }));
});

test('what it does not pack is left to go as it is', async () => {
  const bigEndian = file({ rows: 8, columns: 8, bits: 16, transferSyntax: TransferSyntax.ExplicitVRBigEndian });
  assert.equal(await packInstance(bigEndian), undefined);
  assert.equal(await packInstance(Buffer.from('not DICOM at all')), undefined);
  // Noise, which JPEG-LS cannot make smaller.
  const noise = file({ rows: 64, columns: 64, bits: 8 });
  randomFillSync(noise, noise.length - 4096);
  assert.equal(await packInstance(noise), undefined);
});

test('a damaged or oversized packed instance is refused before it restores anything', async () => {
  const original = file({ rows: 64, columns: 80, bits: 16, frames: 2 });
  const packed = await packInstance(original);
  assert.ok(packed !== undefined);
  const refused = (b: Buffer, limit = LIMIT) => assert.rejects(unpackInstance(b, limit), DicomError);
  await refused(packed.subarray(0, packed.length - 3));
  await refused(Buffer.concat([packed, Buffer.from([0])]));
  await refused(Buffer.from(packed).fill(0, 0, 4));
  await refused(packed, original.length - 1);
  // The geometry says more columns than the stream holds.
  const lying = Buffer.from(packed);
  const head = lying.readUInt32BE(8);
  lying.writeUInt16BE(81, 12 + head);
  await refused(lying);
  // A stream whose bytes are damaged does not restore (or not to the same bytes, which the exchange's digest catches).
  const damaged = Buffer.from(packed);
  const firstStream = 12 + head + 10 + 4;
  damaged.fill(0xff, firstStream + 40, firstStream + 60);
  const restored = await unpackInstance(damaged, LIMIT).catch((err: unknown) => err);
  assert.ok(restored instanceof DicomError || !(restored as Buffer).equals(original));
});
