// Malformed and hostile input to our DIMSE server (PS3.8 9.2-9.3), the parser corpus for the upper layer: every PDU
// type truncated, of length zero, above its limit and in the wrong state, unknown PDU types, and an HTTP request or a
// TLS ClientHello on a plain DIMSE port, and malformed PDV items. Every case ends in A-ABORT / A-ASSOCIATE-RJ / a closed
// connection caused by the bytes sent (the server's ARTIM and idle timers are set beyond any test run, and nothing here
// waits on a clock), with a log line carrying a stable reason, and the same server still serves echoscu.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import {
  Association,
  encodeAssociateRq,
  encodeAssociateAc,
  encodeAssociateRj,
  encodeAbort,
  encodeReleaseRq,
  encodeReleaseRp,
  encodePDataHeader,
  encodeCommand,
  CommandField,
  ImplementationClassUid,
  Status,
  DimseProtocolError,
} from '../../src/dimse/index.ts';
import { requireTool } from '../support/tools.ts';
import { tempDir } from '../support/tmp.ts';
import { CT, ExplicitLE, makeInstance, run, startServer, type LogLine } from './helpers.ts';

const Verification = '1.2.840.10008.1.1';

function rq(calling = 'TESTSCU', called = 'BEELDBRUG'): Buffer {
  return encodeAssociateRq({
    protocolVersion: 1,
    calledAeTitle: called,
    callingAeTitle: calling,
    applicationContext: '1.2.840.10008.3.1.1.1',
    contexts: [{ id: 1, abstractSyntax: Verification, transferSyntaxes: ['1.2.840.10008.1.2'] }],
    userInfo: { maxPduLength: 16384, implementationClassUid: ImplementationClassUid, roleSelections: [] },
  });
}

/** An A-ASSOCIATE-AC, as only the accepting side may send it (PS3.8 9.3.3). */
function ac(): Buffer {
  return encodeAssociateAc({
    protocolVersion: 1,
    calledAeTitle: 'BEELDBRUG',
    callingAeTitle: 'TESTSCU',
    applicationContext: '1.2.840.10008.3.1.1.1',
    contexts: [{ id: 1, result: 0, transferSyntax: '1.2.840.10008.1.2' }],
    userInfo: { maxPduLength: 16384, implementationClassUid: ImplementationClassUid, roleSelections: [] },
  });
}

const rj = encodeAssociateRj({ result: 1, source: 1, reason: 1 });
const abort = encodeAbort({ source: 0, reason: 0 });

function header(type: number, length: number): Buffer {
  const b = Buffer.alloc(6);
  b[0] = type;
  b.writeUInt32BE(length, 2);
  return b;
}

/** The PDU header of a `length`-byte PDU and only `sent` bytes of its body: a PDU cut short. */
function cut(type: number, length: number, sent: number): Buffer {
  return Buffer.concat([header(type, length), Buffer.alloc(sent)]);
}

/** The control PDU cap of our reader (PduReader maxControlPduLength default). */
const CONTROL_CAP = 256 * 1024;

/**
 * Sends `steps` (after a step marked 'await-ac', waits for the whole A-ASSOCIATE-AC and drops it) and waits for the
 * server to close the connection; returns what came back after the last A-ASSOCIATE-AC. There is no timer here: a
 * server that does not react to the bytes leaves this waiting until the test runner's timeout fails the test.
 */
async function rawSession(
  port: number,
  steps: readonly (Buffer | 'await-ac' | 'end')[],
): Promise<{ received: Buffer; closed: boolean }> {
  const s: Socket = connect(port, '127.0.0.1');
  let received = Buffer.alloc(0);
  let closed = false;
  let wake: (() => void) | undefined;
  const changed = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const done = new Promise<void>((resolve) =>
    s.on('close', () => {
      closed = true;
      changed();
      resolve();
    }),
  );
  s.on('data', (d: Buffer) => {
    received = Buffer.concat([received, d]);
    changed();
  });
  s.on('error', () => undefined);
  await new Promise<void>((r) => s.once('connect', () => r()));
  for (const step of steps) {
    if (step === 'await-ac') {
      const whole = (): boolean => received.length >= 6 && received.length >= 6 + received.readUInt32BE(2);
      while (!whole() && !closed) await new Promise<void>((r) => (wake = r));
      assert.equal(received[0], 0x02, `A-ASSOCIATE-AC expected, got ${received.subarray(0, 10).toString('hex')}`);
      received = received.subarray(6 + received.readUInt32BE(2));
    } else if (step === 'end') s.end();
    else s.write(step);
  }
  await done;
  return { received, closed };
}

