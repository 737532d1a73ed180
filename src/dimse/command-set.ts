/**
 * DIMSE command set codec (PS3.7 6.3, 9.3, E.1): group 0000, always implicit VR little endian, led by
 * CommandGroupLength (0000,0000). Only the command elements of the composite services are known; others are skipped.
 */
import { DimseProtocolError } from './errors.ts';

export const CommandField = {
  CStoreRq: 0x0001,
  CStoreRsp: 0x8001,
  CGetRq: 0x0010,
  CGetRsp: 0x8010,
  CFindRq: 0x0020,
  CFindRsp: 0x8020,
  CMoveRq: 0x0021,
  CMoveRsp: 0x8021,
  CEchoRq: 0x0030,
  CEchoRsp: 0x8030,
  CCancelRq: 0x0fff,
} as const;

/** CommandDataSetType value meaning "no data set follows" (PS3.7 E.1); any other value means one follows. */
export const NoDataSet = 0x0101;
export const DataSetPresent = 0x0000;

export const Priority = { Medium: 0, High: 1, Low: 2 } as const;

export interface Command {
  commandField: number;
  dataSetType: number;
  messageId?: number;
  messageIdBeingRespondedTo?: number;
  affectedSopClassUid?: string;
  requestedSopClassUid?: string;
  affectedSopInstanceUid?: string;
  requestedSopInstanceUid?: string;
  priority?: number;
  status?: number;
  errorComment?: string;
  moveDestination?: string;
  moveOriginatorAeTitle?: string;
  moveOriginatorMessageId?: number;
  remaining?: number;
  completed?: number;
  failed?: number;
  warning?: number;
}

type Vr = 'US' | 'UI' | 'AE' | 'LO';
type Key = Exclude<keyof Command, never>;

/** Ascending tag order, as the encoding requires (PS3.5 7.1). */
const FIELDS: readonly (readonly [Key, number, Vr])[] = [
  ['affectedSopClassUid', 0x0002, 'UI'],
  ['requestedSopClassUid', 0x0003, 'UI'],
  ['commandField', 0x0100, 'US'],
  ['messageId', 0x0110, 'US'],
  ['messageIdBeingRespondedTo', 0x0120, 'US'],
  ['moveDestination', 0x0600, 'AE'],
  ['priority', 0x0700, 'US'],
  ['dataSetType', 0x0800, 'US'],
  ['status', 0x0900, 'US'],
  ['errorComment', 0x0902, 'LO'],
  ['affectedSopInstanceUid', 0x1000, 'UI'],
  ['requestedSopInstanceUid', 0x1001, 'UI'],
  ['remaining', 0x1020, 'US'],
  ['completed', 0x1021, 'US'],
  ['failed', 0x1022, 'US'],
  ['warning', 0x1023, 'US'],
  ['moveOriginatorAeTitle', 0x1030, 'AE'],
  ['moveOriginatorMessageId', 0x1031, 'US'],
];
const BY_TAG = new Map(FIELDS.map((f) => [f[1], f] as const));

function element(tag: number, value: Buffer): Buffer {
  const b = Buffer.allocUnsafe(8 + value.length);
  b.writeUInt16LE(0x0000, 0);
  b.writeUInt16LE(tag, 2);
  b.writeUInt32LE(value.length, 4);
  value.copy(b, 8);
  return b;
}

function text(s: string, pad: number): Buffer {
  const raw = Buffer.from(s, 'latin1');
  if (raw.length % 2 === 0) return raw;
  return Buffer.concat([raw, Buffer.from([pad])]);
}

export function encodeCommand(c: Command): Buffer {
  const parts: Buffer[] = [];
  for (const [key, tag, vr] of FIELDS) {
    const v = c[key];
    if (v === undefined) continue;
    if (vr === 'US') {
      const b = Buffer.allocUnsafe(2);
      b.writeUInt16LE(Number(v) & 0xffff, 0);
      parts.push(element(tag, b));
    } else {
      parts.push(element(tag, text(String(v), vr === 'UI' ? 0x00 : 0x20)));
    }
  }
  const body = Buffer.concat(parts);
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32LE(body.length, 0);
  return Buffer.concat([element(0x0000, len), body]);
}

function bad(message: string): DimseProtocolError {
  return new DimseProtocolError('COMMAND_UNPARSEABLE', message);
}

export function decodeCommand(b: Buffer): Command {
  const out: Partial<Record<Key, string | number>> = {};
  let off = 0;
  while (off < b.length) {
    if (off + 8 > b.length) throw bad('command element header truncated');
    const group = b.readUInt16LE(off);
    const elem = b.readUInt16LE(off + 2);
    const len = b.readUInt32LE(off + 4);
    off += 8;
    if (group !== 0x0000)
      throw bad(`element (${group.toString(16)},${elem.toString(16)}) outside group 0000 in command set`);
    if (len > b.length - off)
      throw bad(`command element (0000,${elem.toString(16).padStart(4, '0')}) length ${len} exceeds the command set`);
    const value = b.subarray(off, off + len);
    off += len;
    const f = BY_TAG.get(elem);
    if (f === undefined) continue;
    if (f[2] === 'US') {
      if (len !== 2) throw bad(`command element (0000,${elem.toString(16).padStart(4, '0')}) must be 2 bytes`);
      out[f[0]] = value.readUInt16LE(0);
    } else {
      out[f[0]] = value
        .toString('latin1')
        .replace(/[\0 ]+$/, '')
        .replace(/^ +/, '');
    }
  }
  if (typeof out.commandField !== 'number') throw bad('command set without CommandField');
  if (typeof out.dataSetType !== 'number') throw bad('command set without CommandDataSetType');
  return out as unknown as Command;
}

export function hasDataSet(c: Command): boolean {
  return c.dataSetType !== NoDataSet;
}

export function isResponse(c: Command): boolean {
  return (c.commandField & 0x8000) !== 0;
}
