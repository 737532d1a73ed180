/**
 * Specific Character Set (0008,0005): how a data set's text turns into strings (PS3.5 section 6.1, PS3.3 C.12.1.1.2).
 * Every defined term is read: the single-byte sets (ISO 8859 parts, Thai, Japanese katakana), UTF-8, GB18030 and GBK
 * without code extensions, and with them (ISO 2022): escape sequences that switch G0 between ASCII, JIS X 0201 romaji,
 * JIS X 0208 and JIS X 0212, and G1 between the single-byte sets, JIS X 0201 katakana, KS X 1001 and GB 2312. The
 * multi-byte sets are decoded by the runtime's own decoders (TextDecoder, ICU), each run of bytes re-expressed in the
 * EUC form those decoders read; no code table is typed here.
 *
 * Text is written in the data set's sets too: the single-byte sets, GB18030 and GBK by iconv-lite's encoders, and with
 * code extensions each character in the first declared set that holds it, behind the escape sequence that designates
 * that set, back in the value's initial sets before each delimiter and at the value's end (PS3.5 6.1.2.5.3, as the
 * examples of Annexes H, I and J place them). The node declares ISO_IR 192 on what it makes, and answers a query in
 * the set the query declared where every value fits in it.
 */
import iconv from 'iconv-lite';

import { DicomError } from './errors.ts';

const ESC = 0x1b;

type G0 = 'ascii' | 'romaji' | 'jisx0208' | 'jisx0212';
/** A G1 set: a single-byte right half (an ISO 8859 part, by its decoder's label), katakana, or a double-byte set. */
type G1 = { single: string } | 'katakana' | 'ksx1001' | 'gb2312' | undefined;

interface State {
  g0: G0;
  g1: G1;
}

/** The right halves of the single-byte sets, by their ISO 2022 final byte (ESC - F) and their defined term. */
const SINGLE_BYTE: readonly { ir: string; final: string; label: string }[] = [
  { ir: '100', final: 'A', label: 'latin1' },
  { ir: '101', final: 'B', label: 'iso-8859-2' },
  { ir: '109', final: 'C', label: 'iso-8859-3' },
  { ir: '110', final: 'D', label: 'iso-8859-4' },
  { ir: '144', final: 'L', label: 'iso-8859-5' },
  { ir: '127', final: 'G', label: 'iso-8859-6' },
  { ir: '126', final: 'F', label: 'iso-8859-7' },
  { ir: '138', final: 'H', label: 'iso-8859-8' },
  { ir: '148', final: 'M', label: 'iso-8859-9' },
  { ir: '203', final: 'b', label: 'iso-8859-15' },
  { ir: '166', final: 'T', label: 'windows-874' },
];

/** Every defined term of Specific Character Set this node reads (PS3.3 C.12.1.1.2), for the conformance statement. */
export const CHARACTER_SET_TERMS: readonly string[] = [
  'ISO_IR 6 (default repertoire, no value)',
  ...SINGLE_BYTE.map((s) => `ISO_IR ${s.ir}`),
  'ISO_IR 13',
  'ISO_IR 192',
  'GB18030',
  'GBK',
  'ISO 2022 IR 6',
  ...SINGLE_BYTE.map((s) => `ISO 2022 IR ${s.ir}`),
  'ISO 2022 IR 13',
  'ISO 2022 IR 87',
  'ISO 2022 IR 159',
  'ISO 2022 IR 149',
  'ISO 2022 IR 58',
];

/** Whether this node reads and writes every defined term of a Specific Character Set value (the first may be empty). */
export function isKnownCharacterSet(terms: readonly string[]): boolean {
  return terms.every((t, i) => (i === 0 && t === '') || CHARACTER_SET_TERMS.includes(t));
}

/** Escape sequences (after ESC) and the designation each makes (PS3.3 Tables C.12-3 and C.12-4). */
const ESCAPES: ReadonlyMap<string, Partial<State>> = new Map<string, Partial<State>>([
  ['(B', { g0: 'ascii' }],
  ['(J', { g0: 'romaji' }],
  ['$B', { g0: 'jisx0208' }],
  ['$(D', { g0: 'jisx0212' }],
  [')I', { g1: 'katakana' }],
  ['$)C', { g1: 'ksx1001' }],
  ['$)A', { g1: 'gb2312' }],
  ...SINGLE_BYTE.map((s): [string, Partial<State>] => [`-${s.final}`, { g1: { single: s.label } }]),
]);

