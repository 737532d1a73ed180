// How DICOM values read for people: dates as the hospital writes them, names in their usual order, sizes in MB.

/** YYYYMMDD (DICOM DA) as 5-12-2026 (nl) or 2026-12-05 (en); an empty or odd value as it came. */
export function dicomDate(da: string | null | undefined, lang: 'nl' | 'en'): string {
  if (da === null || da === undefined || !/^\d{8}$/.test(da)) return da ?? '';
  const [y, m, d] = [da.slice(0, 4), da.slice(4, 6), da.slice(6, 8)];
  return lang === 'nl' ? `${Number(d)}-${Number(m)}-${y}` : `${y}-${m}-${d}`;
}

/** A DICOM person name (Family^Given^Middle^Prefix^Suffix) as "Family, Given Middle". */
export function personName(pn: string | null | undefined): string {
  if (pn === null || pn === undefined) return '';
  const [family = '', given = '', middle = ''] = (pn.split('=')[0] ?? '').split('^');
  const first = [given, middle].filter((s) => s !== '').join(' ');
  return first !== '' ? `${family}, ${first}` : family;
}

/** An input date (YYYY-MM-DD) as DICOM DA, or '' when empty. */
export function toDicomDate(iso: string): string {
  return iso.replaceAll('-', '');
}

export function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(bytes < 10_000_000 ? 1 : 0)} MB`;
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
}

export function localTime(iso: string, lang: 'nl' | 'en'): string {
  return new Date(iso).toLocaleString(lang === 'nl' ? 'nl-NL' : 'en-GB');
}
