import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DimseProtocolError } from './errors.ts';
import { encodeAbort, encodePDataHeader } from './pdu-codec.ts';
import { PduReader, type PduSink } from './pdu-reader.ts';
import type { ControlPdu } from './pdu-types.ts';

interface Recorded {
  controls: ControlPdu[];
  pdvs: { ctx: number; cmd: boolean; last: boolean; data: Buffer[] }[];
}

function recorder(): { sink: PduSink; rec: Recorded } {
  const rec: Recorded = { controls: [], pdvs: [] };
  return {
    rec,
    sink: {
      control: (p) => rec.controls.push(p),
      pdvStart: (ctx, cmd, last) => rec.pdvs.push({ ctx, cmd, last, data: [] }),
      pdvData: (c) => rec.pdvs.at(-1)?.data.push(c),
      pdvEnd: () => undefined,
    },
  };
}

function pdata(pdvs: { ctx: number; cmd: boolean; last: boolean; data: Buffer }[]): Buffer {
  const items = pdvs
    .map((p) => encodePDataHeader(p.ctx, p.cmd, p.last, p.data.length).subarray(6))
    .map((h, i) => Buffer.concat([h, pdvs[i]?.data ?? Buffer.alloc(0)]));
  const body = Buffer.concat(items);
  const head = Buffer.from([4, 0, 0, 0, 0, 0]);
  head.writeUInt32BE(body.length, 2);
  return Buffer.concat([head, body]);
}

test('P-DATA-TF split at every byte boundary yields the same PDVs (PS3.8 9.3.5)', () => {
  const a = Buffer.from('command bytes!');
  const b = Buffer.alloc(3000, 7);
  const stream = Buffer.concat([
    pdata([
      { ctx: 1, cmd: true, last: true, data: a },
      { ctx: 1, cmd: false, last: false, data: b },
    ]),
    encodeAbort({ source: 0, reason: 0 }),
  ]);
  for (let cut = 1; cut < stream.length; cut += 7) {
    const { sink, rec } = recorder();
    const r = new PduReader(sink, { maxPduLength: 16384 });
    r.acceptData = true;
    r.push(stream.subarray(0, cut));
    r.push(stream.subarray(cut));
    assert.equal(rec.pdvs.length, 2);
    assert.deepEqual(Buffer.concat(rec.pdvs[0]?.data ?? []), a);
    assert.equal(rec.pdvs[0]?.cmd, true);
    assert.equal(rec.pdvs[1]?.last, false);
    assert.deepEqual(Buffer.concat(rec.pdvs[1]?.data ?? []), b);
    assert.equal(rec.controls.length, 1);
    assert.equal(r.inPdu, false);
  }
});

test('PDV values are views of the socket chunk, not copies', () => {
  const { sink, rec } = recorder();
  const r = new PduReader(sink, { maxPduLength: 16384 });
  r.acceptData = true;
  const chunk = pdata([{ ctx: 3, cmd: false, last: true, data: Buffer.alloc(5000, 1) }]);
  r.push(chunk);
  const view = rec.pdvs[0]?.data[0];
  assert.ok(view !== undefined);
  assert.equal(view.buffer, chunk.buffer);
  assert.equal(view.byteOffset, chunk.byteOffset + 12);
});

test('declared lengths are checked before any allocation; bad input is a typed error', () => {
  const head = (type: number, len: number): Buffer => {
    const b = Buffer.from([type, 0, 0, 0, 0, 0]);
    b.writeUInt32BE(len, 2);
    return b;
  };
  const cases: [string, Buffer, boolean, string][] = [
    ['P-DATA above the max', head(4, 20000), true, 'PDU_TOO_LARGE'],
    ['P-DATA before association', head(4, 10), false, 'UNEXPECTED_PDU'],
    ['P-DATA of length 0', head(4, 0), true, 'PDU_ZERO_LENGTH'],
    ['huge A-ASSOCIATE-RQ', head(1, 0xffffffff), false, 'PDU_TOO_LARGE'],
    ['unknown type', head(0x47, 10), false, 'UNKNOWN_PDU_TYPE'],
    ['A-ABORT of length 6', head(7, 6), false, 'PDU_BAD_LENGTH'],
    ['PDV item of length 1', Buffer.concat([head(4, 6), Buffer.from([0, 0, 0, 1, 1, 3])]), true, 'PDU_BAD_LENGTH'],
  ];
  for (const [name, bytes, data, code] of cases) {
    const r = new PduReader(recorder().sink, { maxPduLength: 16384 });
    r.acceptData = data;
    assert.throws(
      () => r.push(bytes),
      (e: unknown) => e instanceof DimseProtocolError && e.code === code,
      name,
    );
  }
});

