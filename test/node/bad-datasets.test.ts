// Malformed data sets sent with C-STORE get a DIMSE failure status and a log line, store nothing, and leave the
// association usable: a hospital PACS that sends one broken image must not lose the next good one. What is stored is
// kept as opaque bytes (headers are indexed, pixels never decoded) under names the node makes, never names from the data.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { Dataset, SopClass, Tag, TransferSyntax, newUid, writeDataset } from '../../src/dicom/index.ts';
import { Association, DimseFailure, Status } from '../../src/dimse/index.ts';
import { filesBesidesSpare, logLines, startTestNode } from '../support/node.ts';

const SCU = 'MODALITY';

function header(sopInstanceUid: string): Buffer {
  const ds = new Dataset()
    .set(Tag.SOPClassUID, 'UI', SopClass.CTImageStorage)
    .set(Tag.SOPInstanceUID, 'UI', sopInstanceUid)
    .set(Tag.PatientID, 'LO', '999999990')
    .set(Tag.StudyInstanceUID, 'UI', '1.2.826.0.1.3680043.9.7777.1')
    .set(Tag.SeriesInstanceUID, 'UI', '1.2.826.0.1.3680043.9.7777.1.1');
  return writeDataset(ds, TransferSyntax.ExplicitVRLittleEndian);
}

/** Explicit VR little endian element header with a 4-byte length (OB, SQ, UN...). */
function longHeader(group: number, element: number, vr: string, length: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(group, 0);
  b.writeUInt16LE(element, 2);
  b.write(vr, 4, 'latin1');
  b.writeUInt32LE(length >>> 0, 8);
  return b;
}

function item(length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(0xfffe, 0);
  b.writeUInt16LE(0xe000, 2);
  b.writeUInt32LE(length >>> 0, 4);
  return b;
}

const UNDEFINED = 0xffffffff;
/** (0008,0100) SH "T1": a well-formed element inside the item, so only the missing delimiters are wrong. */
const codeValue = Buffer.from([0x08, 0x00, 0x00, 0x01, 0x53, 0x48, 0x02, 0x00, 0x54, 0x31]);

/** `depth` undefined-length sequences, each in the item of the one before, never closed: deeper than any limit. */
function deep(depth: number): Buffer {
  return Buffer.concat(
    Array.from({ length: depth }, () => Buffer.concat([longHeader(0x0040, 0xa730, 'SQ', UNDEFINED), item(UNDEFINED)])),
  );
}

/** [case, data set for the instance UID, what the refusal logged must say] */
const broken: [string, (uid: string) => Buffer, RegExp][] = [
  [
    'a length beyond the data',
    (uid) => Buffer.concat([header(uid), longHeader(0x0009, 0x1010, 'OB', 1_000_000), Buffer.alloc(10)]),
    /declares 1000000 bytes, more than remain/,
  ],
  [
    'an absurd length (4 GiB - 2)',
    (uid) => Buffer.concat([header(uid), longHeader(0x0009, 0x1010, 'OB', 0xfffffffe)]),
    /over the limit/,
  ],
  [
    'an undefined-length sequence that never ends',
    (uid) => Buffer.concat([header(uid), longHeader(0x0040, 0xa730, 'SQ', UNDEFINED), item(UNDEFINED), codeValue]),
    /no item delimiter/,
  ],
  ['nesting 200 sequences deep', (uid) => Buffer.concat([header(uid), deep(200)]), /nested deeper than 32/],
  ['nesting 10,000 sequences deep', (uid) => Buffer.concat([header(uid), deep(10_000)]), /nested deeper than 32/],
  [
    'a bad VR',
    (uid) => Buffer.concat([header(uid), Buffer.from([0x09, 0x00, 0x10, 0x10, 0x5a, 0x5a, 0x02, 0x00, 0x41, 0x41])]),
    /invalid VR/,
  ],
  [
    'an odd value length',
    (uid) =>
      Buffer.concat([header(uid), Buffer.from([0x09, 0x00, 0x10, 0x10, 0x4c, 0x4f, 0x03, 0x00, 0x41, 0x42, 0x43])]),
    /odd length 3/,
  ],
  [
    'an item of odd length',
    (uid) => Buffer.concat([header(uid), longHeader(0x0040, 0xa730, 'SQ', UNDEFINED), item(3), Buffer.alloc(3)]),
    /item has odd length/,
  ],
  [
    'an undefined length on a text VR',
    (uid) => Buffer.concat([header(uid), longHeader(0x0009, 0x1010, 'UT', UNDEFINED), codeValue]),
    /cannot have an undefined length/,
  ],
  ['no header at all', () => Buffer.from([1, 2, 3]), /data ends inside an element header/],
];

