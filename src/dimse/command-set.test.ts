import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Command, CommandField, decodeCommand, encodeCommand } from './command-set.ts';
import { DimseProtocolError } from './errors.ts';

test('command sets round-trip in implicit VR LE with a correct CommandGroupLength (PS3.7 E.1)', () => {
  const c: Command = {
    commandField: CommandField.CStoreRq,
    messageId: 7,
    affectedSopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    affectedSopInstanceUid: '1.2.3.45',
    priority: 0,
    dataSetType: 0,
    moveOriginatorAeTitle: 'PACS',
    moveOriginatorMessageId: 3,
  };
  const b = encodeCommand(c);
  assert.equal(b.readUInt32LE(0), 0x00000000, 'first element is (0000,0000)');
  assert.equal(b.readUInt32LE(4), 4);
  assert.equal(b.readUInt32LE(8), b.length - 12, 'group length counts the bytes after it');
  assert.equal(b.length % 2, 0);
  assert.deepEqual(decodeCommand(b), c);
});

test('odd-length UIDs are NUL padded and AE titles space padded', () => {
  const b = encodeCommand({
    commandField: CommandField.CMoveRq,
    messageId: 1,
    affectedSopClassUid: '1.2.3',
    moveDestination: 'ABC',
    dataSetType: 0,
  });
  assert.ok(b.includes(Buffer.from('1.2.3\0')));
  assert.ok(b.includes(Buffer.from('ABC ')));
  const back = decodeCommand(b);
  assert.equal(back.affectedSopClassUid, '1.2.3');
  assert.equal(back.moveDestination, 'ABC');
});

test('unparseable command sets give COMMAND_UNPARSEABLE', () => {
  const good = encodeCommand({ commandField: CommandField.CEchoRq, messageId: 1, dataSetType: 0x0101 });
  const cases: [string, Buffer][] = [
    ['truncated header', good.subarray(0, good.length - 3)],
    ['other group', Buffer.from('0800180002000000aabb', 'hex')],
    [
      'length beyond',
      (() => {
        const b = Buffer.from(good);
        b.writeUInt32LE(1000, 4);
        return b;
      })(),
    ],
    ['no CommandField', encodeCommand({ commandField: 1, dataSetType: 0 }).subarray(0, 12)],
    ['US of wrong length', Buffer.from('0000000103000000010000', 'hex')],
  ];
  for (const [name, b] of cases)
    assert.throws(
      () => decodeCommand(b),
      (e: unknown) => e instanceof DimseProtocolError && e.code === 'COMMAND_UNPARSEABLE',
      name,
    );
});