const decoders = new Map<string, InstanceType<typeof TextDecoder>>();
function decoder(label: string): InstanceType<typeof TextDecoder> {
  let d = decoders.get(label);
  if (d === undefined) {
    d = new TextDecoder(label);
    decoders.set(label, d);
  }
  return d;
}

/** Bytes of one decoder, gathered until the set changes. */
class Runs {
  #label = '';
  #bytes: number[] = [];
  #out = '';

  push(label: string, ...bytes: number[]): void {
    if (label !== this.#label) this.flush(label);
    this.#bytes.push(...bytes);
  }

  text(t: string): void {
    this.flush('');
    this.#out += t;
  }

  flush(next = ''): void {
    if (this.#bytes.length > 0) {
      const bytes = Uint8Array.from(this.#bytes);
      this.#out +=
        this.#label === 'latin1' ? Buffer.from(bytes).toString('latin1') : decoder(this.#label).decode(bytes);
    }
    this.#bytes = [];
    this.#label = next;
  }

  done(): string {
    this.flush();
    return this.#out;
  }
}

/** A data set's character sets, read from Specific Character Set. */
export class CharacterSets {
  /** Whether text is written as UTF-8 (ISO_IR 192). */
  readonly utf8: boolean;
  /** A decoder for the whole value, where there are no code extensions. */
  readonly #whole: string | undefined;
  /** The designations each value starts with, where there are code extensions (ISO 2022). */
  readonly #initial: State | undefined;
  /** The sets a value may switch to, where there are code extensions, in the order they were declared. */
  readonly #declared: readonly (G0 | G1)[];

  private constructor(terms: readonly string[]) {
    const first = terms[0] ?? '';
    this.utf8 = first === 'ISO_IR 192';
    if (!terms.some((t) => t.startsWith('ISO 2022'))) {
      this.#whole = wholeDecoderOf(first);
      this.#initial = undefined;
      this.#declared = [];
      return;
    }
    this.#whole = undefined;
    this.#initial = initialStateOf(first);
    this.#declared = terms.flatMap(setsOf);
  }

  static #cache = new Map<string, CharacterSets>();

  /** The character sets a Specific Character Set value names (backslash-separated defined terms; empty: the default). */
  static of(value: string): CharacterSets {
    let sets = CharacterSets.#cache.get(value);
    if (sets === undefined) {
      const terms = value.split('\\').map((t) => t.trim());
      sets = new CharacterSets(terms);
      if (CharacterSets.#cache.size < 256) CharacterSets.#cache.set(value, sets);
    }
    return sets;
  }

  static readonly DEFAULT = CharacterSets.of('');

  /**
   * A text value (all its values, backslashes included) as a string. `delimiters`: the characters after which the
   * designations go back to the value's initial ones (PS3.5 6.1.2.5.3): ^ and = in person names, CR LF FF and TAB in
   * text, the backslash between values.
   */
  decode(bytes: Buffer, delimiters: string): string {
    if (this.#whole !== undefined)
      return this.#whole === 'latin1' ? bytes.toString('latin1') : decoder(this.#whole).decode(bytes);
    return this.#decodeIso2022(bytes, this.#initial!, delimiters);
  }

  /**
   * A text value (all its values, backslashes included) in these sets; `delimiters` as for decode. Throws a
   * DicomError (BAD_VALUE) naming the first character none of the sets holds.
   */
  encode(text: string, delimiters: string): Buffer {
    if (this.#whole === 'utf-8') return Buffer.from(text, 'utf8');
    const bytes =
      this.#whole === undefined
        ? this.#encodeIso2022(text, this.#initial!, delimiters)
        : this.#whole === 'latin1'
          ? Buffer.from(text, 'latin1')
          : iconv.encode(text, this.#whole);
    // The encoders write what they cannot represent as a substitute ('?'): reading it back says whether it all fit.
    if (this.decode(bytes, delimiters) !== text) {
      let lost = '';
      for (const c of text)
        if (this.decode(this.#encodeOne(c), delimiters) !== c) {
          lost = c;
          break;
        }
      throw new DicomError('BAD_VALUE', `${JSON.stringify(lost)} cannot be written in this Specific Character Set`);
    }
    return bytes;
  }

  #encodeOne(c: string): Buffer {
    if (this.#whole === undefined) return this.#encodeIso2022(c, this.#initial!, '');
    return this.#whole === 'latin1' ? Buffer.from(c, 'latin1') : iconv.encode(c, this.#whole);
  }

  #encodeIso2022(text: string, initial: State, delimiters: string): Buffer {
    const out: number[] = [];
    let s: State = { ...initial };
    const designate = (next: Partial<State>): void => {
      const escape = [...ESCAPES].find(([, d]) => sameDesignation(d, next))?.[0];
      if (escape === undefined) return;
      out.push(ESC, ...Buffer.from(escape, 'latin1'));
      s = { ...s, ...next };
    };
    /** Back to the value's initial G0 (G1 needs no escape: a reader resets it at a delimiter by itself). */
    const backToInitial = (): void => {
      if (s.g0 !== initial.g0) designate({ g0: initial.g0 });
    };
    for (const c of text) {
      const code = c.codePointAt(0) ?? 0;
      if (code < 0x80) {
        // Romaji differs from ASCII in two places only.
        const holds = (g0: G0): boolean => g0 === 'ascii' || (g0 === 'romaji' && c !== '\\' && c !== '~');
        // A delimiter goes in the value's initial G0 where that holds it, so that a reader's reset changes nothing.
        if (delimiters.includes(c) && holds(initial.g0)) backToInitial();
        else if (!holds(s.g0)) designate({ g0: holds(initial.g0) ? initial.g0 : 'ascii' });
        out.push(code);
        if (delimiters.includes(c)) s = { ...initial };
        continue;
      }
      const written = this.#inDeclaredSet(c, s);
      if (written === undefined) {
        // Not in any declared set: a substitute the caller's check finds.
        out.push(0x3f);
        continue;
      }
      if (written.set !== undefined) designate(written.set);
      out.push(...written.bytes);
    }
    backToInitial();
    return Buffer.from(out);
  }

  /** The bytes of a character in the set that holds it (the designated one first), and the designation it needs. */
  #inDeclaredSet(c: string, s: State): { bytes: number[]; set?: Partial<State> } | undefined {
    const candidates = [s.g0, s.g1, ...this.#declared].filter((x, i, all) => all.indexOf(x) === i);
    for (const set of candidates) {
      const bytes = bytesIn(c, set);
      if (bytes === undefined) continue;
      const isG0 = set === 'jisx0208' || set === 'jisx0212';
      const current = isG0 ? s.g0 === set : sameG1(s.g1, set as G1);
      return { bytes, ...(current ? {} : { set: isG0 ? { g0: set } : { g1: set as G1 } }) };
    }
    return undefined;
  }

  #decodeIso2022(bytes: Buffer, initial: State, delimiters: string): string {
    const runs = new Runs();
    let s: State = { ...initial };
    for (let i = 0; i < bytes.length;) {
      const b = bytes[i]!;
      if (b === ESC) {
        const found = escapeAt(bytes, i);
        if (found !== undefined) {
          s = { ...s, ...found.designates };
          i += found.length;
          continue;
        }
        runs.push('latin1', b);
        i++;
        continue;
      }
      if (b < 0x80) {
        if ((s.g0 === 'jisx0208' || s.g0 === 'jisx0212') && b > 0x20 && i + 1 < bytes.length) {
          // Two 7-bit bytes, in the EUC-JP form the decoder reads (JIS X 0212 behind its single shift 0x8F).
          const pair = [b | 0x80, bytes[i + 1]! | 0x80];
          if (s.g0 === 'jisx0212') runs.push('euc-jp', 0x8f, ...pair);
          else runs.push('euc-jp', ...pair);
          i += 2;
          continue;
        }
        const c = String.fromCharCode(b);
        if (s.g0 === 'romaji' && (b === 0x5c || b === 0x7e)) runs.text(b === 0x5c ? '\u00a5' : '\u203e');
        else runs.push('latin1', b);
        if (delimiters.includes(c)) s = { ...initial };
        i++;
        continue;
      }
      const g1 = s.g1;
      if ((g1 === 'ksx1001' || g1 === 'gb2312') && i + 1 < bytes.length) {
        runs.push(g1 === 'ksx1001' ? 'euc-kr' : 'gb18030', b, bytes[i + 1]!);
        i += 2;
      } else if (g1 === 'katakana') {
        runs.push('euc-jp', 0x8e, b);
        i++;
      } else {
        runs.push(typeof g1 === 'object' ? g1.single : 'latin1', b);
        i++;
      }
    }
    return runs.done();
  }
}

function escapeAt(bytes: Buffer, at: number): { designates: Partial<State>; length: number } | undefined {
  for (const length of [3, 4]) {
    const key = bytes.subarray(at + 1, at + length).toString('latin1');
    const designates = ESCAPES.get(key);
    if (designates !== undefined) return { designates, length };
  }
  return undefined;
}

/** The decoder of a set without code extensions, by its defined term; an unknown term reads as ISO 8859-1. */
function wholeDecoderOf(term: string): string {
  if (term === 'ISO_IR 192') return 'utf-8';
  if (term === 'GB18030') return 'gb18030';
  if (term === 'GBK') return 'gbk';
  if (term === 'ISO_IR 13') return 'shift_jis';
  const single = SINGLE_BYTE.find((s) => term === `ISO_IR ${s.ir}`);
  return single?.label ?? 'latin1';
}

/** Where each value starts, with code extensions: the designations of the first defined term (PS3.3 C.12.1.1.2). */
function initialStateOf(written: string): State {
  // A first value without code extensions (ISO_IR 100) beside ISO 2022 ones designates the same set.
  const term = written.replace(/^ISO_IR /, 'ISO 2022 IR ');
  if (term === 'ISO 2022 IR 13') return { g0: 'romaji', g1: 'katakana' };
  if (term === 'ISO 2022 IR 149') return { g0: 'ascii', g1: 'ksx1001' };
  if (term === 'ISO 2022 IR 58') return { g0: 'ascii', g1: 'gb2312' };
  const single = SINGLE_BYTE.find((s) => term === `ISO 2022 IR ${s.ir}`);
  return { g0: 'ascii', g1: single !== undefined ? { single: single.label } : undefined };
}

/** The sets a defined term with code extensions makes available. */
function setsOf(term: string): (G0 | G1)[] {
  const t = term.replace(/^ISO_IR /, 'ISO 2022 IR ');
  if (t === 'ISO 2022 IR 87') return ['jisx0208'];
  if (t === 'ISO 2022 IR 159') return ['jisx0212'];
  if (t === 'ISO 2022 IR 13') return ['katakana'];
  if (t === 'ISO 2022 IR 149') return ['ksx1001'];
  if (t === 'ISO 2022 IR 58') return ['gb2312'];
  const single = SINGLE_BYTE.find((x) => t === `ISO 2022 IR ${x.ir}`);
  return single !== undefined ? [{ single: single.label }] : [];
}

const sameG1 = (a: G1, b: G1): boolean =>
  typeof a === 'object' && typeof b === 'object' ? a.single === b.single : a === b;

function sameDesignation(a: Partial<State>, b: Partial<State>): boolean {
  if (b.g0 !== undefined) return a.g0 === b.g0;
  return a.g1 !== undefined && b.g1 !== undefined && sameG1(a.g1, b.g1);
}

/**
 * A non-ASCII character as it is written in one set (7-bit pairs in G0 for JIS X 0208 and 0212, high-bit bytes in G1
 * for the others), by the EUC forms of iconv-lite's encoders; undefined when that set does not hold it.
 */
function bytesIn(c: string, set: G0 | G1): number[] | undefined {
  if (set === undefined || set === 'ascii' || set === 'romaji') return undefined;
  if (typeof set === 'object') {
    const b = set.single === 'latin1' ? Buffer.from(c, 'latin1') : iconv.encode(c, set.single);
    return b.length === 1 && b[0]! >= 0xa0 && iconv.decode(b, set.single) === c ? [b[0]!] : undefined;
  }
  const euc =
    set === 'ksx1001'
      ? iconv.encode(c, 'euc-kr')
      : set === 'gb2312'
        ? iconv.encode(c, 'gb2312')
        : iconv.encode(c, 'euc-jp');
  const high = (b: number | undefined): boolean => b !== undefined && b >= 0xa1 && b <= 0xfe;
  if (set === 'jisx0208' && euc.length === 2 && high(euc[0]) && high(euc[1])) return [euc[0]! & 0x7f, euc[1]! & 0x7f];
  if (set === 'jisx0212' && euc.length === 3 && euc[0] === 0x8f && high(euc[1]) && high(euc[2]))
    return [euc[1]! & 0x7f, euc[2]! & 0x7f];
  if (set === 'katakana' && euc.length === 2 && euc[0] === 0x8e) return [euc[1]!];
  if ((set === 'ksx1001' || set === 'gb2312') && euc.length === 2 && high(euc[0]) && high(euc[1])) return [...euc];
  return undefined;
}
