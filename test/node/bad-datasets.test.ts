// Malformed data sets sent with C-STORE get a DIMSE failure status and a log line, store nothing, and leave the
// association usable: a hospital PACS that sends one broken image must not lose the next good one.
import assert from 'node:assert/strict';

import { join } from 'node:path';
import { test } from 'node:test';
import { Dataset, SopClass, Tag, TransferSyntax, newUid, writeDataset } from '../../src/dicom/index.ts';
import { Association, Status } from '../../src/dimse/index.ts';
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

const broken: [string, (uid: string) => Buffer][] = [
  ['a length beyond the data', (uid) => Buffer.concat([header(uid), longHeader(0x0009, 0x1010, 'OB', 1_000_000), Buffer.alloc(10)])],
  ['an absurd length (4 GiB - 2)', (uid) => Buffer.concat([header(uid), longHeader(0x0009, 0x1010, 'OB', 0xfffffffe)])],
  ['an undefined-length sequence that never ends', (uid) => Buffer.concat([header(uid), longHeader(0x0040, 0xa730, 'SQ', UNDEFINED), item(UNDEFINED), codeValue])],
  [
    'nesting 200 sequences deep',
    (uid) => Buffer.concat([header(uid), ...Array.from({ length: 200 }, () => Buffer.concat([longHeader(0x0040, 0xa730, 'SQ', UNDEFINED), item(UNDEFINED)]))]),
  ],
  ['a bad VR', (uid) => Buffer.concat([header(uid), Buffer.from([0x09, 0x00, 0x10, 0x10, 0x5a, 0x5a, 0x02, 0x00, 0x41, 0x41])])],
  ['no header at all', () => Buffer.from([1, 2, 3])],
];

test('broken data sets get a failure status, store nothing, and the association goes on', async (t) => {
  const n = await startTestNode(t, { peers: [{ aeTitle: SCU, host: '127.0.0.1', description: 'test modality' }] });
  const assoc = await Association.connect({
    host: '127.0.0.1',
    port: n.port,
    callingAeTitle: SCU,
    calledAeTitle: n.aeTitle,
    presentationContexts: [{ abstractSyntax: SopClass.CTImageStorage, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] }],
  });
  t.after(() => assoc.release());

  for (const [name, make] of broken) {
    const uid = newUid();
    const status = await assoc.store({
      sopClassUid: SopClass.CTImageStorage,
      sopInstanceUid: uid,
      transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
      data: make(uid),
    });
    assert.equal(status, 0xc000, `${name}: Cannot Understand`);
    assert.equal(n.node.store.index.getInstance(uid), undefined, `${name}: nothing indexed`);
  }
  assert.equal(n.node.store.index.stats().instances, 0);
  assert.deepEqual(filesBesidesSpare(join(n.dir, 'data')), [], 'no blob or temporary file is left behind');

  const good = newUid();
  const mismatch = await assoc.store({ sopClassUid: SopClass.CTImageStorage, sopInstanceUid: newUid(), transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian, data: header(good) });
  assert.equal(mismatch, 0xa900, 'a data set that is not the instance the command names is refused');
  const ok = await assoc.store({ sopClassUid: SopClass.CTImageStorage, sopInstanceUid: good, transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian, data: header(good) });
  assert.equal(ok, Status.Success);
  assert.equal(n.node.store.index.stats().instances, 1);
  assert.ok(logLines(n).filter((l) => String(l['msg']).startsWith('C-STORE refused')).length >= broken.length, 'each refusal is logged');
});
