import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dataset } from './dataset.ts';
import { parseDataset, writeDataset } from './dataset-codec.ts';
import { Tag } from './dictionary.ts';
import { rewriteHeader } from './rewrite-header.ts';
import { TransferSyntax } from './transfer-syntax.ts';

/** A small image with a sequence before the patient module, so the cut must step over nested items. */
function image(ts: string): Buffer {
  const pixels = Buffer.alloc(64 * 64 * 2);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) & 0xff;
  const ds = new Dataset()
    .set(Tag.SOPClassUID, 'UI', '1.2.840.10008.5.1.4.1.1.7')
    .set(Tag.SOPInstanceUID, 'UI', '1.2.3.4')
    .set(Tag.ReferencedStudySequence, 'SQ', [new Dataset().set(Tag.ReferencedSOPInstanceUID, 'UI', '1.2.3.9')])
    .set(Tag.PatientName, 'PN', 'Jansen^Piet')
    .set(Tag.PatientID, 'LO', 'MRN-001')
    .set(Tag.Rows, 'US', 64)
    .set(Tag.Columns, 'US', 64)
    .set(Tag.BitsAllocated, 'US', 16)
    .set(Tag.PixelData, 'OW', pixels);
  return writeDataset(ds, ts);
}

async function* chunked(b: Buffer, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

for (const ts of [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian]) {
  for (const size of [1, 97, 4096, 1 << 20]) {
    test(`rewriteHeader (${ts}, chunks of ${size}): the patient id changes, pixel data and every other element stay as they were`, async () => {
      const original = image(ts);
      const out = await collect(
        rewriteHeader(chunked(original, size), ts, (h) => h.set(Tag.PatientID, 'LO', '999999990')),
      );
      const before = parseDataset(original, ts);
      const after = parseDataset(out, ts);
      assert.equal(after.string(Tag.PatientID), '999999990');
      assert.equal(after.string(Tag.PatientName), 'Jansen^Piet');
      assert.equal(after.items(Tag.ReferencedStudySequence)[0]?.string(Tag.ReferencedSOPInstanceUID), '1.2.3.9');
      assert.ok(after.get(Tag.PixelData)?.bytes?.equals(before.get(Tag.PixelData)?.bytes ?? Buffer.alloc(0)));
      // Pixel data is passed through, not re-encoded: the tail of the stream is the original's tail.
      const tail = original.length - original.indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]));
      assert.ok(out.subarray(out.length - tail).equals(original.subarray(original.length - tail)));
    });
  }
}

test('rewriteHeader refuses deflated data rather than cutting it blindly', async () => {
  await assert.rejects(
    collect(
      rewriteHeader(chunked(Buffer.alloc(10), 10), TransferSyntax.DeflatedExplicitVRLittleEndian, () => undefined),
    ),
    /deflated/,
  );
});