/** The 4-byte item length field of a PDV item (PS3.8 9.3.5.1), on its own. */
function itemLength(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/** An A-ASSOCIATE-RQ proposing Verification (context 1, accepted) and an unknown SOP class (context 3, rejected). */
function rqWithRejectedContext(): Buffer {
  return encodeAssociateRq({
    protocolVersion: 1,
    calledAeTitle: 'BEELDBRUG',
    callingAeTitle: 'TESTSCU',
    applicationContext: '1.2.840.10008.3.1.1.1',
    contexts: [
      { id: 1, abstractSyntax: Verification, transferSyntaxes: ['1.2.840.10008.1.2'] },
      { id: 3, abstractSyntax: '1.2.826.0.1.3680043.9.9999.1', transferSyntaxes: ['1.2.840.10008.1.2'] },
    ],
    userInfo: { maxPduLength: 16384, implementationClassUid: ImplementationClassUid, roleSelections: [] },
  });
}

function pdata(contextId: number, isCommand: boolean, isLast: boolean, payload: Buffer): Buffer {
  return Buffer.concat([encodePDataHeader(contextId, isCommand, isLast, payload.length), payload]);
}

const echoRq = encodeCommand({
  commandField: CommandField.CEchoRq,
  messageId: 1,
  affectedSopClassUid: Verification,
  dataSetType: 0x0101,
});

interface Case {
  name: string;
  steps: (Buffer | 'await-ac' | 'end')[];
  reason: string;
  expect: 'abort' | 'close' | 'reject';
}

const cases: Case[] = [
  {
    name: 'an HTTP request',
    steps: [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    reason: 'UNKNOWN_PDU_TYPE',
    expect: 'abort',
  },
  {
    name: 'a TLS ClientHello',
    steps: [Buffer.from('16030100a5010000a10303' + '00'.repeat(32), 'hex')],
    reason: 'UNKNOWN_PDU_TYPE',
    expect: 'abort',
  },
  {
    name: 'an unknown PDU type',
    steps: [header(0x09, 4), Buffer.alloc(4)],
    reason: 'UNKNOWN_PDU_TYPE',
    expect: 'abort',
  },
  {
    name: 'an oversized A-ASSOCIATE-RQ (4 GiB declared)',
    steps: [header(0x01, 0xfffffff0)],
    reason: 'PDU_TOO_LARGE',
    expect: 'abort',
  },
  { name: 'a zero-length A-ASSOCIATE-RQ', steps: [header(0x01, 0)], reason: 'PDU_ZERO_LENGTH', expect: 'abort' },
  {
    name: 'an A-RELEASE-RQ with a wrong length',
    steps: [header(0x05, 10), Buffer.alloc(10)],
    reason: 'PDU_BAD_LENGTH',
    expect: 'abort',
  },
  {
    name: 'a truncated A-ASSOCIATE-RQ, then close',
    steps: [rq().subarray(0, 40), 'end'],
    reason: 'PDU_TRUNCATED',
    expect: 'close',
  },
  {
    name: 'P-DATA before the association',
    steps: [pdata(1, true, true, echoRq)],
    reason: 'UNEXPECTED_PDU',
    expect: 'abort',
  },
  {
    name: 'an A-ASSOCIATE-RQ whose item overruns the PDU',
    steps: [
      (() => {
        const b = Buffer.from(rq());
        b.writeUInt16BE(0x4000, 6 + 68 + 2);
        return b;
      })(),
    ],
    reason: 'INVALID_PDU_ITEM',
    expect: 'abort',
  },
  {
    name: 'an A-ASSOCIATE-RQ with control characters in the calling AE',
    steps: [
      (() => {
        const b = Buffer.from(rq());
        b[6 + 20] = 0x07;
        return b;
      })(),
    ],
    reason: 'INVALID_PDU_PARAMETER',
    expect: 'abort',
  },
  {
    name: 'an A-ASSOCIATE-RQ with an even presentation context id',
    steps: [
      (() => {
        const b = Buffer.from(rq());
        b[6 + 68 + 4 + '1.2.840.10008.3.1.1.1'.length + 4] = 2;
        return b;
      })(),
    ],
    reason: 'INVALID_PDU_PARAMETER',
    expect: 'abort',
  },
  { name: 'a second A-ASSOCIATE-RQ', steps: [rq(), 'await-ac', rq()], reason: 'UNEXPECTED_PDU', expect: 'abort' },
  {
    name: 'a P-DATA-TF above our max PDU',
    steps: [rq(), 'await-ac', header(0x04, 1_000_000)],
    reason: 'PDU_TOO_LARGE',
    expect: 'abort',
  },
  {
    name: 'a zero-length P-DATA-TF',
    steps: [rq(), 'await-ac', header(0x04, 0)],
    reason: 'PDU_ZERO_LENGTH',
    expect: 'abort',
  },
  {
    name: 'a PDV longer than its PDU',
    steps: [rq(), 'await-ac', Buffer.concat([header(0x04, 10), Buffer.from([0, 0, 0, 50, 1, 3]), Buffer.alloc(4)])],
    reason: 'PDU_BAD_LENGTH',
    expect: 'abort',
  },
  // A malformed PDV item ends the association from the bytes already in; before, the reader waited for the rest of
  // a 6-byte item header that never came, and only the 300 s idle timeout ended it.
  {
    name: 'a PDV item of length 1 in a P-DATA-TF of 5 bytes',
    steps: [rq(), 'await-ac', header(0x04, 5), itemLength(1), Buffer.from([1])],
    reason: 'PDU_BAD_LENGTH',
    expect: 'abort',
  },
  {
    name: 'a PDV item of length 1, nothing after its length',
    steps: [rq(), 'await-ac', header(0x04, 100), itemLength(1)],
    reason: 'PDU_BAD_LENGTH',
    expect: 'abort',
  },
  {
    name: 'a PDV item of length 0',
    steps: [rq(), 'await-ac', header(0x04, 100), itemLength(0)],
    reason: 'PDU_BAD_LENGTH',
    expect: 'abort',
  },
  {
    name: 'a PDV item past its PDU end, nothing after its length',
    steps: [rq(), 'await-ac', header(0x04, 10), itemLength(50)],
    reason: 'PDU_BAD_LENGTH',
    expect: 'abort',
  },
  {
    name: 'a P-DATA-TF too short for any PDV item',
    steps: [rq(), 'await-ac', header(0x04, 3), Buffer.alloc(3)],
    reason: 'PDU_BAD_LENGTH',
    expect: 'abort',
  },
  {
    name: 'bytes after the last PDV too few for another item',
    steps: [rq(), 'await-ac', header(0x04, 10), itemLength(2), Buffer.from([1, 1])],
    reason: 'PDU_BAD_LENGTH',
    expect: 'abort',
  },
  {
    name: 'a PDV on a presentation context the server rejected',
    steps: [rqWithRejectedContext(), 'await-ac', pdata(3, true, true, echoRq)],
    reason: 'UNKNOWN_PRESENTATION_CONTEXT',
    expect: 'abort',
  },
  {
    name: 'a PDV on an unknown presentation context',
    steps: [rq(), 'await-ac', pdata(7, true, true, echoRq)],
    reason: 'UNKNOWN_PRESENTATION_CONTEXT',
    expect: 'abort',
  },
  {
    name: 'a data set fragment where a command belongs',
    steps: [rq(), 'await-ac', pdata(1, false, true, Buffer.alloc(8))],
    reason: 'UNEXPECTED_PDV',
    expect: 'abort',
  },
  {
    name: 'a command set above the limit',
    steps: [rq(), 'await-ac', pdata(1, true, false, Buffer.alloc(3000)), pdata(1, true, true, Buffer.alloc(3000))],
    reason: 'COMMAND_TOO_LARGE',
    expect: 'abort',
  },
  {
    name: 'an unparseable command set',
    steps: [rq(), 'await-ac', pdata(1, true, true, Buffer.from('0800180001000000aabbccdd', 'hex'))],
    reason: 'COMMAND_UNPARSEABLE',
    expect: 'abort',
  },
  { name: 'an unknown calling AE', steps: [rq('STRANGER')], reason: 'CALLING_AE_NOT_RECOGNIZED', expect: 'reject' },

  // Every PDU type (PS3.8 9.3.1): cut short, of length zero, above its limit, and where the state table forbids it.
  {
    name: 'a PDU header cut short, then close',
    steps: [Buffer.from([0x01, 0x00, 0x00]), 'end'],
    reason: 'PDU_TRUNCATED',
    expect: 'close',
  },
  {
    name: 'an A-ASSOCIATE-RQ just above the control PDU cap',
    steps: [header(0x01, CONTROL_CAP + 1)],
    reason: 'PDU_TOO_LARGE',
    expect: 'abort',
  },
  {
    name: 'an A-ASSOCIATE-RQ shorter than its fixed fields',
    steps: [cut(0x01, 20, 20)],
    reason: 'PDU_BAD_LENGTH',
    expect: 'abort',
  },
  {
    name: 'a truncated A-ASSOCIATE-AC, then close',
    steps: [cut(0x02, 200, 50), 'end'],
    reason: 'PDU_TRUNCATED',
    expect: 'close',
  },
  { name: 'a zero-length A-ASSOCIATE-AC', steps: [header(0x02, 0)], reason: 'PDU_ZERO_LENGTH', expect: 'abort' },
  {
    name: 'an oversized A-ASSOCIATE-AC (2 GiB declared)',
    steps: [header(0x02, 0x7fffffff)],
    reason: 'PDU_TOO_LARGE',
    expect: 'abort',
  },
  { name: 'an A-ASSOCIATE-AC from the calling side', steps: [ac()], reason: 'UNEXPECTED_PDU', expect: 'abort' },
  {
    name: 'an A-ASSOCIATE-AC after the association',
    steps: [rq(), 'await-ac', ac()],
    reason: 'UNEXPECTED_PDU',
    expect: 'abort',
  },
  {
    name: 'a truncated A-ASSOCIATE-RJ, then close',
    steps: [cut(0x03, 4, 2), 'end'],
    reason: 'PDU_TRUNCATED',
    expect: 'close',
  },
  { name: 'a zero-length A-ASSOCIATE-RJ', steps: [header(0x03, 0)], reason: 'PDU_ZERO_LENGTH', expect: 'abort' },
  {
    name: 'an oversized A-ASSOCIATE-RJ (1 MiB declared)',
    steps: [header(0x03, 1 << 20)],
    reason: 'PDU_BAD_LENGTH',
    expect: 'abort',
  },
  { name: 'an A-ASSOCIATE-RJ from the calling side', steps: [rj], reason: 'UNEXPECTED_PDU', expect: 'abort' },
  {
    name: 'an A-ASSOCIATE-RJ after the association',
    steps: [rq(), 'await-ac', rj],
    reason: 'UNEXPECTED_PDU',
    expect: 'abort',
  },
  {
    name: 'a truncated P-DATA-TF, then close',
    steps: [rq(), 'await-ac', pdata(1, true, true, echoRq).subarray(0, 30), 'end'],
    reason: 'PDU_TRUNCATED',
    expect: 'close',
  },
  {
    name: 'an oversized P-DATA-TF (4 GiB declared)',
    steps: [rq(), 'await-ac', header(0x04, 0xffffffff)],
    reason: 'PDU_TOO_LARGE',
    expect: 'abort',
  },
  {
    name: 'a truncated A-RELEASE-RQ, then close',
    steps: [cut(0x05, 4, 1), 'end'],
    reason: 'PDU_TRUNCATED',
    expect: 'close',
  },
  { name: 'a zero-length A-RELEASE-RQ', steps: [header(0x05, 0)], reason: 'PDU_ZERO_LENGTH', expect: 'abort' },
  {
    name: 'an oversized A-RELEASE-RQ (4 GiB declared)',
    steps: [header(0x05, 0xffffffff)],
    reason: 'PDU_BAD_LENGTH',
    expect: 'abort',
  },
  {
    name: 'an A-RELEASE-RQ before the association',
    steps: [encodeReleaseRq()],
    reason: 'UNEXPECTED_PDU',
    expect: 'abort',
  },
  {
    name: 'a truncated A-RELEASE-RP, then close',
    steps: [cut(0x06, 4, 3), 'end'],
    reason: 'PDU_TRUNCATED',
    expect: 'close',
  },
  { name: 'a zero-length A-RELEASE-RP', steps: [header(0x06, 0)], reason: 'PDU_ZERO_LENGTH', expect: 'abort' },
  {
    name: 'an oversized A-RELEASE-RP (64 KiB declared)',
    steps: [header(0x06, 0x10000)],
    reason: 'PDU_BAD_LENGTH',
    expect: 'abort',
  },
  {
    name: 'an A-RELEASE-RP before the association',
    steps: [encodeReleaseRp()],
    reason: 'UNEXPECTED_PDU',
    expect: 'abort',
  },
  {
    name: 'an A-RELEASE-RP nobody asked for',
    steps: [rq(), 'await-ac', encodeReleaseRp()],
    reason: 'UNEXPECTED_PDU',
    expect: 'abort',
  },
  {
    name: 'a truncated A-ABORT, then close',
    steps: [cut(0x07, 4, 2), 'end'],
    reason: 'PDU_TRUNCATED',
    expect: 'close',
  },
  { name: 'a zero-length A-ABORT', steps: [header(0x07, 0)], reason: 'PDU_ZERO_LENGTH', expect: 'abort' },
  {
    name: 'an oversized A-ABORT (64 KiB declared)',
    steps: [header(0x07, 0x10000)],
    reason: 'PDU_BAD_LENGTH',
    expect: 'abort',
  },
  // A-ABORT is valid in every state (PS3.8 9.2, actions AA-2/AA-3): the connection just closes.
  { name: 'an A-ABORT before the association', steps: [abort], reason: 'PEER_ABORT', expect: 'close' },
  {
    name: 'an A-ABORT during the association',
    steps: [rq(), 'await-ac', abort],
    reason: 'PEER_ABORT',
    expect: 'close',
  },
  { name: 'a zero-length PDU of type 0x00', steps: [header(0x00, 0)], reason: 'UNKNOWN_PDU_TYPE', expect: 'abort' },
  {
    name: 'an unknown PDU type of 4 GiB declared',
    steps: [header(0x08, 0xffffffff)],
    reason: 'UNKNOWN_PDU_TYPE',
    expect: 'abort',
  },
  {
    name: 'an unknown PDU type cut short, then close',
    steps: [Buffer.from([0xff, 0x00, 0x00, 0x00]), 'end'],
    reason: 'PDU_TRUNCATED',
    expect: 'close',
  },
  {
    name: 'an unknown PDU type after the association',
    steps: [rq(), 'await-ac', cut(0x0a, 4, 4)],
    reason: 'UNKNOWN_PDU_TYPE',
    expect: 'abort',
  },
];

/** ARTIM and idle timers longer than any test run. */
const NO_TIMERS = { artimMs: 3_600_000, idleMs: 3_600_000 };

test('malformed PDUs, wrong states and hostile bytes end the connection cleanly; the server keeps serving', async (t) => {
  const echoscu = requireTool(t, 'echoscu');
  if (echoscu === undefined) return;
  // Timers far beyond the test runner's timeout: a connection that closes was closed by the bytes sent, not by a timer.
  const { port, lines } = await startServer(t, {
    handlers: {},
    limits: { maxCommandBytes: 4096 },
    maxPduLength: 16384,
    timeouts: NO_TIMERS,
  });
  for (const c of cases) {
    await t.test(c.name, async () => {
      const before = lines.length;
      const r = await rawSession(port, c.steps);
      assert.ok(r.closed, 'the server closed the connection');
      if (c.expect === 'abort')
        assert.equal(r.received[0], 0x07, `A-ABORT expected, got ${r.received.subarray(0, 10).toString('hex')}`);
      if (c.expect === 'close')
        assert.equal(r.received.toString('hex'), '', 'a peer that closed or aborted gets nothing more');
      if (c.expect === 'reject') {
        assert.equal(r.received[0], 0x03);
        assert.deepEqual(
          [...r.received.subarray(7, 10)],
          [1, 1, 3],
          'rejected-permanent, service user, calling AE not recognized',
        );
      }
      const newLines: LogLine[] = lines.slice(before);
      assert.ok(
        newLines.some((l) => l.reason === c.reason),
        `log reason ${c.reason}; got ${newLines.map((l) => l.reason ?? l.msg).join(', ')}`,
      );
      const ok = await run(echoscu, ['-aet', 'ECHOSCU', '-aec', 'BEELDBRUG', '127.0.0.1', String(port)]);
      assert.equal(ok.code, 0, `echoscu after ${c.name}: ${ok.stderr}`);
    });
  }
});

test('a malformed PDV item aborts only its own association; another one open beside it keeps working', async (t) => {
  const { port, lines } = await startServer(t, { handlers: {}, maxPduLength: 16384, timeouts: NO_TIMERS });
  const other = await Association.connect({
    host: '127.0.0.1',
    port,
    callingAeTitle: 'TESTSCU',
    calledAeTitle: 'BEELDBRUG',
    presentationContexts: [{ abstractSyntax: Verification, transferSyntaxes: [ExplicitLE] }],
  });
  const r = await rawSession(port, [rq(), 'await-ac', header(0x04, 100), itemLength(1)]);
  assert.ok(r.closed);
  assert.equal(r.received[0], 0x07, 'A-ABORT');
  assert.deepEqual(
    [...r.received.subarray(8, 10)],
    [2, 6],
    'source service-provider, reason invalid-PDU-parameter value (PS3.8 9.3.8)',
  );
  assert.equal(lines.filter((l) => l.reason === 'PDU_BAD_LENGTH').length, 1);
  assert.equal(await other.echo(), Status.Success, 'the association beside it still answers');
  await other.release();
});

test('a real HTTP client and a real TLS handshake on a plain DIMSE port fail at once; the server keeps serving', async (t) => {
  const echoscu = requireTool(t, 'echoscu');
  if (echoscu === undefined) return;
  // With the server's timers out of reach, each client's answer can only come from the bytes it sent.
  const { port, lines } = await startServer(t, { handlers: {}, timeouts: NO_TIMERS });
  const aborted = (): number => lines.filter((l) => l.reason === 'UNKNOWN_PDU_TYPE').length;

  const http = await new Promise<string>((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host: 'x' } }, (res) =>
      resolve(`answered ${res.statusCode}`),
    );
    req.on('error', (err) => resolve(err.message));
    req.end();
  });
  assert.doesNotMatch(http, /^answered/, 'no HTTP answer comes from a DIMSE port');
  assert.equal(aborted(), 1, 'the HTTP request was aborted as an unknown PDU type');

  const tls = await new Promise<string>((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () =>
      resolve('handshake completed'),
    );
    s.on('error', (err) => resolve(err.message));
    s.on('close', () => resolve('closed'));
  });
  assert.notEqual(tls, 'handshake completed');
  assert.equal(aborted(), 2, 'the ClientHello was aborted as an unknown PDU type');

  const ok = await run(echoscu, ['-aet', 'ECHOSCU', '-aec', 'BEELDBRUG', '127.0.0.1', String(port)]);
  assert.equal(ok.code, 0, ok.stderr);
});

