import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { test, type TestContext } from 'node:test';
import { encodeFileMeta } from '../../dicom/index.ts';
import { BeeldbrugError } from '../../errors/index.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { IncomingFile } from './incoming-file.ts';
import { inspect } from './intake.ts';

function incoming(t: TestContext, name = 'u1'): IncomingFile {
  const dir = mkdtempSync(join(tmpdir(), 'intake-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return new IncomingFile(join(dir, name), Buffer.alloc(32, 9), name);
}

async function bytesOf(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

test('an incoming file is encrypted on disk, appended at odd offsets, and read back by any range', async (t) => {
  const file = incoming(t);
  await file.create();
  const plain = randomBytes(100_003);
  let at = 0;
  for (const cut of [17, 50_001, 100_003]) at = await file.append(at, Readable.from([plain.subarray(at, cut)]), cut);
  assert.equal(at, plain.length);
  assert.equal(await file.size(), plain.length);
  assert.notDeepEqual(readFileSync(file.path).subarray(0, 64), plain.subarray(0, 64), 'not plaintext on disk');
  assert.deepEqual(await bytesOf(file.read()), plain);
  assert.deepEqual(await bytesOf(file.read(33, 70_001)), plain.subarray(33, 70_001));
  // More than announced is refused; what arrived before stays, to resume from.
  await assert.rejects(file.append(at, Readable.from([Buffer.alloc(10)]), 5), RangeError);
});

test('an incoming file written piece by piece, across its MiB blocks, reads back whole and by any range', async (t) => {
  const file = incoming(t);
  await file.create();
  const plain = randomBytes(2.5 * 1024 * 1024 + 7);
  const writer = file.writer(0, plain.length);
  // Pieces of an SFTP client's size, and odd ones, the memory of each reused at once as ssh2 does.
  const scratch = Buffer.alloc(40_000);
  for (let at = 0, n = 0; at < plain.length; at += n) {
    n = Math.min(at % 3 === 0 ? 32 * 1024 : 40_000 - (at % 977), plain.length - at);
    plain.copy(scratch, 0, at, at + n);
    await writer.write(scratch.subarray(0, n));
    scratch.fill(0);
  }
  assert.throws(() => writer.write(Buffer.alloc(1)), RangeError, 'not past the size it may have');
  await writer.end();
  assert.equal(writer.size, plain.length);
  assert.deepEqual(await bytesOf(file.read()), plain);
  assert.deepEqual(await file.readAt(1_048_570, 20), plain.subarray(1_048_570, 1_048_590), 'across a block');
  assert.deepEqual(await file.readAt(plain.length - 5, 100), plain.subarray(plain.length - 5), 'short at the end');
});

test('an incoming file that cannot be written fails its writer, which says why', async (t) => {
  const file = new IncomingFile(join(tempDir(t), 'gone', 'u1'), Buffer.alloc(32, 9), 'u1');
  const writer = file.writer(0, 10 * 1024 * 1024);
  await writer.write(Buffer.alloc(3 * 1024 * 1024));
  await assert.rejects(writer.end(), { code: 'ENOENT' });
  assert.throws(() => writer.write(Buffer.alloc(1)), { code: 'ENOENT' }, 'nothing more is taken');
});

/** A Part 10 file as far as intake looks: preamble, DICM and file meta (the store callback sees the rest). */
const part10 = (): Buffer =>
  Buffer.concat([
    encodeFileMeta({
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      sopInstanceUid: '1.2.3.4',
      transferSyntaxUid: '1.2.840.10008.1.2.1',
    }),
    Buffer.alloc(64),
  ]);

test('intake: a problem with the file refuses it with a reason; a problem of the node fails the upload', async (t) => {
  const file = incoming(t);
  await file.create();
  const bytes = part10();
  await file.append(0, Readable.from([bytes]), bytes.length);
  const inspected = await inspect(file, bytes.length, 'IM1');
  const invalid = (): Promise<never> => Promise.reject(new BeeldbrugError('DATASET_INVALID', 'no SOP Instance UID'));
  await assert.rejects(inspected.takeIn(invalid), (err: unknown) => {
    assert.ok(err instanceof BeeldbrugError && err.code === 'UPLOAD_REFUSED', String(err));
    assert.equal(err.members?.['kind'], 'not-stored');
    assert.match(err.message, /IM1: no SOP Instance UID/);
    return true;
  });
  const full = (): Promise<never> => Promise.reject(new BeeldbrugError('OUT_OF_RESOURCES', 'disk full'));
  await assert.rejects(inspected.takeIn(full), (err: unknown) => {
    assert.ok(err instanceof BeeldbrugError && err.code === 'OUT_OF_RESOURCES');
    return true;
  });
  const stored = await inspected.takeIn(async (source) => {
    assert.equal((await text(source)).length, bytes.length, 'the whole file, from its first byte');
    return { outcome: 'created', studyInstanceUid: '1.2.3' };
  });
  assert.deepEqual(stored, { stored: 1, duplicates: 0, studies: ['1.2.3'], skipped: [], skippedCount: 0 });
});
