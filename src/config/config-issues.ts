import { z } from 'zod';

/** One problem in a configuration: the key path as written in the file (`dimse.peers[0].aeTitle`) and what is wrong. */
export interface ConfigIssue {
  path: string;
  message: string;
}

type PathPart = PropertyKey;

/**
 * Turns zod's issues into messages a PACS administrator can act on. An unknown key (a typo, or a line indented under
 * the wrong section, which YAML makes easy) names the closest known key at that place, or the section it belongs in;
 * a missing key says so instead of "expected string, received undefined".
 */
export function describeConfigIssues(
  schema: z.ZodType,
  raw: unknown,
  issues: readonly z.core.$ZodIssue[],
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = Object.keys(shapeAt(schema, issue.path) ?? {});
      for (const key of issue.keys)
        out.push({ path: pathText([...issue.path, key]), message: unknownKeyMessage(schema, issue.path, key, known) });
    } else if (issue.code === 'invalid_type' && valueAt(raw, issue.path) === undefined) {
      out.push({ path: pathText(issue.path), message: `missing: this key is required (${issue.expected})` });
    } else if (issue.code === 'invalid_type' && quotingHint(issue.expected, valueAt(raw, issue.path)) !== undefined) {
      out.push({
        path: pathText(issue.path),
        message: quotingHint(issue.expected, valueAt(raw, issue.path)) ?? issue.message,
      });
    } else if (
      issue.code === 'too_small' &&
      issue.origin === 'string' &&
      issue.minimum === 1 &&
      issue.message.startsWith('Too small')
    ) {
      out.push({ path: pathText(issue.path), message: 'must not be empty' });
    } else {
      out.push({ path: pathText(issue.path), message: issue.message });
    }
  }
  return out;
}

/**
 * YAML decides the type from how a value is written: `ura: 01234567` is a number (the leading zero gone), `port:
 * "104"` a string. The fix is quoting, or not.
 */
function quotingHint(expected: string, value: unknown): string | undefined {
  if (expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')) {
    return `write it in quotes, as text: unquoted, YAML reads ${String(value)} as a ${typeof value}${typeof value === 'number' ? ' (and drops leading zeros)' : ''}`;
  }
  if (expected === 'number' && typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return `write the number without quotes: ${value.trim()}`;
  if (expected === 'boolean' && typeof value === 'string' && /^(true|false)$/i.test(value.trim()))
    return `write ${value.trim().toLowerCase()} without quotes`;
  return undefined;
}

export function pathText(path: readonly PathPart[]): string {
  return path.reduce<string>(
    (acc, part) =>
      typeof part === 'number' ? `${acc}[${part}]` : acc === '' ? String(part) : `${acc}.${String(part)}`,
    '',
  );
}

function unknownKeyMessage(schema: z.ZodType, at: readonly PathPart[], key: string, known: readonly string[]): string {
  // A near miss here beats the same key elsewhere, unless the near miss needs more than one change: `retentionYears`
  // under store is audit's key indented wrongly, not a typo of store's `retentionDays`.
  const close = closest(key, known);
  if (close !== undefined && close.score <= 1) return `unknown key; did you mean ${close.key}?`;
  const elsewhere = sectionsWithKey(schema, key);
  if (close !== undefined && elsewhere.length === 0) return `unknown key; did you mean ${close.key}?`;
  if (elsewhere.length > 0)
    return `unknown key here; ${key} belongs in ${elsewhere.map((p) => p || '(top level)').join(' or ')} (check the indentation)`;
  const where = at.length === 0 ? 'at the top level' : `in ${pathText(at)}`;
  return `unknown key; the keys ${where} are ${known.join(', ')}`;
}

/**
 * The known key a mistyped one most likely meant: equal but for case, a few letters off (transpositions count as one),
 * or the start or end of it (`encryptionKey` for `encryptionKeyFile`). Undefined when nothing is close enough to
 * guess, so a guess is never a wild one.
 */
export function closestKey(typed: string, known: readonly string[]): string | undefined {
  return closest(typed, known)?.key;
}

function closest(typed: string, known: readonly string[]): { key: string; score: number } | undefined {
  const t = typed.toLowerCase();
  let best: { key: string; score: number } | undefined;
  for (const key of known) {
    const k = key.toLowerCase();
    const allowed = Math.min(3, Math.max(1, Math.floor(Math.max(t.length, k.length) / 4)));
    let score = editDistance(t, k);
    const shorter = Math.min(t.length, k.length);
    if (score > allowed && shorter >= 3 && (k.startsWith(t) || t.startsWith(k) || k.endsWith(t) || t.endsWith(k)))
      score = allowed;
    if (score <= allowed && (best === undefined || score < best.score)) best = { key, score };
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost one each. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = Array.from({ length: rows * cols }, () => 0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      d[i * cols + j] = v;
    }
  }
  return at(a.length, b.length);
}

/** Wrappers that do not change which keys an object has. */
function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (;;) {
    if (
      s instanceof z.ZodOptional ||
      s instanceof z.ZodDefault ||
      s instanceof z.ZodNullable ||
      s instanceof z.ZodPrefault ||
      s instanceof z.ZodReadonly
    )
      s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
    else return s;
  }
}

/** The keys of the object the schema expects at `path`; array indexes step into the element schema. */
function shapeAt(schema: z.ZodType, path: readonly PathPart[]): Record<string, z.ZodType> | undefined {
  let s = unwrap(schema);
  for (const part of path) {
    if (typeof part === 'number' && s instanceof z.ZodArray) s = unwrap(s.element as z.ZodType);
    else if (typeof part === 'string' && s instanceof z.ZodObject) {
      const next = (s.shape as Record<string, z.ZodType>)[part];
      if (next === undefined) return undefined;
      s = unwrap(next);
    } else return undefined;
  }
  return s instanceof z.ZodObject ? (s.shape as Record<string, z.ZodType>) : undefined;
}

/** Every section (as a path, `[]` for list elements) whose objects have this key. */
function sectionsWithKey(schema: z.ZodType, key: string): string[] {
  const found: string[] = [];
  const walk = (s: z.ZodType, at: string): void => {
    const u = unwrap(s);
    if (u instanceof z.ZodArray) walk(u.element as z.ZodType, `${at}[]`);
    else if (u instanceof z.ZodObject) {
      for (const [k, child] of Object.entries(u.shape as Record<string, z.ZodType>)) {
        if (k === key) found.push(at);
        walk(child, at === '' ? k : `${at}.${k}`);
      }
    }
  };
  walk(schema, '');
  return found;
}

function valueAt(raw: unknown, path: readonly PathPart[]): unknown {
  let v = raw;
  for (const part of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[part];
  }
  return v;
}
