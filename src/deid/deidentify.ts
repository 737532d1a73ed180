import { createHmac } from 'node:crypto';
import { codeItem, Dataset, type Element, Tag, uidFromBytes, type Vr } from '../dicom/index.ts';
import {
  BASIC_PROFILE,
  type BasicAction,
  PRIVATE_PROFILE,
  type ProfileOption,
  type ProfileRow,
  REPEATING_PROFILE,
} from './basic-profile.ts';
import { mayHaveTextInPixels } from './text-in-pixels.ts';

/** The options of PS3.15 E.3 a sender may pick; each off means the Basic Profile's own action. */
export interface DeidOptions {
  /** Retain Longitudinal Temporal Information with Full Dates Option (E.3.6): dates and times kept as they are. */
  retainLongitudinalDates: boolean;
  /** Retain Device Identity Option (E.3.3): the scanner's name, serial number and station kept. */
  retainDeviceIdentity: boolean;
  /** Clean Descriptors Option (E.3.5): descriptions kept, with the patient's own names, ids and dates taken out. */
  cleanDescriptors: boolean;
}

/**
 * What the action of a row comes to once resolved: the profile's letters, and U* for a sequence whose items are kept
 * with the UIDs in them replaced.
 */
export type Action = 'X' | 'Z' | 'D' | 'K' | 'C' | 'U' | 'U*';

const OPTION_COLUMN: Record<keyof DeidOptions, ProfileOption> = {
  retainLongitudinalDates: 'retainLongitudinalFullDates',
  retainDeviceIdentity: 'retainDeviceIdentity',
  cleanDescriptors: 'cleanDescriptors',
};

/**
 * Where the profile lets the application choose (X/Z, X/D, Z/D, X/Z/D: remove unless the IOD needs the attribute),
 * the node takes the choice that keeps every IOD valid without knowing each IOD: an empty or a dummy value carries
 * nothing of the patient either.
 */
const RESOLVED: Record<BasicAction, Action> = {
  D: 'D',
  Z: 'Z',
  X: 'X',
  K: 'K',
  C: 'C',
  U: 'U',
  'Z/D': 'D',
  'X/Z': 'Z',
  'X/D': 'D',
  'X/Z/D': 'D',
  'X/Z/U*': 'U*',
};

function rowOf(tag: number): ProfileRow | undefined {
  if (((tag >>> 16) & 1) === 1) return PRIVATE_PROFILE;
  const row = BASIC_PROFILE.get(tag);
  if (row !== undefined) return row;
  for (const [mask, value, r] of REPEATING_PROFILE) if ((tag & mask) >>> 0 === value) return r;
  return undefined;
}

/** The action for an attribute with these options; undefined when Table E.1-1 does not list it (it is kept). */
export function actionFor(tag: number, options: DeidOptions): Action | undefined {
  const row = rowOf(tag);
  if (row === undefined) return undefined;
  const [basic, , byOption] = row;
  const chosen = (Object.keys(OPTION_COLUMN) as (keyof DeidOptions)[])
    .filter((o) => options[o])
    .map((o) => byOption[OPTION_COLUMN[o]])
    .filter((a) => a !== undefined);
  if (chosen.includes('K')) return 'K';
  if (chosen.includes('C')) return 'C';
  return RESOLVED[basic];
}

/** Dummy values (action D) by VR: valid for the VR, and plainly not the patient's. */
const DUMMY_TEXT: Partial<Record<Vr, string>> = {
  AE: 'ANONIEM',
  AS: '000Y',
  CS: 'ANONIEM',
  DA: '19000101',
  DT: '19000101000000',
  TM: '000000',
  DS: '0',
  IS: '0',
  LO: 'ANONIEM',
  LT: 'ANONIEM',
  PN: 'ANONIEM',
  SH: 'ANONIEM',
  ST: 'ANONIEM',
  UC: 'ANONIEM',
  UT: 'ANONIEM',
  UR: 'urn:anoniem',
};
const BINARY_DUMMY_BYTES: Partial<Record<Vr, number>> = {
  AT: 4,
  FL: 4,
  FD: 8,
  SL: 4,
  SS: 2,
  UL: 4,
  US: 2,
  SV: 8,
  UV: 8,
};
const TEXTUAL: ReadonlySet<Vr> = new Set(Object.keys(DUMMY_TEXT) as Vr[]);

