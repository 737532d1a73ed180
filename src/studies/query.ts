import { Dataset, DicomError, isKnownCharacterSet, Tag, vrOf } from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { Matcher, QueryLevel, QueryRow } from '../store/index.ts';
import { keysByTag, levelRank, type QueryKey, queryKeys } from './query-keys.ts';

const keysByAttribute: ReadonlyMap<string, QueryKey> = new Map(
  queryKeys.flatMap((k) => (k.attribute !== undefined ? [[k.attribute, k] as const] : [])),
);

/** Query/Retrieve information models (PS3.4 C.6.1 patient root, C.6.2 study root). */
export type InformationModel = 'patient-root' | 'study-root';

export interface ParsedQuery {
  level: QueryLevel;
  matchers: Matcher[];
  /** The keys the caller asked for, in the order given, to fill in each response. */
  returnKeys: readonly number[];
  /** The Specific Character Set the query declared (its defined terms), empty when it declared none. */
  characterSet: readonly string[];
}

const levels: readonly QueryLevel[] = ['PATIENT', 'STUDY', 'SERIES', 'IMAGE'];

/**
 * Reads a C-FIND/C-MOVE/C-GET identifier: the level, a matcher per non-empty key at or above that level (PS3.4
 * C.2.2.2: single value, UID list, wildcard, range), and the keys to return. Keys we do not index are returned empty.
 */
export function parseQuery(identifier: Dataset, model: InformationModel): ParsedQuery {
  const levelText = identifier.string(Tag.QueryRetrieveLevel)?.trim();
  const level = levels.find((l) => l === levelText);
  if (level === undefined) {
    throw new BeeldbrugError(
      'IDENTIFIER_INVALID',
      `QueryRetrieveLevel must be one of ${levels.join(', ')}, got ${JSON.stringify(levelText ?? '')}`,
    );
  }
  if (model === 'study-root' && level === 'PATIENT') {
    throw new BeeldbrugError('IDENTIFIER_INVALID', 'the study root information model has no PATIENT level');
  }
  const matchers: Matcher[] = [];
  const returnKeys: number[] = [];
  for (const element of identifier) {
    if (
      element.tag === Tag.QueryRetrieveLevel ||
      element.tag === Tag.SpecificCharacterSet ||
      element.tag >>> 16 === 0x0002
    )
      continue;
    returnKeys.push(element.tag);
    const key = keysByTag.get(element.tag);
    if (key?.attribute === undefined || levelRank[key.level] > levelRank[level]) continue;
    const matcher = matcherFor(key, identifier);
    if (matcher !== undefined) matchers.push(matcher);
  }
  return { level, matchers, returnKeys, characterSet: identifier.strings(Tag.SpecificCharacterSet) };
}

function matcherFor(key: QueryKey, identifier: Dataset): Matcher | undefined {
  const attribute = key.attribute;
  if (attribute === undefined) return undefined;
  const raw = identifier.strings(key.tag).map((v) => v.trim());
  const value = raw.join('\\');
  if (value === '' || value === '*') return undefined; // universal matching
  if (key.vr === 'UI' || (key.vr === 'CS' && raw.length > 1)) {
    return raw.length > 1 ? { key: attribute, kind: 'list', values: raw } : { key: attribute, kind: 'single', value };
  }
  if ((key.vr === 'DA' || key.vr === 'TM' || key.vr === 'DT') && value.includes('-')) {
    const [from = '', to = ''] = value.split('-', 2);
    return { key: attribute, kind: 'range', from: from === '' ? null : from, to: to === '' ? null : to };
  }
  if (/[*?]/.test(value)) return { key: attribute, kind: 'wildcard', pattern: value };
  return { key: attribute, kind: 'single', value };
}

/**
 * The C-FIND response identifier for one match: every requested key, filled where we know it, empty where not. It is
 * written in the character set the query declared where every value fits in it (a PACS that asks in ISO_IR 100 may
 * read nothing else), otherwise, and for a query that declared none, in UTF-8, declared as ISO_IR 192.
 */
export function responseFor(
  query: ParsedQuery,
  row: QueryRow,
  retrieveAeTitle: string,
  extra: readonly ExtraValue[] = [],
): Dataset {
  const asked = query.characterSet;
  if (asked.length > 0 && asked.join('\\') !== 'ISO_IR 192' && isKnownCharacterSet(asked)) {
    try {
      return response(query, row, retrieveAeTitle, asked, extra);
    } catch (err) {
      if (!(err instanceof DicomError)) throw err;
    }
  }
  return response(query, row, retrieveAeTitle, ['ISO_IR 192'], extra);
}