test('a malformed PDV item is refused from the bytes already in, never by waiting for more (PS3.8 9.3.5.1)', () => {
  const head = (len: number): Buffer => {
    const b = Buffer.from([4, 0, 0, 0, 0, 0]);
    b.writeUInt32BE(len, 2);
    return b;
  };
  const item = (len: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(len, 0);
    return b;
  };
  // Each stream ends exactly where the fault can first be seen: the peer sends nothing after it.
  const cases: [string, Buffer][] = [
    ['item length 1 in a PDU of 5 bytes', Buffer.concat([head(5), item(1), Buffer.from([1])])],
    ['item length 1, only its length field sent', Buffer.concat([head(100), item(1)])],
    ['item length 0', Buffer.concat([head(100), item(0)])],
    ['item length past the PDU end, only its length field sent', Buffer.concat([head(10), item(50)])],
    ['item length 4 GiB', Buffer.concat([head(100), item(0xffffffff)])],
    ['a P-DATA-TF of 3 bytes', Buffer.concat([head(3), Buffer.alloc(3)])],
    ['bytes after the last PDV too few for another item', Buffer.concat([head(10), item(2), Buffer.from([1, 3])])],
  ];
  for (const [name, bytes] of cases) {
    const r = new PduReader(recorder().sink, { maxPduLength: 16384 });
    r.acceptData = true;
    assert.throws(
      () => r.push(bytes),
      (e: unknown) => e instanceof DimseProtocolError && e.code === 'PDU_BAD_LENGTH',
      name,
    );
  }
  // The same faults arriving one byte per chunk are refused too, by the time the last byte is in.
  for (const [name, bytes] of cases) {
    const r = new PduReader(recorder().sink, { maxPduLength: 16384 });
    r.acceptData = true;
    const pushAll = (): void => {
      for (let i = 0; i < bytes.length; i++) r.push(bytes.subarray(i, i + 1));
    };
    assert.throws(
      pushAll,
      (e: unknown) => e instanceof DimseProtocolError && e.code === 'PDU_BAD_LENGTH',
      `${name}, byte by byte`,
    );
  }
});

test('every PDU type: zero and oversize lengths are refused from the 6-byte header; nothing larger than the control cap is allocated', () => {
  const head = (type: number, len: number): Buffer => {
    const b = Buffer.from([type, 0, 0, 0, 0, 0]);
    b.writeUInt32BE(len >>> 0, 2);
    return b;
  };
  const cap = 256 * 1024;
  // [type, zero-length code, code for the largest length a header can declare]
  const types: [number, string, string][] = [
    [0x01, 'PDU_ZERO_LENGTH', 'PDU_TOO_LARGE'],
    [0x02, 'PDU_ZERO_LENGTH', 'PDU_TOO_LARGE'],
    [0x03, 'PDU_ZERO_LENGTH', 'PDU_BAD_LENGTH'],
    [0x04, 'PDU_ZERO_LENGTH', 'PDU_TOO_LARGE'],
    [0x05, 'PDU_ZERO_LENGTH', 'PDU_BAD_LENGTH'],
    [0x06, 'PDU_ZERO_LENGTH', 'PDU_BAD_LENGTH'],
    [0x07, 'PDU_ZERO_LENGTH', 'PDU_BAD_LENGTH'],
    [0x00, 'UNKNOWN_PDU_TYPE', 'UNKNOWN_PDU_TYPE'],
    [0x08, 'UNKNOWN_PDU_TYPE', 'UNKNOWN_PDU_TYPE'],
    [0xff, 'UNKNOWN_PDU_TYPE', 'UNKNOWN_PDU_TYPE'],
  ];
  const atCap = Buffer.concat([head(0x01, cap), Buffer.alloc(cap - 1)]);
  const allocUnsafe = Buffer.allocUnsafe;
  let largest = 0;
  Buffer.allocUnsafe = (size: number): ReturnType<typeof allocUnsafe> => {
    largest = Math.max(largest, size);
    return allocUnsafe(size);
  };
  try {
    for (const [type, zeroCode, hugeCode] of types) {
      for (const [len, code] of [
        [0, zeroCode],
        [0xffffffff, hugeCode],
        [cap + 1, hugeCode],
      ] as const) {
        const r = new PduReader(recorder().sink, { maxPduLength: 16384 });
        r.acceptData = true;
        assert.throws(
          () => r.push(head(type, len)),
          (e: unknown) => e instanceof DimseProtocolError && e.code === code,
          `type 0x${type.toString(16)}, length ${len}`,
        );
      }
    }
    // Up to the cap, a control PDU's body is allocated once its header is read; one byte less than declared leaves the
    // reader inside a PDU, which the upper layer reports as PDU_TRUNCATED when the connection closes.
    const r = new PduReader(recorder().sink, { maxPduLength: 16384 });
    r.push(atCap);
    assert.ok(r.inPdu);
  } finally {
    Buffer.allocUnsafe = allocUnsafe;
  }
  assert.equal(largest, cap, 'the largest allocation is the control PDU cap');
});