test('a silent connection is closed by the ARTIM timer; max associations rejects transiently', async (t) => {
  const echoscu = requireTool(t, 'echoscu');
  if (echoscu === undefined) return;
  const { port, lines } = await startServer(t, { handlers: {}, timeouts: { artimMs: 200 }, maxAssociations: 1 });
  const r = await rawSession(port, []);
  assert.ok(r.closed);
  assert.ok(lines.some((l) => l.reason === 'ARTIM_TIMEOUT'));
  // A PDU that is started and never finished on a connection left open is bounded by the same timer, not by the peer.
  for (const stalled of [rq().subarray(0, 40), cut(0x01, CONTROL_CAP, 1000)]) {
    const before = lines.filter((l) => l.reason === 'ARTIM_TIMEOUT').length;
    const held = await rawSession(port, [stalled]);
    assert.ok(held.closed, 'a stalled A-ASSOCIATE-RQ is closed');
    assert.equal(lines.filter((l) => l.reason === 'ARTIM_TIMEOUT').length, before + 1);
  }

  const first = await Association.connect({
    host: '127.0.0.1',
    port,
    callingAeTitle: 'TESTSCU',
    calledAeTitle: 'BEELDBRUG',
    presentationContexts: [{ abstractSyntax: Verification, transferSyntaxes: [ExplicitLE] }],
  });
  await assert.rejects(
    Association.connect({
      host: '127.0.0.1',
      port,
      callingAeTitle: 'TESTSCU',
      calledAeTitle: 'BEELDBRUG',
      presentationContexts: [{ abstractSyntax: Verification, transferSyntaxes: [ExplicitLE] }],
    }),
    (e: unknown) =>
      e instanceof DimseProtocolError &&
      e.code === 'ASSOCIATION_REJECTED' &&
      e.reject?.result === 2 &&
      e.reject.source === 3,
  );
  assert.equal(await first.echo(), Status.Success);
  await first.release();
  const ok = await run(echoscu, ['-aet', 'ECHOSCU', '-aec', 'BEELDBRUG', '127.0.0.1', String(port)]);
  assert.equal(ok.code, 0, ok.stderr);
});

