/**
 * An in-memory data set (PS3.5 section 7): elements keyed by tag, values as little-endian bytes of the value
 * field, sequences as item data sets, encapsulated pixel data as fragments (PS3.5 A.4).
 */
import { CharacterSets } from './character-sets.ts';
import { DicomError } from './errors.ts';
import {
  codingOf,
  decodeNumbers,
  decodeText,
  encodeNumbers,
  encodeText,
  formatAt,
  padByteFor,
  padTo,
  type TextCoding,
} from './values.ts';
import { BINARY_UNIT, TEXT_VRS, type Vr } from './vr.ts';

export interface Element {
  readonly tag: number;
  readonly vr: Vr;
  /** Value field bytes, always little endian (a big-endian source is swapped on read), padding kept. */
  readonly bytes?: Buffer;
  /** Items of a sequence (SQ). */
  readonly items?: Dataset[];
  /** Encapsulated pixel data: [basic offset table, ...fragments] (PS3.5 A.4). */
  readonly fragments?: Buffer[];
}

export type DatasetValue = string | readonly string[] | number | readonly number[] | Buffer | readonly Dataset[];

const SPECIFIC_CHARACTER_SET = 0x00080005;
const EMPTY = Buffer.alloc(0);

/** Items inherit the Specific Character Set of the data set that holds them (PS3.5 7.5.3). */
const parents = new WeakMap<Dataset, Dataset>();

export function adoptItems(parent: Dataset, items: readonly Dataset[]): void {
  for (const item of items) parents.set(item, parent);
}

export class Dataset {
  readonly #elements = new Map<number, Element>();
  #sorted: number[] | undefined = [];
  #lastTag = -1;

  get size(): number {
    return this.#elements.size;
  }

  get(tag: number): Element | undefined {
    return this.#elements.get(tag);
  }

  has(tag: number): boolean {
    return this.#elements.has(tag);
  }

  delete(tag: number): boolean {
    const removed = this.#elements.delete(tag);
    if (removed) this.#sorted = undefined;
    return removed;
  }

  setElement(el: Element): this {
    const replacing = this.#elements.has(el.tag);
    this.#elements.set(el.tag, el);
    if (el.items !== undefined) adoptItems(this, el.items);
    if (!replacing) {
      if (this.#sorted !== undefined && el.tag > this.#lastTag) this.#sorted.push(el.tag);
      else this.#sorted = undefined;
      if (el.tag > this.#lastTag) this.#lastTag = el.tag;
    }
    return this;
  }

  /**
   * Sets an element from a JavaScript value: text for string VRs (numbers are formatted for IS/DS), numbers for
   * binary VRs, a Buffer for raw little-endian bytes, data sets for SQ. Text is encoded in this data set's
   * character set, so set SpecificCharacterSet first.
   */
  set(tag: number, vr: Vr, value: DatasetValue): this {
    if (vr === 'SQ') {
      if (!Array.isArray(value) || !value.every((v) => v instanceof Dataset)) {
        throw new DicomError('BAD_VALUE', `a sequence needs an array of data sets`);
      }
      return this.setElement({ tag, vr, items: [...(value as readonly Dataset[])] });
    }
    if (Buffer.isBuffer(value)) return this.setElement({ tag, vr, bytes: padTo(value, padByteFor(vr)) });
    const list: readonly unknown[] = Array.isArray(value) ? value : [value];
    if (TEXT_VRS.has(vr)) {
      if (!list.every((v) => typeof v === 'string' || typeof v === 'number'))
        throw new DicomError('BAD_VALUE', `${vr} needs text`);
      return this.setElement({ tag, vr, bytes: encodeText(vr, list as (string | number)[], this.#coding()) });
    }
    if (!list.every((v) => typeof v === 'number')) throw new DicomError('BAD_VALUE', `${vr} needs numbers or a Buffer`);
    return this.setElement({ tag, vr, bytes: encodeNumbers(vr, list as number[]) });
  }

  /** First value, padding removed; undefined if absent or empty. */
  string(tag: number): string | undefined {
    const v = this.strings(tag)[0];
    return v === undefined || v === '' ? undefined : v;
  }

  /** All values: text split on backslash, or binary numbers formatted (AT as 8 hex digits). */
  strings(tag: number): string[] {
    const el = this.#elements.get(tag);
    if (el?.bytes === undefined) return [];
    if (TEXT_VRS.has(el.vr)) return decodeText(el.vr, el.bytes, this.#coding());
    if (el.vr === 'AT') return decodeNumbers('AT', el.bytes).map(formatAt);
    if (
      BINARY_UNIT[el.vr] !== undefined &&
      el.vr !== 'OW' &&
      el.vr !== 'OF' &&
      el.vr !== 'OD' &&
      el.vr !== 'OL' &&
      el.vr !== 'OV'
    ) {
      return decodeNumbers(el.vr, el.bytes).map(String);
    }
    return [];
  }

  /** First numeric value of US UL SS SL FL FD SV UV IS DS; undefined if absent, empty or not a number. */
  number(tag: number): number | undefined {
    return this.numbers(tag, 1)[0];
  }

  numbers(tag: number, max = Infinity): number[] {
    const el = this.#elements.get(tag);
    if (el?.bytes === undefined) return [];
    if (el.vr === 'IS' || el.vr === 'DS') {
      const out: number[] = [];
      for (const s of decodeText(el.vr, el.bytes, CharacterSets.DEFAULT)) {
        if (out.length >= max) break;
        const n = s === '' ? Number.NaN : Number(s);
        if (Number.isNaN(n)) return out;
        out.push(n);
      }
      return out;
    }
    if (BINARY_UNIT[el.vr] === undefined || el.vr === 'AT') return [];
    return decodeNumbers(el.vr, el.bytes, max);
  }

  items(tag: number): Dataset[] {
    return this.#elements.get(tag)?.items ?? [];
  }

  *[Symbol.iterator](): IterableIterator<Element> {
    const order = this.#order();
    for (const tag of order) {
      const el = this.#elements.get(tag);
      if (el !== undefined) yield el;
    }
  }

  #order(): number[] {
    if (this.#sorted === undefined) this.#sorted = [...this.#elements.keys()].sort((a, b) => a - b);
    return this.#sorted;
  }

  #coding(): TextCoding {
    // oxlint-disable-next-line typescript/no-this-alias -- walks up from this data set through the ones that hold it
    let ds: Dataset | undefined = this;
    while (ds !== undefined) {
      const cs = ds.get(SPECIFIC_CHARACTER_SET);
      if (cs !== undefined) return codingOf(cs.bytes ?? EMPTY);
      ds = parents.get(ds);
    }
    return CharacterSets.DEFAULT;
  }
}
