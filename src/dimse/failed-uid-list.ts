/**
 * The one-element data set of a C-MOVE/C-GET response that lists failed sub-operations: Failed SOP Instance UID
 * List (0008,0058) UI (PS3.4 C.4.2.1.4). Encoded/decoded here in implicit or explicit VR little endian.
 */
import { Uid } from './uids.ts';

const GROUP = 0x0008;
const ELEMENT = 0x0058;

export function encodeFailedUidList(uids: readonly string[], transferSyntaxUid: string): Buffer {
  // An explicit VR UI value has a 16-bit length; keep within it.
  const kept: string[] = [];
  let len = 0;
  for (const u of uids) {
    if (len + u.length + 1 > 0xfff0) break;
    kept.push(u);
    len += u.length + 1;
  }
  let value = Buffer.from(kept.join('\\'), 'latin1');
  if (value.length % 2 === 1) value = Buffer.concat([value, Buffer.from([0])]);
  const explicit = transferSyntaxUid !== Uid.ImplicitVRLittleEndian;
  const h = Buffer.alloc(8);
  h.writeUInt16LE(GROUP, 0);
  h.writeUInt16LE(ELEMENT, 2);
  if (explicit) {
    h.write('UI', 4, 'latin1');
    h.writeUInt16LE(value.length, 6);
  } else {
    h.writeUInt32LE(value.length, 4);
  }
  return Buffer.concat([h, value]);
}

/** Finds (0008,0058) among the top-level elements of a small data set; [] when absent or unreadable. */
export function decodeFailedUidList(ds: Buffer, transferSyntaxUid: string): string[] {
  const explicit = transferSyntaxUid !== Uid.ImplicitVRLittleEndian;
  let off = 0;
  while (off + 8 <= ds.length) {
    const group = ds.readUInt16LE(off);
    const element = ds.readUInt16LE(off + 2);
    let len: number;
    let head = 8;
    if (explicit) {
      const vr = ds.toString('latin1', off + 4, off + 6);
      if (['OB', 'OW', 'OF', 'OD', 'OL', 'OV', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV'].includes(vr)) {
        if (off + 12 > ds.length) return [];
        len = ds.readUInt32LE(off + 8);
        head = 12;
      } else {
        len = ds.readUInt16LE(off + 6);
      }
    } else {
      len = ds.readUInt32LE(off + 4);
    }
    if (len === 0xffffffff || off + head + len > ds.length) return [];
    if (group === GROUP && element === ELEMENT) {
      return ds
        .toString('latin1', off + head, off + head + len)
        .replace(/[\0 ]+$/, '')
        .split('\\')
        .filter((u) => u !== '');
    }
    off += head + len;
  }
  return [];
}
