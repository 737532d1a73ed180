// Shared pieces of the DIMSE integration tests: a server on a free port with a log we can assert on, DCMTK runs,
// DICOM files made with dump2dcm, and a tiny data set codec for identifiers (so these tests need no src/dicom).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { DimseServer, type ServerOptions } from '../../src/dimse/index.ts';

export const CT = '1.2.840.10008.5.1.4.1.1.2';
export const SC = '1.2.840.10008.5.1.4.1.1.7';
export const ExplicitLE = '1.2.840.10008.1.2.1';
export const ImplicitLE = '1.2.840.10008.1.2';
export const StudyRootFind = '1.2.840.10008.5.1.4.1.2.2.1';
export const StudyRootMove = '1.2.840.10008.5.1.4.1.2.2.2';
export const StudyRootGet = '1.2.840.10008.5.1.4.1.2.2.3';

export interface LogLine {
  level: number;
  msg: string;
  reason?: string;
  [k: string]: unknown;
}

export function captureLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, dest), lines };
}

export async function startServer(
  t: TestContext,
  o: Partial<ServerOptions> & Pick<ServerOptions, 'handlers'>,
): Promise<{ server: DimseServer; port: number; lines: LogLine[] }> {
  const { logger, lines } = captureLogger();
  const server = new DimseServer({
    aeTitle: 'BEELDBRUG',
    admit: (r) =>
      ['TESTSCU', 'ECHOSCU', 'STORESCU', 'FINDSCU', 'MOVESCU', 'GETSCU'].includes(r.callingAeTitle)
        ? { accept: true }
        : { accept: false, reason: 'calling-ae-not-recognized', detail: `unknown calling AE ${r.callingAeTitle}` },
    logger,
    ...o,
  });
  const { port } = await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  return { server, port, lines };
}

export { run, startPeer, type RunResult } from '../support/processes.ts';
import { run } from '../support/processes.ts';

/** A Part 10 file made by dump2dcm with the given attributes and `pixelBytes` bytes of OW pixel data. */
export async function makeInstance(
  dir: string,
  name: string,
  o: {
    sopClassUid?: string;
    sopInstanceUid: string;
    studyUid?: string;
    pixelBytes?: number;
    patientId?: string;
    seed?: number;
    implicit?: boolean;
  },
): Promise<string> {
  const px = join(dir, `${name}.raw`);
  const n = o.pixelBytes ?? 512;
  const buf = Buffer.allocUnsafe(n);
  let x = (o.seed ?? 1) >>> 0;
  for (let i = 0; i < n; i += 4) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    buf.writeUInt32LE(x, Math.min(i, n - 4));
  }
  writeFileSync(px, buf);
  const dump = join(dir, `${name}.dump`);
  writeFileSync(
    dump,
    [
      `(0008,0016) UI [${o.sopClassUid ?? CT}]`,
      `(0008,0018) UI [${o.sopInstanceUid}]`,
      `(0008,0060) CS [CT]`,
      `(0010,0010) PN [Jansen^Piet]`,
      `(0010,0020) LO [${o.patientId ?? '123456782'}]`,
      `(0020,000d) UI [${o.studyUid ?? '1.2.3.4'}]`,
      `(0020,000e) UI [${o.studyUid ?? '1.2.3.4'}.1]`,
      '(0028,0002) US 1',
      '(0028,0004) CS [MONOCHROME2]',
      '(0028,0010) US 16',
      `(0028,0011) US ${Math.max(1, Math.floor(n / 32))}`,
      '(0028,0100) US 16',
      '(0028,0101) US 16',
      '(0028,0102) US 15',
      '(0028,0103) US 1',
      `(7fe0,0010) OW =${px}`,
    ].join('\n'),
  );
  const out = join(dir, `${name}.dcm`);
  const r = await run('dump2dcm', [o.implicit === true ? '+ti' : '+te', dump, out]);
  if (r.code !== 0) throw new Error(`dump2dcm failed: ${r.stderr}`);
  return out;
}

/** The data set bytes of a Part 10 file (after the file meta group) and its transfer syntax. */
export function datasetOf(file: string): { bytes: Buffer; transferSyntaxUid: string } {
  const b = readFileSync(file);
  if (b.toString('latin1', 128, 132) !== 'DICM') throw new Error(`${file} is not Part 10`);
  const groupLength = b.readUInt32LE(140);
  const metaEnd = 144 + groupLength;
  let ts = '';
  let off = 132;
  while (off < metaEnd) {
    const el = b.readUInt16LE(off + 2);
    const vr = b.toString('latin1', off + 4, off + 6);
    const long = ['OB', 'OW', 'UN', 'SQ', 'UT'].includes(vr);
    const len = long ? b.readUInt32LE(off + 8) : b.readUInt16LE(off + 6);
    const head = long ? 12 : 8;
    if (el === 0x0010) ts = b.toString('latin1', off + head, off + head + len).replace(/[\0 ]+$/, '');
    off += head + len;
  }
  return { bytes: b.subarray(metaEnd), transferSyntaxUid: ts };
}

/** Encodes a flat data set of text elements (tag -> [VR, value]) in implicit or explicit VR little endian. */
export function encodeIdentifier(elements: Record<number, [string, string]>, transferSyntaxUid: string): Buffer {
  const explicit = transferSyntaxUid !== ImplicitLE;
  const parts: Buffer[] = [];
  for (const tag of Object.keys(elements)
    .map(Number)
    .sort((a, b) => a - b)) {
    const [vr, text] = elements[tag] ?? ['LO', ''];
    let v = Buffer.from(text, 'latin1');
    if (v.length % 2 === 1) v = Buffer.concat([v, Buffer.from([vr === 'UI' ? 0 : 0x20])]);
    const h = Buffer.alloc(8);
    h.writeUInt16LE(tag >>> 16, 0);
    h.writeUInt16LE(tag & 0xffff, 2);
    if (explicit) {
      h.write(vr, 4, 'latin1');
      h.writeUInt16LE(v.length, 6);
    } else h.writeUInt32LE(v.length, 4);
    parts.push(h, v);
  }
  return Buffer.concat(parts);
}

/** Decodes a flat data set of short-VR elements back into tag -> trimmed text. */
export function decodeIdentifier(b: Buffer, transferSyntaxUid: string): Map<number, string> {
  const explicit = transferSyntaxUid !== ImplicitLE;
  const out = new Map<number, string>();
  let off = 0;
  while (off + 8 <= b.length) {
    const tag = ((b.readUInt16LE(off) << 16) | b.readUInt16LE(off + 2)) >>> 0;
    const len = explicit ? b.readUInt16LE(off + 6) : b.readUInt32LE(off + 4);
    out.set(tag, b.toString('latin1', off + 8, off + 8 + len).replace(/[\0 ]+$/, ''));
    off += 8 + len;
  }
  return out;
}