/** A value a response carries beside the requested keys (the virtual PACS names each study's source hospital). */
export interface ExtraValue {
  tag: number;
  vr: 'LO' | 'SH' | 'CS';
  value: string;
}

/** Throws a DicomError when a value does not fit in the character set. */
function response(
  query: ParsedQuery,
  row: QueryRow,
  retrieveAeTitle: string,
  characterSet: readonly string[],
  extra: readonly ExtraValue[],
): Dataset {
  const ds = new Dataset();
  ds.set(Tag.SpecificCharacterSet, 'CS', characterSet);
  ds.set(Tag.QueryRetrieveLevel, 'CS', query.level);
  ds.set(Tag.RetrieveAETitle, 'AE', retrieveAeTitle);
  for (const tag of query.returnKeys) {
    // Set above: where to retrieve from is ours to say, asked for or not.
    if (tag === Tag.RetrieveAETitle) continue;
    const key = keysByTag.get(tag);
    if (key === undefined || levelRank[key.level] > levelRank[query.level]) {
      // Not indexed or below the query level: an empty value says "no value known" (PS3.4 C.4.1.1.3.2). A tag the
      // dictionary does not know is answered as UN, empty (OHIF asks for SeriesDate and SeriesTime this way).
      const vr = key?.vr ?? vrOf(tag) ?? 'UN';
      ds.set(tag, vr, vr === 'SQ' ? [] : vr === 'UN' ? Buffer.alloc(0) : '');
      continue;
    }
    const value =
      key.computed !== undefined
        ? key.computed(row)
        : key.attribute !== undefined
          ? row.values[key.attribute]
          : undefined;
    ds.set(tag, key.vr, formatValue(value));
  }
  for (const e of extra) ds.set(e.tag, e.vr, e.value);
  return ds;
}

/**
 * Whether a row (built in memory, not read from the index) satisfies the matchers, by the rules the index applies
 * (PS3.4 C.2.2.2): single values exact, person names case-insensitive; wildcards; inclusive ranges; UID lists. A key
 * with several values (Modalities in Study) matches when one of them does.
 */
export function rowMatches(row: QueryRow, matchers: readonly Matcher[]): boolean {
  return matchers.every((m) => {
    const raw = m.key === 'modalitiesInStudy' ? (row.modalitiesInStudy ?? []) : [row.values[m.key]];
    const values = raw.flatMap((v) => (v === null || v === undefined ? [] : [String(v)]));
    const caseless = keysByAttribute.get(m.key)?.vr === 'PN';
    const same = (a: string, b: string): boolean => (caseless ? a.toUpperCase() === b.toUpperCase() : a === b);
    switch (m.kind) {
      case 'single':
        return values.some((v) => same(v, m.value));
      case 'list':
        return values.some((v) => m.values.includes(v));
      case 'range':
        return values.some((v) => v !== '' && (m.from === null || v >= m.from) && (m.to === null || v <= m.to));
      case 'wildcard': {
        const pattern = new RegExp(
          `^${Array.from(m.pattern, (c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&'))).join('')}$`,
          caseless ? 'is' : 's',
        );
        return values.some((v) => pattern.test(v));
      }
    }
  });
}

function formatValue(value: string | number | readonly string[] | null | undefined): string | readonly string[] {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return String(value);
  return value;
}

/** The matchers on keys of one level only (a query's keys above its level name the patient or study it is about). */
export function matchersAt(query: ParsedQuery, level: QueryLevel): Matcher[] {
  return query.matchers.filter((m) => keysByAttribute.get(m.key)?.level === level);
}

/** C-MOVE and C-GET must name what to retrieve by unique key at their level: an empty key must not mean "everything". */
export function requireUniqueKey(query: ParsedQuery): void {
  const uniqueAtLevel = [...keysByTag.values()].find((k) => k.unique === true && k.level === query.level);
  const named = query.matchers.some(
    (m) => m.key === uniqueAtLevel?.attribute && (m.kind === 'single' || m.kind === 'list'),
  );
  if (!named) {
    throw new BeeldbrugError(
      'IDENTIFIER_INVALID',
      `a retrieve at ${query.level} level must name ${uniqueAtLevel?.attribute ?? 'the unique key'}`,
    );
  }
}
