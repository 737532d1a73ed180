/**
 * Encoding and decoding of the upper-layer control PDUs (PS3.8 9.3.2-9.3.10) and the P-DATA-TF header.
 * Decoding checks every item length against the bytes present; structural garbage is a DimseProtocolError.
 */
import { DimseProtocolError } from './errors.ts';
import {
  type AbortPdu,
  type AcceptedContext,
  type AssociateAc,
  type AssociateRj,
  type AssociateRq,
  type ControlPdu,
  ItemType,
  PduType,
  type ProposedContext,
  type RoleSelection,
  type UserInformation,
} from './pdu-types.ts';

function invalid(message: string): DimseProtocolError {
  return new DimseProtocolError('INVALID_PDU_ITEM', message);
}

function pdu(type: number, body: Buffer): Buffer {
  const header = Buffer.allocUnsafe(6);
  header[0] = type;
  header[1] = 0;
  header.writeUInt32BE(body.length, 2);
  return Buffer.concat([header, body]);
}

function item(type: number, value: Buffer): Buffer {
  const b = Buffer.allocUnsafe(4 + value.length);
  b[0] = type;
  b[1] = 0;
  b.writeUInt16BE(value.length, 2);
  value.copy(b, 4);
  return b;
}

function ascii(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** AE titles are 16 bytes, space padded (PS3.8 9.3.2). */
export function encodeAeTitle(ae: string): Buffer {
  const b = Buffer.alloc(16, 0x20);
  b.write(ae.slice(0, 16), 'latin1');
  return b;
}

/** Leading and trailing spaces are not significant; control characters and backslash are not allowed (PS3.5 6.2). */
export function decodeAeTitle(b: Buffer): string {
  for (const c of b) {
    if (c !== 0 && (c < 0x20 || c > 0x7e || c === 0x5c))
      throw new DimseProtocolError('INVALID_PDU_PARAMETER', 'AE title has invalid characters');
  }
  return b.toString('latin1').replace(/\0+$/, '').trim();
}

function uidText(b: Buffer): string {
  return b.toString('latin1').replace(/[\0 ]+$/, '');
}

function encodeUserInfo(u: UserInformation): Buffer {
  const max = Buffer.allocUnsafe(4);
  max.writeUInt32BE(u.maxPduLength, 0);
  const parts = [
    item(ItemType.MaximumLength, max),
    item(ItemType.ImplementationClassUid, ascii(u.implementationClassUid)),
  ];
  for (const r of u.roleSelections) {
    const uid = ascii(r.sopClassUid);
    const v = Buffer.allocUnsafe(2 + uid.length + 2);
    v.writeUInt16BE(uid.length, 0);
    uid.copy(v, 2);
    v[2 + uid.length] = r.scuRole ? 1 : 0;
    v[3 + uid.length] = r.scpRole ? 1 : 0;
    parts.push(item(ItemType.RoleSelection, v));
  }
  if (u.implementationVersionName !== undefined)
    parts.push(item(ItemType.ImplementationVersionName, ascii(u.implementationVersionName)));
  return item(ItemType.UserInformation, Buffer.concat(parts));
}

function fixedHeader(protocolVersion: number, called: string, calling: string): Buffer {
  const b = Buffer.alloc(68);
  b.writeUInt16BE(protocolVersion, 0);
  encodeAeTitle(called).copy(b, 4);
  encodeAeTitle(calling).copy(b, 20);
  return b;
}

export function encodeAssociateRq(rq: AssociateRq): Buffer {
  const parts = [
    fixedHeader(rq.protocolVersion, rq.calledAeTitle, rq.callingAeTitle),
    item(ItemType.ApplicationContext, ascii(rq.applicationContext)),
  ];
  for (const pc of rq.contexts) {
    const subs = [
      item(ItemType.AbstractSyntax, ascii(pc.abstractSyntax)),
      ...pc.transferSyntaxes.map((ts) => item(ItemType.TransferSyntax, ascii(ts))),
    ];
    parts.push(item(ItemType.PresentationContextRq, Buffer.concat([Buffer.from([pc.id, 0, 0, 0]), ...subs])));
  }
  parts.push(encodeUserInfo(rq.userInfo));
  return pdu(PduType.AssociateRq, Buffer.concat(parts));
}

export function encodeAssociateAc(ac: AssociateAc): Buffer {
  const parts = [
    fixedHeader(ac.protocolVersion, ac.calledAeTitle, ac.callingAeTitle),
    item(ItemType.ApplicationContext, ascii(ac.applicationContext)),
  ];
  for (const pc of ac.contexts) {
    // PS3.8 9.3.3.2: the transfer syntax sub-item is present but not significant when the context is rejected.
    parts.push(
      item(
        ItemType.PresentationContextAc,
        Buffer.concat([Buffer.from([pc.id, 0, pc.result, 0]), item(ItemType.TransferSyntax, ascii(pc.transferSyntax))]),
      ),
    );
  }
  parts.push(encodeUserInfo(ac.userInfo));
  return pdu(PduType.AssociateAc, Buffer.concat(parts));
}

export function encodeAssociateRj(rj: AssociateRj): Buffer {
  return pdu(PduType.AssociateRj, Buffer.from([0, rj.result, rj.source, rj.reason]));
}

export function encodeReleaseRq(): Buffer {
  return pdu(PduType.ReleaseRq, Buffer.alloc(4));
}

export function encodeReleaseRp(): Buffer {
  return pdu(PduType.ReleaseRp, Buffer.alloc(4));
}

export function encodeAbort(a: AbortPdu): Buffer {
  return pdu(PduType.Abort, Buffer.from([0, 0, a.source, a.reason]));
}

/** Header of a P-DATA-TF PDU holding one PDV (PS3.8 9.3.5, E.2): 6 bytes PDU header + 4 length + context id + control. */
/**
 * The header of a P-DATA-TF PDU holding a command set and its whole data set as two PDVs (PS3.8 9.3.5.1): the PDU
 * header, then each PDV's header goes before its bytes. Answers the three headers.
 */
export function encodePDataPairHeaders(
  contextId: number,
  commandLength: number,
  dataLength: number,
): [pdu: Buffer, command: Buffer, data: Buffer] {
  const pdu = Buffer.allocUnsafe(6);
  pdu[0] = PduType.PData;
  pdu[1] = 0;
  pdu.writeUInt32BE(commandLength + 6 + dataLength + 6, 2);
  const pdv = (length: number, control: number): Buffer => {
    const h = Buffer.allocUnsafe(6);
    h.writeUInt32BE(length + 2, 0);
    h[4] = contextId;
    h[5] = control;
    return h;
  };
  return [pdu, pdv(commandLength, 3), pdv(dataLength, 2)];
}

export function encodePDataHeader(contextId: number, isCommand: boolean, isLast: boolean, dataLength: number): Buffer {
  const h = Buffer.allocUnsafe(12);
  h[0] = PduType.PData;
  h[1] = 0;
  h.writeUInt32BE(dataLength + 6, 2);
  h.writeUInt32BE(dataLength + 2, 6);
  h[10] = contextId;
  h[11] = (isCommand ? 1 : 0) | (isLast ? 2 : 0);
  return h;
}

interface RawItem {
  type: number;
  value: Buffer;
}

function* items(b: Buffer, where: string): Generator<RawItem> {
  let off = 0;
  while (off < b.length) {
    if (off + 4 > b.length) throw invalid(`truncated item header in ${where}`);
    const type = b[off] ?? 0;
    const len = b.readUInt16BE(off + 2);
    if (off + 4 + len > b.length) throw invalid(`item 0x${type.toString(16)} length ${len} exceeds ${where}`);
    yield { type, value: b.subarray(off + 4, off + 4 + len) };
    off += 4 + len;
  }
}

function decodeUserInfo(v: Buffer): UserInformation {
  const u: UserInformation = { maxPduLength: 0, implementationClassUid: '', roleSelections: [] };
  for (const sub of items(v, 'user information')) {
    if (sub.type === ItemType.MaximumLength) {
      if (sub.value.length !== 4) throw invalid('maximum length sub-item must be 4 bytes');
      u.maxPduLength = sub.value.readUInt32BE(0);
    } else if (sub.type === ItemType.ImplementationClassUid) {
      u.implementationClassUid = uidText(sub.value);
    } else if (sub.type === ItemType.ImplementationVersionName) {
      u.implementationVersionName = sub.value.toString('latin1').trim();
    } else if (sub.type === ItemType.RoleSelection) {
      if (sub.value.length < 4) throw invalid('role selection sub-item too short');
      const n = sub.value.readUInt16BE(0);
      if (2 + n + 2 !== sub.value.length) throw invalid('role selection UID length mismatch');
      const r: RoleSelection = {
        sopClassUid: uidText(sub.value.subarray(2, 2 + n)),
        scuRole: sub.value[2 + n] === 1,
        scpRole: sub.value[3 + n] === 1,
      };
      u.roleSelections.push(r);
    }
    // Other sub-items (async window, extended negotiation, user identity) are optional and ignored (PS3.7 D.3.3).
  }
  return u;
}

interface Common {
  protocolVersion: number;
  calledAeTitle: string;
  callingAeTitle: string;
  applicationContext: string;
  userInfo: UserInformation;
}

function decodeCommon(body: Buffer, onItem: (it: RawItem) => boolean): Common {
  if (body.length < 68) throw new DimseProtocolError('PDU_BAD_LENGTH', 'A-ASSOCIATE PDU shorter than its fixed fields');
  const c: Common = {
    protocolVersion: body.readUInt16BE(0),
    calledAeTitle: decodeAeTitle(body.subarray(4, 20)),
    callingAeTitle: decodeAeTitle(body.subarray(20, 36)),
    applicationContext: '',
    userInfo: { maxPduLength: 0, implementationClassUid: '', roleSelections: [] },
  };
  let sawUserInfo = false;
  for (const it of items(body.subarray(68), 'A-ASSOCIATE')) {
    if (it.type === ItemType.ApplicationContext) c.applicationContext = uidText(it.value);
    else if (it.type === ItemType.UserInformation) {
      c.userInfo = decodeUserInfo(it.value);
      sawUserInfo = true;
    } else if (!onItem(it))
      throw new DimseProtocolError('INVALID_PDU_PARAMETER', `unexpected item type 0x${it.type.toString(16)}`);
  }
  if (c.applicationContext === '') throw invalid('missing application context item');
  if (!sawUserInfo) throw invalid('missing user information item');
  return c;
}

export function decodeAssociateRq(body: Buffer): AssociateRq {
  const contexts: ProposedContext[] = [];
  const c = decodeCommon(body, (it) => {
    if (it.type !== ItemType.PresentationContextRq) return false;
    if (it.value.length < 4) throw invalid('presentation context item too short');
    const pc: ProposedContext = { id: it.value[0] ?? 0, abstractSyntax: '', transferSyntaxes: [] };
    for (const sub of items(it.value.subarray(4), 'presentation context')) {
      if (sub.type === ItemType.AbstractSyntax) pc.abstractSyntax = uidText(sub.value);
      else if (sub.type === ItemType.TransferSyntax) pc.transferSyntaxes.push(uidText(sub.value));
      else
        throw new DimseProtocolError(
          'INVALID_PDU_PARAMETER',
          `unexpected sub-item 0x${sub.type.toString(16)} in presentation context`,
        );
    }
    if (pc.id % 2 === 0)
      throw new DimseProtocolError('INVALID_PDU_PARAMETER', `presentation context id ${pc.id} is not odd`);
    if (contexts.some((x) => x.id === pc.id))
      throw new DimseProtocolError('INVALID_PDU_PARAMETER', `duplicate presentation context id ${pc.id}`);
    contexts.push(pc);
    return true;
  });
  if (contexts.length === 0) throw invalid('no presentation context proposed');
  return { ...c, contexts };
}

export function decodeAssociateAc(body: Buffer): AssociateAc {
  const contexts: AcceptedContext[] = [];
  const c = decodeCommon(body, (it) => {
    if (it.type !== ItemType.PresentationContextAc) return false;
    if (it.value.length < 4) throw invalid('presentation context item too short');
    let ts = '';
    for (const sub of items(it.value.subarray(4), 'presentation context'))
      if (sub.type === ItemType.TransferSyntax) ts = uidText(sub.value);
    contexts.push({ id: it.value[0] ?? 0, result: it.value[2] ?? 2, transferSyntax: ts });
    return true;
  });
  return { ...c, contexts };
}

/** Decodes a whole non-P-DATA PDU body (after the 6-byte header). */
export function decodeControlPdu(type: number, body: Buffer): ControlPdu {
  switch (type) {
    case PduType.AssociateRq:
      return { type, rq: decodeAssociateRq(body) };
    case PduType.AssociateAc:
      return { type, ac: decodeAssociateAc(body) };
    case PduType.AssociateRj:
      return { type, rj: { result: body[1] ?? 0, source: body[2] ?? 0, reason: body[3] ?? 0 } };
    case PduType.ReleaseRq:
      return { type };
    case PduType.ReleaseRp:
      return { type };
    case PduType.Abort:
      return { type, abort: { source: body[2] ?? 0, reason: body[3] ?? 0 } };
    default:
      throw new DimseProtocolError('UNKNOWN_PDU_TYPE', `unknown PDU type 0x${type.toString(16)}`);
  }
}
