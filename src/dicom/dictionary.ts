/**
 * The data dictionary of PS3.6: every data element (section 6, retired ones included), the file meta elements (section
 * 7) and the item tags (section 8), generated from the standard's own tables (see scripts/generate-dictionary.ts).
 * Tags are `(group << 16) | element` as unsigned numbers; `Tag.PatientID` has the literal type 0x00100020.
 */
import dictionary from './dictionary-data.json' with { type: 'json' };
import type { TagTable } from './dictionary-tags.ts';
import type { Vr } from './vr.ts';

type Described = [vr: Vr, vm: string, retired: boolean, alternatives?: string];
type Element = [keyword: string, tag: number, ...Described];
// The JSON is the generator's output, checked there; tags are written in hex as PS3.6 writes them.
const ELEMENTS: readonly Element[] = (dictionary.elements as [string, string, ...Described][]).map(
  ([keyword, hex, ...described]) => [keyword, Number.parseInt(hex, 16), ...described],
);
// A tag is one of these when (tag & mask) equals the element's tag, whose x digits are 0.
const REPEATING_ELEMENTS = (dictionary.repeating as [string, string, string, ...Described][]).map(
  ([keyword, hex, mask, ...described]) => ({
    mask: Number.parseInt(mask, 16),
    element: [keyword, Number.parseInt(hex, 16), ...described] satisfies Element,
  }),
);

// The elements of repeating groups are found by dictionaryEntry and keywordOf; `Tag` names one tag per keyword.
const tags: Readonly<Record<string, number>> = Object.freeze(Object.fromEntries(ELEMENTS.map((e) => [e[0], e[1]])));
export const Tag = tags as TagTable;
export type TagKeyword = keyof TagTable;

/** What PS3.6 says of one data element. */
export interface DictionaryEntry {
  keyword: string;
  /** The VR implicit VR data is read by (OW where the standard allows OB or OW, US for US or SS). */
  vr: Vr;
  /** The standard's VR column, where it offers more than one: ['US', 'SS'], ['OB', 'OW']. */
  alternatives?: readonly Vr[];
  /** Value multiplicity as PS3.6 writes it: '1', '1-n', '2-2n', '3'. */
  vm: string;
  retired: boolean;
}

const entryOf = (e: Element): DictionaryEntry => ({
  keyword: e[0],
  vr: e[2],
  vm: e[3],
  retired: e[4],
  ...(e[5] !== undefined ? { alternatives: e[5].split('|') as Vr[] } : {}),
});

const byTag = new Map<number, Element>(ELEMENTS.map((e) => [e[1], e]));

/** The dictionary's entry for a tag, repeating groups (60xx overlays, 50xx curves) included; private tags have none. */
export function dictionaryEntry(tag: number): DictionaryEntry | undefined {
  const fixed = byTag.get(tag);
  if (fixed !== undefined) return entryOf(fixed);
  if (((tag >>> 16) & 1) === 1) return undefined; // private: repeating groups are even (6000-601E)
  const repeating = REPEATING_ELEMENTS.find(({ mask, element }) => (tag & mask) >>> 0 === element[1]);
  return repeating !== undefined ? entryOf(repeating.element) : undefined;
}

export function keywordOf(tag: number): string | undefined {
  return byTag.get(tag)?.[0] ?? dictionaryEntry(tag)?.keyword;
}

/**
 * The dictionary VR, used to read implicit VR data (PS3.5 A.1). Group lengths are UL and private creators LO by
 * rule (PS3.5 7.2, 7.8.1), whatever the group; any other private element has no VR here, and is kept as it came.
 */
export function vrOf(tag: number): Vr | undefined {
  const known = byTag.get(tag)?.[2];
  if (known !== undefined) return known;
  const element = tag & 0xffff;
  if (element === 0) return 'UL';
  const group = tag >>> 16;
  if ((group & 1) === 1) return element >= 0x10 && element <= 0xff ? 'LO' : undefined;
  return dictionaryEntry(tag)?.vr;
}

/** '(0010,0020)' */
export function formatTag(tag: number): string {
  const hex = (tag >>> 0).toString(16).toUpperCase().padStart(8, '0');
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}
