import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeAeTitle,
  decodeControlPdu,
  encodeAbort,
  encodeAeTitle,
  encodeAssociateAc,
  encodeAssociateRj,
  encodeAssociateRq,
  encodeReleaseRq,
} from './pdu-codec.ts';
import { DimseProtocolError } from './errors.ts';
import { type AssociateAc, type AssociateRq, PduType } from './pdu-types.ts';

const rq: AssociateRq = {
  protocolVersion: 1,
  calledAeTitle: 'BEELDBRUG',
  callingAeTitle: 'PACS01',
  applicationContext: '1.2.840.10008.3.1.1.1',
  contexts: [
    { id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: ['1.2.840.10008.1.2'] },
    {
      id: 3,
      abstractSyntax: '1.2.840.10008.5.1.4.1.1.2',
      transferSyntaxes: ['1.2.840.10008.1.2.1', '1.2.840.10008.1.2'],
    },
  ],
  userInfo: {
    maxPduLength: 262144,
    implementationClassUid: '1.2.3.4',
    implementationVersionName: 'TEST_1',
    roleSelections: [{ sopClassUid: '1.2.840.10008.5.1.4.1.1.2', scuRole: true, scpRole: true }],
  },
};

function body(pdu: Buffer): { type: number; body: Buffer } {
  assert.equal(pdu.readUInt32BE(2), pdu.length - 6, 'PDU length field covers the rest');
  return { type: pdu[0] ?? 0, body: pdu.subarray(6) };
}

test('A-ASSOCIATE-RQ round-trips (PS3.8 9.3.2)', () => {
  const { type, body: b } = body(encodeAssociateRq(rq));
  const back = decodeControlPdu(type, b);
  assert.equal(back.type, PduType.AssociateRq);
  assert.deepEqual(back.type === PduType.AssociateRq ? back.rq : undefined, rq);
});

test('A-ASSOCIATE-AC round-trips (PS3.8 9.3.3)', () => {
  const ac: AssociateAc = {
    protocolVersion: 1,
    calledAeTitle: 'BEELDBRUG',
    callingAeTitle: 'PACS01',
    applicationContext: '1.2.840.10008.3.1.1.1',
    contexts: [
      { id: 1, result: 0, transferSyntax: '1.2.840.10008.1.2' },
      { id: 3, result: 3, transferSyntax: '' },
    ],
    userInfo: { maxPduLength: 16384, implementationClassUid: '1.2.3.4', roleSelections: [] },
  };
  const { type, body: b } = body(encodeAssociateAc(ac));
  const back = decodeControlPdu(type, b);
  assert.deepEqual(back.type === PduType.AssociateAc ? back.ac : undefined, ac);
});

test('A-ASSOCIATE-RJ, A-ABORT and A-RELEASE-RQ encode their fixed fields', () => {
  assert.deepEqual([...encodeAssociateRj({ result: 1, source: 1, reason: 3 })], [3, 0, 0, 0, 0, 4, 0, 1, 1, 3]);
  assert.deepEqual([...encodeAbort({ source: 2, reason: 6 })], [7, 0, 0, 0, 0, 4, 0, 0, 2, 6]);
  assert.deepEqual([...encodeReleaseRq()], [5, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
});

test('AE titles: space padded to 16, trimmed on read, control characters refused', () => {
  assert.equal(encodeAeTitle('AE1').toString('latin1'), 'AE1             ');
  assert.equal(decodeAeTitle(Buffer.from('  AE1           ')), 'AE1');
  assert.throws(
    () => decodeAeTitle(Buffer.from('AE\x01             ')),
    (e: unknown) => e instanceof DimseProtocolError && e.code === 'INVALID_PDU_PARAMETER',
  );
  assert.throws(() => decodeAeTitle(Buffer.from('AE\\1            ')), DimseProtocolError);
});

test('malformed A-ASSOCIATE-RQ bodies give typed errors', () => {
  const good = body(encodeAssociateRq(rq)).body;
  const cases: [string, Buffer, string][] = [
    ['shorter than the fixed fields', good.subarray(0, 50), 'PDU_BAD_LENGTH'],
    [
      'item length beyond the PDU',
      (() => {
        const b = Buffer.from(good);
        b.writeUInt16BE(0xffff, 68 + 2);
        return b;
      })(),
      'INVALID_PDU_ITEM',
    ],
    ['truncated item header', good.subarray(0, 68 + 2), 'INVALID_PDU_ITEM'],
    ['no user information', good.subarray(0, good.lastIndexOf(Buffer.from([0x50, 0x00]))), 'INVALID_PDU_ITEM'],
    [
      'unknown item type',
      (() => {
        const b = Buffer.from(good);
        b[68] = 0x99;
        return b;
      })(),
      'INVALID_PDU_PARAMETER',
    ],
  ];
  for (const [name, b, code] of cases) {
    assert.throws(
      () => decodeControlPdu(PduType.AssociateRq, b),
      (e: unknown) => e instanceof DimseProtocolError && e.code === code,
      name,
    );
  }
});
