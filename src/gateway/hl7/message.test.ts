import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hl7Error, Hl7Message } from './message.ts';
import { orderOf } from './order.ts';

const orm = [
  'MSH|^~\\&|RIS|NOORD|BEELDBRUG|NOORD|20261206101500||ORM^O01^ORM_O01|MSG0001|P|2.5|||||NLD|8859/1',
  'PID|1||NOORD-4711^^^NOORD^PI~999999990^^^NLMINBIZA^NNNLD||Post^Wouter||19690516|M',
  'ORC|NW|ORD-123|||SC',
  'OBR|1|ORD-123||CTTHX^CT thorax met contrast \\T\\ abdomen^LOCAL|||20261207090000|||||||||||ACC-9||||||CT',
].join('\r');

test('an ORM^O01 gives the new order: BSN from PID-3 by its authority, order number, procedure (unescaped) and modality', () => {
  const m = Hl7Message.parse(orm);
  assert.deepEqual(m.type, { code: 'ORM', trigger: 'O01' });
  assert.equal(m.controlId, 'MSG0001');
  const found = orderOf(m);
  assert.ok(found.ok);
  assert.deepEqual(found.order, {
    message: 'ORM^O01',
    isNew: true,
    bsn: '999999990',
    orderNumber: 'ORD-123',
    procedure: { code: 'CTTHX', text: 'CT thorax met contrast & abdomen' },
    modality: 'CT',
    sender: { application: 'RIS', facility: 'NOORD' },
  });
});

test('an OMI^O23 takes the modality from IPC-5; an SIU^S12 the appointment id and the service; a cancel is not new', () => {
  const omi = Hl7Message.parse(
    [
      'MSH|^~\\&|RIS|NOORD|BB|NOORD|20261206||OMI^O23^OMI_O23|2|P|2.5',
      'PID|1||999999990^^^&2.16.840.1.113883.2.4.6.3&ISO',
      'ORC|NW|ORD-7',
      'OBR|1|ORD-7||MRKNIE^MRI knie',
      'IPC|ACC-7|RP-7|1.2.3|SPS-7|MR',
    ].join('\r'),
  );
  const o = orderOf(omi);
  assert.ok(o.ok);
  assert.equal(o.order.modality, 'MR');
  assert.equal(o.order.bsn, '999999990', 'the BSN by its OID in the universal id of the assigning authority');
  const siu = Hl7Message.parse(
    [
      'MSH|^~\\&|AGENDA|NOORD|BB|NOORD|20261206||SIU^S12|3|P|2.5',
      'SCH|APPT-42||||||||||^^^20261208100000',
      'PID|1||999999990^^^^NNNLD',
      'RGS|1',
      'AIS|1||XTHORAX^X-thorax',
    ].join('\n'),
  );
  const s = orderOf(siu);
  assert.ok(s.ok);
  assert.deepEqual([s.order.orderNumber, s.order.procedure.text, s.order.bsn], ['APPT-42', 'X-thorax', '999999990']);
  const cancel = orderOf(Hl7Message.parse(orm.replace('ORC|NW|', 'ORC|CA|')));
  assert.ok(cancel.ok && !cancel.order.isNew);
});

test('a PID-3 number that is not a BSN (another authority, or failing the elfproef) is not taken for one', () => {
  const local = orderOf(Hl7Message.parse(orm.replace('~999999990^^^NLMINBIZA^NNNLD', '')));
  assert.ok(local.ok && local.order.bsn === undefined);
  const wrong = orderOf(Hl7Message.parse(orm.replace('999999990^', '999999991^')));
  assert.ok(wrong.ok && wrong.order.bsn === undefined);
});

test('the acknowledgement swaps sender and receiver, names the message it answers and escapes its text', () => {
  const m = Hl7Message.parse(orm);
  const ack = m.ack('AE', 'no ORC | and OBR', { controlId: 'ACK1', now: new Date('2026-12-06T10:15:30Z') });
  const [msh, msa] = ack.split('\r');
  assert.equal(msh, 'MSH|^~\\&|BEELDBRUG|NOORD|RIS|NOORD|20261206101530||ACK^O01^ACK|ACK1|P|2.5');
  assert.equal(msa, 'MSA|AE|MSG0001|no ORC \\F\\ and OBR');
});

test('what is not an HL7 message is refused with the reason; another message type is not an order', () => {
  assert.throws(() => Hl7Message.parse('GET / HTTP/1.1'), Hl7Error);
  assert.throws(() => Hl7Message.parse('MSH|^^^^|X'), /five distinct delimiters/);
  assert.throws(() => Hl7Message.parse(`${orm}\rthis is not a segment`), /not a segment/);
  const adt = orderOf(Hl7Message.parse(orm.replace('ORM^O01^ORM_O01', 'ADT^A08')));
  assert.deepEqual(adt, { ok: false, reason: 'ADT^A08 is not an order or appointment (ORM^O01, OMI^O23, SIU^S12)' });
  const noObr = orderOf(Hl7Message.parse(orm.split('\r').slice(0, 3).join('\r')));
  assert.deepEqual(noObr, { ok: false, reason: 'no ORC and OBR segments' });
});