test('broken data sets get a failure status, store nothing, and the association goes on', async (t) => {
  const n = await startTestNode(t, { peers: [{ aeTitle: SCU, host: '127.0.0.1', description: 'test modality' }] });
  const assoc = await Association.connect({
    host: '127.0.0.1',
    port: n.port,
    callingAeTitle: SCU,
    calledAeTitle: n.aeTitle,
    presentationContexts: [
      { abstractSyntax: SopClass.CTImageStorage, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] },
    ],
  });
  t.after(() => assoc.release());

  for (const [name, make] of broken) {
    const uid = newUid();
    // A status at all is the proof it was answered from the bytes: a timer (the idle timeout) would abort instead.
    const status = await assoc.store({
      sopClassUid: SopClass.CTImageStorage,
      sopInstanceUid: uid,
      transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
      data: make(uid),
    });
    assert.equal(status, 0xc000, `${name}: Cannot Understand`);
    assert.equal(await n.node.store.index.getInstance(uid), undefined, `${name}: nothing indexed`);
  }
  assert.equal((await n.node.store.index.stats()).instances, 0);
  assert.deepEqual(filesBesidesSpare(join(n.dir, 'data')), [], 'no blob or temporary file is left behind');

  const good = newUid();
  const mismatch = await assoc.store({
    sopClassUid: SopClass.CTImageStorage,
    sopInstanceUid: newUid(),
    transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
    data: header(good),
  });
  assert.equal(mismatch, 0xa900, 'a data set that is not the instance the command names is refused');
  const ok = await assoc.store({
    sopClassUid: SopClass.CTImageStorage,
    sopInstanceUid: good,
    transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
    data: header(good),
  });
  assert.equal(ok, Status.Success);
  assert.equal((await n.node.store.index.stats()).instances, 1);
  const refusals = logLines(n)
    .map((l) => String(l['msg']))
    .filter((m) => m.startsWith('C-STORE refused'));
  assert.ok(refusals.length >= broken.length, 'each refusal is logged');
  broken.forEach(([name, , why], i) => assert.match(refusals[i] ?? '', why, `${name}: refused for its own reason`));
  // A refusal is the sender's problem, told in one line: nothing is logged as an error, and no stack trace.
  const errors = logLines(n).filter((l) => Number(l['level']) >= 50 || JSON.stringify(l).includes('    at '));
  assert.deepEqual(errors, [], 'no error and no stack trace for a refused instance');
});

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

