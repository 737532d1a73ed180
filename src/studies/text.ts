import { type Dataset, Tag } from '../dicom/index.ts';

/**
 * Text of an attribute, trimmed, or null when absent or empty. The store keeps text as JavaScript strings; the
 * character set of the source (Specific Character Set, PS3.5 6.1) was applied by the dicom reader.
 */
export function text(ds: Dataset, tag: number): string | null {
  const value = ds.string(tag);
  return value === undefined || value.trim() === '' ? null : value.trim();
}

export function integer(ds: Dataset, tag: number): number | null {
  const value = ds.number(tag);
  return value === undefined || !Number.isFinite(value) ? null : Math.trunc(value);
}

/** The patient's BSN when the data names one: PatientID issued by the BSN OID, or an Other Patient IDs item. */
export function bsnOf(ds: Dataset, isValidBsn: (s: string) => boolean, bsnIssuer: string): string | null {
  const candidates: { id: string | null; issuer: string | null }[] = [
    { id: text(ds, Tag.PatientID), issuer: text(ds, Tag.IssuerOfPatientID) },
    ...ds
      .items(Tag.OtherPatientIDsSequence)
      .map((item) => ({ id: text(item, Tag.PatientID), issuer: text(item, Tag.IssuerOfPatientID) })),
  ];
  for (const c of candidates) {
    if (c.id !== null && c.issuer === bsnIssuer && isValidBsn(c.id)) return c.id;
  }
  return null;
}