/** Whether identifying text may be burned into the pixels, which the Basic Profile does not touch. */
export type BurnedIn = 'yes' | 'no' | 'unknown';

export function burnedInOf(ds: Dataset): BurnedIn {
  const flag = ds.string(Tag.BurnedInAnnotation)?.toUpperCase();
  if (flag === 'YES') return 'yes';
  if (flag === 'NO') return 'no';
  return mayHaveTextInPixels(ds.string(Tag.Modality) ?? '') ? 'unknown' : 'no';
}

/** CID 7050 codes for the profile and each option applied (PS3.16), as De-identification Method Code Sequence holds. */
const METHOD_CODES: readonly [code: string, meaning: string, option?: keyof DeidOptions][] = [
  ['113100', 'Basic Application Confidentiality Profile'],
  ['113106', 'Retain Longitudinal Temporal Information Full Dates Option', 'retainLongitudinalDates'],
  ['113109', 'Retain Device Identity Option', 'retainDeviceIdentity'],
  ['113105', 'Clean Descriptors Option', 'cleanDescriptors'],
];

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * De-identification by the PS3.15 Annex E Basic Profile and the options picked, one data set at a time, with a key of
 * its own: the same key gives the same new UIDs and the same pseudonym for every instance of a share and every
 * download of it, without a table to keep. Pixel data is not touched (the Clean Pixel Data option is not claimed):
 * `apply` says whether text may be burned in, so the sender and the recipient can be told.
 */
export class Deidentifier {
  readonly #options: DeidOptions;
  readonly #key: Buffer;
  /** Each tag's action under these options, worked out once: a share's instances repeat the same tags. */
  readonly #actions = new Map<number, Action | undefined>();

  constructor(options: DeidOptions, key: Buffer) {
    this.#options = options;
    this.#key = key;
  }

  /** The UID that stands for `uid` under this key: a '2.25.' UID from a keyed hash (PS3.5 B.2). */
  uid(uid: string): string {
    return uidFromBytes(this.#hash(`uid:${uid}`));
  }

  /** The Patient ID that stands for the patient's own: the same for each instance of the patient under this key. */
  pseudonym(patientId: string): string {
    return `ANON${this.#hash(`patient:${patientId}`).toString('hex').slice(0, 12).toUpperCase()}`;
  }

  /** De-identifies `ds` in place; says whether identifying text may remain in the pixels. */
  apply(ds: Dataset): { burnedIn: BurnedIn } {
    const burnedIn = burnedInOf(ds);
    const patientId = ds.string(Tag.PatientID) ?? '';
    // Only cleaning (C) uses them: with no option that cleans, the regular expression is not built per instance.
    const cleans = this.#options.cleanDescriptors || this.#options.retainDeviceIdentity;
    this.#walk(ds, cleans ? identifiersIn(ds) : undefined);
    ds.set(Tag.PatientName, 'PN', 'ANONIEM').set(Tag.PatientID, 'LO', this.pseudonym(patientId));
    ds.set(Tag.PatientIdentityRemoved, 'CS', 'YES')
      .set(Tag.DeidentificationMethod, 'LO', 'PS3.15 E.1 Basic Profile (Beeldbrug)')
      .set(
        Tag.DeidentificationMethodCodeSequence,
        'SQ',
        METHOD_CODES.filter(([, , option]) => option === undefined || this.#options[option]).map(([code, meaning]) =>
          codeItem(code, 'DCM', meaning),
        ),
      )
      .set(
        Tag.LongitudinalTemporalInformationModified,
        'CS',
        this.#options.retainLongitudinalDates ? 'UNMODIFIED' : 'REMOVED',
      );
    return { burnedIn };
  }

  #walk(ds: Dataset, identifiers: RegExp | undefined): void {
    // A copy of the list: elements are deleted and replaced on the way.
    for (const el of Array.from(ds)) {
      // Group lengths are retired, and wrong once anything in their group changes.
      if ((el.tag & 0xffff) === 0 && el.tag >>> 16 > 0x0002) {
        ds.delete(el.tag);
        continue;
      }
      const action = this.#actionFor(el.tag);
      if (action === undefined || action === 'K' || action === 'U*') {
        for (const item of el.items ?? []) this.#walk(item, identifiers);
        continue;
      }
      this.#act(ds, el, action, identifiers);
    }
  }

