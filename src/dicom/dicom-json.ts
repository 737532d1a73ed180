import type { Dataset, Element } from './dataset.ts';
import { decodeNumbers } from './values.ts';
import type { Vr } from './vr.ts';

/** One attribute in the DICOM JSON Model (PS3.18 F.2). */
export interface DicomJsonAttribute {
  vr: Vr;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}

export type DicomJson = Record<string, DicomJsonAttribute>;

/** VRs whose values are numbers in JSON (PS3.18 F.2.3). IS and DS are text in the data set but numbers here. */
const NUMBER_VRS: ReadonlySet<Vr> = new Set(['IS', 'DS', 'FL', 'FD', 'SL', 'SS', 'UL', 'US', 'SV', 'UV']);
/** VRs carried as bytes: InlineBinary, or a BulkDataURI when the caller offers one. */
const BINARY_VRS: ReadonlySet<Vr> = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);

export interface DicomJsonOptions {
  /** Where a client can fetch this attribute's bytes; when it gives one, the value is not inlined. */
  bulkDataUri?: (element: Element, path: readonly number[]) => string | undefined;
  /** Binary values up to this many bytes are inlined (base64) when there is no bulk data URI; larger ones are left out. */
  maxInlineBytes?: number;
}

/**
 * A data set in the DICOM JSON Model: tags as 8 upper-case hex digits, each with its VR and its values as JSON types
 * (numbers for numeric VRs, person names as component groups, sequences as nested objects, bytes inline as base64 or
 * behind a bulk data URI). An empty value has no `Value`.
 */
export function toDicomJson(ds: Dataset, o: DicomJsonOptions = {}, path: readonly number[] = []): DicomJson {
  const out: DicomJson = {};
  for (const el of ds) {
    const key = el.tag.toString(16).toUpperCase().padStart(8, '0');
    out[key] = attributeOf(ds, el, o, [...path, el.tag]);
  }
  return out;
}

function attributeOf(ds: Dataset, el: Element, o: DicomJsonOptions, path: readonly number[]): DicomJsonAttribute {
  const vr = el.vr;
  if (vr === 'SQ') {
    const items = el.items ?? [];
    return items.length > 0 ? { vr, Value: items.map((item, i) => toDicomJson(item, o, [...path, i])) } : { vr };
  }
  if (BINARY_VRS.has(vr) || el.fragments !== undefined) {
    const uri = o.bulkDataUri?.(el, path);
    if (uri !== undefined) return { vr, BulkDataURI: uri };
    const bytes = el.bytes;
    if (bytes === undefined || bytes.length === 0 || bytes.length > (o.maxInlineBytes ?? 64 * 1024)) return { vr };
    return { vr, InlineBinary: bytes.toString('base64') };
  }
  if (vr === 'AT') {
    const tags = decodeNumbers('AT', el.bytes ?? Buffer.alloc(0)).map((t) =>
      t.toString(16).toUpperCase().padStart(8, '0'),
    );
    return tags.length > 0 ? { vr, Value: tags } : { vr };
  }
  if (NUMBER_VRS.has(vr)) {
    if (vr === 'IS' || vr === 'DS') {
      const texts = ds.strings(el.tag);
      if (texts.every((t) => t === '')) return { vr };
      return { vr, Value: texts.map((t) => (t === '' ? null : Number(t))) };
    }
    const numbers = ds.numbers(el.tag);
    return numbers.length > 0 ? { vr, Value: numbers } : { vr };
  }
  const texts = ds.strings(el.tag);
  if (texts.every((t) => t === '')) return { vr };
  if (vr === 'PN')
    return {
      vr,
      Value: texts.map((t) => {
        if (t === '') return null;
        const [alphabetic, ideographic, phonetic] = t.split('=');
        return {
          ...(alphabetic !== undefined && alphabetic !== '' ? { Alphabetic: alphabetic } : {}),
          ...(ideographic !== undefined && ideographic !== '' ? { Ideographic: ideographic } : {}),
          ...(phonetic !== undefined && phonetic !== '' ? { Phonetic: phonetic } : {}),
        };
      }),
    };
  return { vr, Value: texts.map((t) => (t === '' ? null : t)) };
}