test('what is stored is opaque bytes under names the node makes: absurd image sizes and path-like UIDs change nothing', async (t) => {
  const n = await startTestNode(t, { peers: [{ aeTitle: SCU, host: '127.0.0.1', description: 'test modality' }] });
  const assoc = await Association.connect({
    host: '127.0.0.1',
    port: n.port,
    callingAeTitle: SCU,
    calledAeTitle: n.aeTitle,
    presentationContexts: [
      { abstractSyntax: SopClass.CTImageStorage, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] },
    ],
  });
  t.after(() => assoc.release());
  const store = (uid: string, data: Buffer): Promise<number> =>
    assoc.store({
      sopClassUid: SopClass.CTImageStorage,
      sopInstanceUid: uid,
      transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
      data,
    });

  // 65535 x 65535 x 16 bits x 3 samples x 2^31 frames would be 5.5e19 bytes of pixels; 64 bytes of them come. Any buffer
  // sized from these attributes would fail the store (no such buffer can exist); the index only reads the header.
  const absurd = newUid();
  const absurdBytes = writeDataset(
    new Dataset()
      .set(Tag.SOPClassUID, 'UI', SopClass.CTImageStorage)
      .set(Tag.SOPInstanceUID, 'UI', absurd)
      .set(Tag.PatientID, 'LO', '999999990')
      .set(Tag.StudyInstanceUID, 'UI', '1.2.826.0.1.3680043.9.7777.2')
      .set(Tag.SeriesInstanceUID, 'UI', '1.2.826.0.1.3680043.9.7777.2.1')
      .set(Tag.SamplesPerPixel, 'US', 3)
      .set(Tag.NumberOfFrames, 'IS', '2147483648')
      .set(Tag.Rows, 'US', 65535)
      .set(Tag.Columns, 'US', 65535)
      .set(Tag.BitsAllocated, 'US', 16)
      .set(Tag.PixelData, 'OW', Buffer.alloc(64, 0x5a)),
    TransferSyntax.ExplicitVRLittleEndian,
  );
  assert.equal(await store(absurd, absurdBytes), Status.Success);
  const stored = await n.node.store.index.getInstance(absurd);
  assert.ok(stored !== undefined, 'indexed from its header');
  const chunks: Buffer[] = [];
  for await (const c of n.node.store.blobs.open(stored.blob.blobId) as AsyncIterable<Buffer>) chunks.push(c);
  assert.deepEqual(Buffer.concat(chunks).subarray(stored.datasetOffset), absurdBytes, 'stored byte for byte as sent');

  // UIDs and patient data shaped like paths. The DICOM reader does not validate UID syntax, so these are accepted.
  const escape = `/tmp/beeldbrug-escape-${process.pid}-${Date.now()}`;
  const hostile = {
    sop: '../../../../beeldbrug-escape/sop',
    study: escape,
    series: '..',
    patient: '../../../../etc/passwd',
  };
  const hostileBytes = writeDataset(
    new Dataset()
      .set(Tag.SOPClassUID, 'UI', SopClass.CTImageStorage)
      .set(Tag.SOPInstanceUID, 'UI', hostile.sop)
      .set(Tag.PatientID, 'LO', hostile.patient)
      .set(Tag.StudyInstanceUID, 'UI', hostile.study)
      .set(Tag.SeriesInstanceUID, 'UI', hostile.series),
    TransferSyntax.ExplicitVRLittleEndian,
  );
  const before = new Set(readdirSync(join(n.dir, '..')));
  assert.equal(
    await store(hostile.sop, hostileBytes),
    Status.Success,
    'stored: its file name comes from the node, not from the data',
  );
  assert.equal((await n.node.store.index.getInstance(hostile.sop))?.study.studyInstanceUid, hostile.study);

  const blobs = filesUnder(join(n.dir, 'data', 'blobs'));
  assert.equal(blobs.length, 2);
  for (const f of blobs) assert.match(f, /^[0-9a-f]{2}\/[0-9a-f]{32}$/, `${f} is a generated blob id`);
  for (const f of filesUnder(n.dir)) {
    for (const v of ['escape', 'passwd', '999999990', absurd])
      assert.ok(!f.includes(v), `${f} is not named from received data`);
  }
  assert.equal(existsSync(escape), false, 'nothing at the absolute path the Study Instance UID names');
  assert.deepEqual(
    [...readdirSync(join(n.dir, '..'))].filter((f) => !before.has(f) && f.includes('escape')),
    [],
    'nothing beside the node folder',
  );
});

test('a C-FIND identifier nested 10,000 deep is refused at the nesting limit; the association goes on', async (t) => {
  const n = await startTestNode(t, { peers: [{ aeTitle: SCU, host: '127.0.0.1', description: 'test modality' }] });
  const assoc = await Association.connect({
    host: '127.0.0.1',
    port: n.port,
    callingAeTitle: SCU,
    calledAeTitle: n.aeTitle,
    presentationContexts: [
      {
        abstractSyntax: SopClass.StudyRootQueryRetrieveFind,
        transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
      },
    ],
  });
  t.after(() => assoc.release());
  const level = writeDataset(
    new Dataset().set(Tag.QueryRetrieveLevel, 'CS', 'STUDY'),
    TransferSyntax.ExplicitVRLittleEndian,
  );
  // A refusal status, not an abort by a timer, is the proof it was refused from the bytes.
  await assert.rejects(
    (async () => {
      for await (const m of assoc.find(SopClass.StudyRootQueryRetrieveFind, Buffer.concat([level, deep(10_000)])))
        void m;
    })(),
    (e: unknown) => e instanceof DimseFailure && e.status === 0xa900,
  );
  const matches: Buffer[] = [];
  for await (const m of assoc.find(SopClass.StudyRootQueryRetrieveFind, level)) matches.push(m);
  assert.deepEqual(matches, [], 'the next C-FIND on the same association is answered');
});

test('Pixel Data declaring more bytes than arrive is refused', async (t) => {
  const n = await startTestNode(t, { peers: [{ aeTitle: SCU, host: '127.0.0.1', description: 'test modality' }] });
  const assoc = await Association.connect({
    host: '127.0.0.1',
    port: n.port,
    callingAeTitle: SCU,
    calledAeTitle: n.aeTitle,
    presentationContexts: [
      { abstractSyntax: SopClass.CTImageStorage, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] },
    ],
  });
  t.after(() => assoc.release());
  const uid = newUid();
  const status = await assoc.store({
    sopClassUid: SopClass.CTImageStorage,
    sopInstanceUid: uid,
    transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
    data: Buffer.concat([header(uid), longHeader(0x7fe0, 0x0010, 'OW', 0x7ffffff0), Buffer.alloc(64)]),
  });
  assert.equal(status, 0xc000, 'Cannot Understand');
  assert.equal(await n.node.store.index.getInstance(uid), undefined);
});
