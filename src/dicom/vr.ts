/** Value Representations (PS3.5 section 6.2). */
export type Vr =
  | 'AE'
  | 'AS'
  | 'AT'
  | 'CS'
  | 'DA'
  | 'DS'
  | 'DT'
  | 'FD'
  | 'FL'
  | 'IS'
  | 'LO'
  | 'LT'
  | 'OB'
  | 'OD'
  | 'OF'
  | 'OL'
  | 'OV'
  | 'OW'
  | 'PN'
  | 'SH'
  | 'SL'
  | 'SQ'
  | 'SS'
  | 'ST'
  | 'SV'
  | 'TM'
  | 'UC'
  | 'UI'
  | 'UL'
  | 'UN'
  | 'UR'
  | 'US'
  | 'UT'
  | 'UV';

const ALL: readonly Vr[] = [
  'AE',
  'AS',
  'AT',
  'CS',
  'DA',
  'DS',
  'DT',
  'FD',
  'FL',
  'IS',
  'LO',
  'LT',
  'OB',
  'OD',
  'OF',
  'OL',
  'OV',
  'OW',
  'PN',
  'SH',
  'SL',
  'SQ',
  'SS',
  'ST',
  'SV',
  'TM',
  'UC',
  'UI',
  'UL',
  'UN',
  'UR',
  'US',
  'UT',
  'UV',
];

/** Lookup from the two VR bytes read as a 16-bit big-endian number, so the parser never builds a string. */
const byCode = new Map<number, Vr>(ALL.map((vr) => [(vr.charCodeAt(0) << 8) | vr.charCodeAt(1), vr]));

export function vrFromBytes(b0: number, b1: number): Vr | undefined {
  return byCode.get((b0 << 8) | b1);
}

export function isVr(s: string): s is Vr {
  return (ALL as readonly string[]).includes(s);
}

/** Explicit VRs whose header has 2 reserved bytes and a 32-bit length (PS3.5 7.1.2, table 7.1-1). */
export const LONG_LENGTH_VRS: ReadonlySet<Vr> = new Set<Vr>([
  'OB',
  'OD',
  'OF',
  'OL',
  'OV',
  'OW',
  'SQ',
  'UC',
  'UN',
  'UR',
  'UT',
  'SV',
  'UV',
]);

/** Byte size of one value for binary VRs, i.e. the unit a big-endian source must be swapped in (PS3.5 7.3). */
export const BINARY_UNIT: Readonly<Partial<Record<Vr, 2 | 4 | 8>>> = {
  US: 2,
  SS: 2,
  OW: 2,
  AT: 2,
  UL: 4,
  SL: 4,
  FL: 4,
  OF: 4,
  OL: 4,
  FD: 8,
  OD: 8,
  SV: 8,
  UV: 8,
  OV: 8,
};

/** Character-string VRs; values are text, multi-valued ones split on backslash (PS3.5 6.2). */
export const TEXT_VRS: ReadonlySet<Vr> = new Set<Vr>([
  'AE',
  'AS',
  'CS',
  'DA',
  'DS',
  'DT',
  'IS',
  'LO',
  'LT',
  'PN',
  'SH',
  'ST',
  'TM',
  'UC',
  'UI',
  'UR',
  'UT',
]);

/** Text VRs that hold exactly one value and may contain a backslash (PS3.5 6.2: LT, ST, UT, UR). */
export const SINGLE_VALUED_TEXT_VRS: ReadonlySet<Vr> = new Set<Vr>(['LT', 'ST', 'UT', 'UR']);
