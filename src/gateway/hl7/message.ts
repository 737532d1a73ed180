/**
 * HL7 version 2 messages as a RIS sends them (HL7 v2.x chapter 2): segments separated by carriage returns, fields by
 * the separator MSH-1 declares, components, repetitions and subcomponents by the encoding characters of MSH-2, and
 * escape sequences (\F\, \S\, \T\, \R\, \E\, \Xhh\) in text. Only reading and acknowledging; nothing here is sent on.
 */

export class Hl7Error extends Error {
  override readonly name = 'Hl7Error';
}

interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

/** Where the node stops reading: a RIS order is a few kilobytes; anything this large is not one. */
const MAX_SEGMENTS = 1000;

export class Hl7Segment {
  readonly name: string;
  readonly #fields: readonly string[];
  readonly #d: Delimiters;

  constructor(name: string, fields: readonly string[], d: Delimiters) {
    this.name = name;
    this.#fields = fields;
    this.#d = d;
  }

  /** The raw field (its repetitions, components and escapes as sent); '' when absent. MSH-1 is the separator itself. */
  raw(n: number): string {
    return this.#fields[n] ?? '';
  }

  /** Each repetition of a field, raw. */
  repetitions(n: number): string[] {
    const raw = this.raw(n);
    return raw === '' ? [] : raw.split(this.#d.repetition);
  }

  /** A component (1-based) of the first repetition of a field, unescaped; '' when absent. */
  get(n: number, component = 1, subcomponent?: number): string {
    return this.componentOf(this.repetitions(n)[0] ?? '', component, subcomponent);
  }

  /** A component (1-based, and a subcomponent) of one repetition, unescaped. */
  componentOf(repetition: string, component: number, subcomponent?: number): string {
    const c = repetition.split(this.#d.component)[component - 1] ?? '';
    const s = subcomponent !== undefined ? (c.split(this.#d.subcomponent)[subcomponent - 1] ?? '') : c;
    return unescape(s, this.#d);
  }
}

export class Hl7Message {
  readonly segments: readonly Hl7Segment[];
  readonly #d: Delimiters;

  private constructor(segments: readonly Hl7Segment[], d: Delimiters) {
    this.segments = segments;
    this.#d = d;
  }

  /** Parses a message; throws Hl7Error, saying what is wrong, for anything that is not an HL7 v2 message. */
  static parse(text: string): Hl7Message {
    if (!text.startsWith('MSH') || text.length < 8)
      throw new Hl7Error('the message does not start with an MSH segment');
    const field = text[3] ?? '';
    const [component = '', repetition = '', escape = '', subcomponent = ''] = text.slice(4, 8);
    const d: Delimiters = { field, component, repetition, escape, subcomponent };
    if (new Set([field, component, repetition, escape, subcomponent]).size !== 5 || /[\w\r\n]/.test(field))
      throw new Hl7Error('MSH-1 and MSH-2 do not declare five distinct delimiters');
    const lines = text.split(/\r\n|\r|\n/).filter((l) => l.trim() !== '');
    if (lines.length > MAX_SEGMENTS) throw new Hl7Error(`more than ${MAX_SEGMENTS} segments`);
    const segments = lines.map((line) => {
      const name = line.slice(0, 3);
      if (!/^[A-Z][A-Z0-9]{2}$/.test(name) || (line.length > 3 && line[3] !== field))
        throw new Hl7Error(`not a segment: ${JSON.stringify(line.slice(0, 20))}`);
      // MSH-1 is the field separator itself: number MSH's fields so that MSH-n is fields[n], as for other segments.
      const parts = line.split(field);
      const fields = name === 'MSH' ? ['MSH', field, ...parts.slice(1)] : parts;
      return new Hl7Segment(name, fields, d);
    });
    return new Hl7Message(segments, d);
  }

  segment(name: string): Hl7Segment | undefined {
    return this.segments.find((s) => s.name === name);
  }

  get msh(): Hl7Segment {
    const msh = this.segments[0];
    if (msh === undefined) throw new Hl7Error('no MSH segment');
    return msh;
  }

  /** MSH-9: message code and trigger event, e.g. ORM and O01. */
  get type(): { code: string; trigger: string } {
    return { code: this.msh.get(9, 1), trigger: this.msh.get(9, 2) };
  }

  get controlId(): string {
    return this.msh.get(10);
  }

  /**
   * The acknowledgement (original mode, HL7 v2 2.9): AA accepted, AE error in the message, AR rejected (a message
   * type or sender not taken). The sender and receiver of MSH swap; MSA-2 names the message acknowledged.
   */
  ack(code: 'AA' | 'AE' | 'AR', text: string, o: { controlId: string; now?: Date }): string {
    const f = this.#d.field;
    const enc = `${this.#d.component}${this.#d.repetition}${this.#d.escape}${this.#d.subcomponent}`;
    const msh = this.msh;
    const ts = (o.now ?? new Date()).toISOString().replace(/[-:T]/g, '').slice(0, 14);
    const esc = (s: string): string => escape(s, this.#d);
    return (
      [
        'MSH',
        enc,
        msh.raw(5),
        msh.raw(6),
        msh.raw(3),
        msh.raw(4),
        ts,
        '',
        `ACK${this.#d.component}${esc(this.type.trigger)}${this.#d.component}ACK`,
        esc(o.controlId),
        msh.raw(11) || 'P',
        msh.raw(12) || '2.5',
      ].join(f) +
      '\r' +
      ['MSA', code, esc(this.controlId), esc(text.slice(0, 80))].join(f) +
      '\r'
    );
  }
}

function unescape(s: string, d: Delimiters): string {
  if (!s.includes(d.escape)) return s;
  const named: Record<string, string> = {
    F: d.field,
    S: d.component,
    T: d.subcomponent,
    R: d.repetition,
    E: d.escape,
    '.br': '\n',
  };
  const e = d.escape.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  return s.replace(new RegExp(`${e}([^${e}]*)${e}`, 'g'), (_, seq: string) => {
    const n = named[seq];
    if (n !== undefined) return n;
    return /^X([0-9A-Fa-f]{2})+$/.test(seq) ? Buffer.from(seq.slice(1), 'hex').toString('latin1') : '';
  });
}

function escape(s: string, d: Delimiters): string {
  // One character at a time, so what an escape sequence writes is never escaped again.
  const named: Record<string, string> = {
    [d.escape]: 'E',
    [d.field]: 'F',
    [d.component]: 'S',
    [d.subcomponent]: 'T',
    [d.repetition]: 'R',
  };
  return s.replace(/./gs, (c) => {
    const n = named[c];
    if (n !== undefined) return `${d.escape}${n}${d.escape}`;
    return c === '\r' || c === '\n' ? ' ' : c;
  });
}