test('an unsupported SOP class is rejected per presentation context; storescu fails clearly', async (t) => {
  const storescu = requireTool(t, 'storescu');
  if (storescu === undefined) return;
  const dir = tempDir(t);
  const file = await makeInstance(dir, 'ct', { sopInstanceUid: '1.2.3.5.1' });
  const { port } = await startServer(t, {
    handlers: { store: async () => undefined },
    acceptsAbstractSyntax: (uid) => uid === Verification,
  });
  const r = await run(storescu, ['-R', '-aet', 'STORESCU', '-aec', 'BEELDBRUG', '127.0.0.1', String(port), file]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr + r.stdout, /No presentation context|No Acceptable Presentation Contexts/i);
  const a = await Association.connect({
    host: '127.0.0.1',
    port,
    callingAeTitle: 'TESTSCU',
    calledAeTitle: 'BEELDBRUG',
    presentationContexts: [
      { abstractSyntax: Verification, transferSyntaxes: [ExplicitLE] },
      { abstractSyntax: CT, transferSyntaxes: [ExplicitLE] },
    ],
  });
  assert.equal(a.acceptedTransferSyntax(CT), undefined);
  await assert.rejects(
    a.store({ sopClassUid: CT, sopInstanceUid: '1.2.3', transferSyntaxUid: ExplicitLE, data: Buffer.alloc(0) }),
    (e: unknown) => e instanceof DimseProtocolError && e.code === 'NO_PRESENTATION_CONTEXT',
  );
  assert.equal(await a.echo(), Status.Success);
  await a.release();
});
