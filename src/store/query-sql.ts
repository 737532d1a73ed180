import type { SqlValue } from '../database/index.ts';
import type { AttributeKey, Matcher, QueryLevel } from './types.ts';

/**
 * Turns C-FIND matchers (PS3.4 C.2.2.2) into SQL over the four level tables. Keys of the query level and above are
 * columns of the joined row; keys below the level (and Modalities in Study) ask whether some entity below matches
 * (an EXISTS), which is what "studies with a CT series" means. Values are always bound, never spliced into SQL.
 */

/**
 * How a database matches DICOM's `*` and `?` (C.2.2.2.4) case-sensitively: SQLite's GLOB (its LIKE ignores case),
 * PostgreSQL's LIKE. `pattern` turns a DICOM pattern into the operator's own.
 */
export interface PatternDialect {
  matches(ref: string): string;
  pattern(dicom: string): string;
}

export const GLOB_PATTERNS: PatternDialect = {
  matches: (ref) => `${ref} GLOB ?`,
  // DICOM `*` and `?` mean the same in GLOB; only `[` is special to GLOB and not to DICOM, so it is bracketed.
  pattern: (dicom) => dicom.replace(/\[/g, '[[]'),
};

export const LIKE_PATTERNS: PatternDialect = {
  matches: (ref) => `${ref} LIKE ?`,
  // LIKE's own wildcards and its escape character (a backslash) are escaped first, then DICOM's become LIKE's.
  pattern: (dicom) =>
    dicom
      .replace(/[\\%_]/g, (c) => `\\${c}`)
      .replace(/\*/g, '%')
      .replace(/\?/g, '_'),
};

export const LEVELS: readonly QueryLevel[] = ['PATIENT', 'STUDY', 'SERIES', 'IMAGE'];
const TABLE = ['patients', 'studies', 'series', 'instances'] as const;
const ALIAS = ['p', 'st', 'se', 'i'] as const;
const PARENT_FK = [null, 'patient_pk', 'study_pk', 'series_pk'] as const;

type ColumnKind = 'text' | 'name' | 'int';
interface Column {
  depth: number;
  column: string;
  kind: ColumnKind;
}

const COLUMNS: Readonly<Record<Exclude<AttributeKey, 'modalitiesInStudy'>, Column>> = {
  patientId: { depth: 0, column: 'patient_id', kind: 'text' },
  issuerOfPatientId: { depth: 0, column: 'issuer', kind: 'text' },
  bsn: { depth: 0, column: 'bsn', kind: 'text' },
  patientName: { depth: 0, column: 'patient_name', kind: 'name' },
  birthDate: { depth: 0, column: 'birth_date', kind: 'text' },
  sex: { depth: 0, column: 'sex', kind: 'text' },
  studyInstanceUid: { depth: 1, column: 'study_instance_uid', kind: 'text' },
  studyDate: { depth: 1, column: 'study_date', kind: 'text' },
  studyTime: { depth: 1, column: 'study_time', kind: 'text' },
  accessionNumber: { depth: 1, column: 'accession_number', kind: 'text' },
  studyDescription: { depth: 1, column: 'study_description', kind: 'text' },
  referringPhysicianName: { depth: 1, column: 'referring_physician_name', kind: 'name' },
  studyId: { depth: 1, column: 'study_id', kind: 'text' },
  seriesInstanceUid: { depth: 2, column: 'series_instance_uid', kind: 'text' },
  modality: { depth: 2, column: 'modality', kind: 'text' },
  seriesNumber: { depth: 2, column: 'series_number', kind: 'int' },
  seriesDescription: { depth: 2, column: 'series_description', kind: 'text' },
  bodyPartExamined: { depth: 2, column: 'body_part_examined', kind: 'text' },
  sopInstanceUid: { depth: 3, column: 'sop_instance_uid', kind: 'text' },
  sopClassUid: { depth: 3, column: 'sop_class_uid', kind: 'text' },
  instanceNumber: { depth: 3, column: 'instance_number', kind: 'int' },
};

/** The attribute keys each level's rows carry, with their columns (for building QueryRow.values). */
export function columnsUpTo(depth: number): [AttributeKey, Column][] {
  return (Object.entries(COLUMNS) as [Exclude<AttributeKey, 'modalitiesInStudy'>, Column][]).filter(
    ([, c]) => c.depth <= depth,
  );
}

export function depthOf(level: QueryLevel): number {
  return LEVELS.indexOf(level);
}

/** `FROM <level table> JOIN <parents>`: one row per entity of the level, with every attribute above it. */
export function fromClause(depth: number): string {
  let sql = `FROM ${TABLE[depth]} ${ALIAS[depth]}`;
  for (let d = depth; d > 0; d -= 1) {
    sql += ` JOIN ${TABLE[d - 1]} ${ALIAS[d - 1]} ON ${ALIAS[d - 1]}.pk = ${ALIAS[d]}.${PARENT_FK[d]}`;
  }
  return sql;
}

export interface Condition {
  sql: string;
  params: SqlValue[];
}

export function whereClause(depth: number, matchers: readonly Matcher[], d: PatternDialect): Condition {
  const parts: string[] = [];
  const params: SqlValue[] = [];
  for (const m of matchers) {
    const c = conditionFor(depth, m, d);
    if (c === undefined) continue;
    parts.push(c.sql);
    params.push(...c.params);
  }
  return { sql: parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '', params };
}

function conditionFor(depth: number, m: Matcher, d: PatternDialect): Condition | undefined {
  if (m.key === 'modalitiesInStudy') {
    // Matches a study when any of its series has the modality (C.6.1.1.3.2 lists Modalities in Study as a study key).
    const col = { depth: 2, column: 'modality', kind: 'text' } as const;
    const inner = matchColumn(`m.modality`, col.kind, m, d);
    if (inner === undefined) return undefined;
    if (depth >= 1)
      return { sql: `EXISTS (SELECT 1 FROM series m WHERE m.study_pk = st.pk AND ${inner.sql})`, params: inner.params };
    return existsBelow(depth, { ...col }, m, d);
  }
  const col = COLUMNS[m.key];
  if (col.depth <= depth) return matchColumn(refOf(ALIAS[col.depth] ?? 'p', col), col.kind, m, d);
  return existsBelow(depth, col, m, d);
}

function refOf(alias: string, col: Column): string {
  return col.kind === 'name' ? `${alias}.${col.column}_norm` : `${alias}.${col.column}`;
}

/** EXISTS over the entities between the query level and the key's level, linked to the current row. */
function existsBelow(depth: number, col: Column, m: Matcher, dialect: PatternDialect): Condition | undefined {
  const sub = (d: number): string => `${ALIAS[d]}_x`;
  const inner = matchColumn(refOf(sub(col.depth), col), col.kind, m, dialect);
  if (inner === undefined) return undefined;
  let from = `${TABLE[depth + 1]} ${sub(depth + 1)}`;
  for (let d = depth + 2; d <= col.depth; d += 1) {
    from += ` JOIN ${TABLE[d]} ${sub(d)} ON ${sub(d)}.${PARENT_FK[d]} = ${sub(d - 1)}.pk`;
  }
  const link = `${sub(depth + 1)}.${PARENT_FK[depth + 1]} = ${ALIAS[depth]}.pk`;
  return { sql: `EXISTS (SELECT 1 FROM ${from} WHERE ${link} AND ${inner.sql})`, params: inner.params };
}

/** One matcher against one column; undefined when it matches everything (universal matching, C.2.2.2.3). */
function matchColumn(ref: string, kind: ColumnKind, m: Matcher, d: PatternDialect): Condition | undefined {
  const norm = (v: string): string => (kind === 'name' ? v.toLowerCase() : v);
  switch (m.kind) {
    case 'single': {
      if (kind === 'int') {
        const n = parseInteger(m.value);
        return n === undefined ? { sql: 'FALSE', params: [] } : { sql: `${ref} = ?`, params: [n] };
      }
      if (kind === 'name') return nameGroups(ref, norm(m.value), d);
      return { sql: `${ref} = ?`, params: [norm(m.value)] };
    }
    case 'wildcard': {
      if (/^\**$/.test(m.pattern)) return undefined;
      if (kind === 'name') return nameGroups(ref, norm(m.pattern), d);
      const target = kind === 'int' ? `CAST(${ref} AS TEXT)` : ref;
      return { sql: d.matches(target), params: [d.pattern(norm(m.pattern))] };
    }
    case 'range': {
      const parts: string[] = [];
      const params: SqlValue[] = [];
      if (kind === 'int') {
        const from = m.from === null ? undefined : parseInteger(m.from);
        const to = m.to === null ? undefined : parseInteger(m.to);
        if ((m.from !== null && from === undefined) || (m.to !== null && to === undefined))
          return { sql: 'FALSE', params: [] };
        if (from !== undefined) {
          parts.push(`${ref} >= ?`);
          params.push(from);
        }
        if (to !== undefined) {
          parts.push(`${ref} <= ?`);
          params.push(to);
        }
      } else {
        if (m.from !== null && m.from !== '') {
          parts.push(`${ref} >= ?`);
          params.push(norm(m.from));
        }
        // Compare only as many characters as the bound has: "-1030" includes 10:30:59 (TM precision, PS3.5 6.2).
        if (m.to !== null && m.to !== '') {
          parts.push(`substr(${ref}, 1, ?) <= ?`);
          params.push(m.to.length, norm(m.to));
        }
      }
      return parts.length === 0 ? undefined : { sql: parts.join(' AND '), params };
    }
    case 'list': {
      const values: SqlValue[] = [];
      for (const v of m.values) {
        if (kind !== 'int') values.push(norm(v));
        else {
          const n = parseInteger(v);
          if (n !== undefined) values.push(n);
        }
      }
      if (values.length === 0) return { sql: 'FALSE', params: [] };
      return { sql: `${ref} IN (${values.map(() => '?').join(', ')})`, params: values };
    }
  }
}

/**
 * A person name matches the whole value, or any one of its component groups when the key names one group only
 * (PS3.5 6.2.1.1): 山田* finds Yamada^Tarou=山田^太郎=やまだ^たろう by its ideographic group, as a Japanese PACS is
 * searched. A key with its own = is matched against the whole value.
 */
function nameGroups(ref: string, pattern: string, d: PatternDialect): Condition {
  if (pattern.includes('=')) return { sql: d.matches(ref), params: [d.pattern(pattern)] };
  const groups = [pattern, `${pattern}=*`, `*=${pattern}`, `*=${pattern}=*`];
  return { sql: `(${groups.map(() => d.matches(ref)).join(' OR ')})`, params: groups.map((g) => d.pattern(g)) };
}

function parseInteger(v: string): number | undefined {
  const t = v.trim();
  return /^[+-]?\d+$/.test(t) && Number.isSafeInteger(Number(t)) ? Number(t) : undefined;
}