  #act(ds: Dataset, el: Element, action: Exclude<Action, 'K' | 'U*'>, identifiers: RegExp | undefined): void {
    const { tag, vr } = el;
    if (action === 'X') {
      ds.delete(tag);
    } else if (vr === 'SQ') {
      // Z: no items. D: one empty item, so a Type 1 sequence is still there; what a person or a report said in it
      // cannot be told apart from what is safe, so none of it is kept. C (clean structured content) is not offered.
      ds.set(tag, 'SQ', action === 'D' ? [new Dataset()] : []);
    } else if (action === 'Z') {
      ds.setElement({ tag, vr, bytes: Buffer.alloc(0) });
    } else if (action === 'U' || vr === 'UI') {
      // A UID becomes the share's UID for it, whatever the action: consistent across instances, nothing of the original.
      ds.set(
        tag,
        'UI',
        textOf(ds, el).map((uid) => (uid === '' ? uid : this.uid(uid))),
      );
    } else if (action === 'C' && (TEXTUAL.has(vr) || vr === 'UN')) {
      // Cleaning keeps the text with the patient's own identifiers taken out: what else in free text names someone
      // cannot be told mechanically, which is why the option is the sender's choice.
      setText(
        ds,
        el,
        textOf(ds, el).map((v) => (identifiers === undefined ? v : v.replace(identifiers, '***'))),
      );
    } else if (action === 'C') {
      ds.setElement({ tag, vr, bytes: Buffer.alloc(0) });
    } else {
      const text = DUMMY_TEXT[vr === 'UN' ? 'LO' : vr];
      if (text !== undefined) setText(ds, el, [text]);
      else ds.setElement({ tag, vr, bytes: Buffer.alloc(BINARY_DUMMY_BYTES[vr] ?? 2) });
    }
  }

  #actionFor(tag: number): Action | undefined {
    if (!this.#actions.has(tag)) this.#actions.set(tag, actionFor(tag, this.#options));
    return this.#actions.get(tag);
  }

  #hash(s: string): Buffer {
    return createHmac('sha256', this.#key).update(s).digest();
  }
}

/** The values of a text element; an element whose VR is not known (UN) is read as text with its padding dropped. */
function textOf(ds: Dataset, el: Element): string[] {
  if (el.vr !== 'UN') return ds.strings(el.tag);
  return (el.bytes ?? Buffer.alloc(0))
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .split('\\');
}

/** Sets text values on an element; one whose VR is not known (UN) gets them as bytes, as it came. */
function setText(ds: Dataset, el: Element, values: readonly string[]): void {
  if (el.vr !== 'UN') ds.set(el.tag, el.vr, values);
  else ds.setElement({ tag: el.tag, vr: 'UN', bytes: padTo(Buffer.from(values.join('\\'), 'latin1')) });
}

const padTo = (b: Buffer): Buffer => (b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from(' ')]));

/**
 * What identifies the patient in free text, from the data set itself: every person's name part (patient, physicians,
 * operators), the patient's ids and accession number, and the birth date as it is commonly written.
 */
function identifiersIn(ds: Dataset): RegExp | undefined {
  const found = new Set<string>();
  for (const el of ds) {
    if (el.vr === 'PN')
      for (const name of ds.strings(el.tag)) for (const part of name.split(/[\^=\s,.]+/)) found.add(part);
  }
  for (const tag of [Tag.PatientID, Tag.AccessionNumber, Tag.OtherPatientIDs])
    for (const v of ds.strings(tag)) found.add(v);
  for (const item of ds.items(Tag.OtherPatientIDsSequence)) found.add(item.string(Tag.PatientID) ?? '');
  const birth = /^(\d{4})(\d{2})(\d{2})$/.exec(ds.string(Tag.PatientBirthDate) ?? '');
  if (birth !== null) {
    const [, y, m, d] = birth as unknown as [string, string, string, string];
    for (const s of [`${y}${m}${d}`, `${d}-${m}-${y}`, `${d}/${m}/${y}`, `${d}.${m}.${y}`, `${y}-${m}-${d}`])
      found.add(s);
  }
  const words = [...found].map((s) => s.trim()).filter((s) => s.length >= 2);
  if (words.length === 0) return undefined;
  // Longest first, so a whole id goes before a name part inside it; whole words only, so "CT" in "CTA" stays.
  words.sort((a, b) => b.length - a.length);
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${words.map(escapeRegExp).join('|')})(?![\\p{L}\\p{N}])`, 'giu');
}
