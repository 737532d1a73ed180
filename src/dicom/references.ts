/** The small structures many objects share (PS3.3 8.8, 10.8, C.17.2): a coded concept and references to instances. */
import { Dataset } from './dataset.ts';
import { Tag } from './dictionary.ts';

/** A Code Sequence item: value, scheme designator and meaning (e.g. 113030, DCM, "Manifest"). */
export function codeItem(value: string, scheme: string, meaning: string): Dataset {
  return new Dataset()
    .set(Tag.CodeValue, 'SH', value)
    .set(Tag.CodingSchemeDesignator, 'SH', scheme)
    .set(Tag.CodeMeaning, 'LO', meaning);
}

/** A Referenced SOP Sequence item: one instance by class and UID. */
export function sopReference(i: { sopClassUid: string; sopInstanceUid: string }): Dataset {
  return new Dataset()
    .set(Tag.ReferencedSOPClassUID, 'UI', i.sopClassUid)
    .set(Tag.ReferencedSOPInstanceUID, 'UI', i.sopInstanceUid);
}

/** One study's instances by series, as an evidence sequence lists them (Hierarchical SOP Instance Reference Macro). */
export interface EvidenceSeries {
  seriesInstanceUid: string;
  instances: readonly { sopClassUid: string; sopInstanceUid: string }[];
}

/**
 * The item of a Current Requested Procedure Evidence (or Pertinent Other Evidence) Sequence for one study; `retrieve`
 * adds where each series can be fetched (Retrieve AE Title, Retrieve Location UID).
 */
export function studyEvidence(
  studyInstanceUid: string,
  series: readonly EvidenceSeries[],
  retrieve: { aeTitle?: string | undefined; locationUid?: string | undefined } = {},
): Dataset {
  return new Dataset().set(Tag.StudyInstanceUID, 'UI', studyInstanceUid).set(
    Tag.ReferencedSeriesSequence,
    'SQ',
    series.map((s) => {
      const item = new Dataset();
      if (retrieve.aeTitle !== undefined) item.set(Tag.RetrieveAETitle, 'AE', retrieve.aeTitle);
      item.set(Tag.SeriesInstanceUID, 'UI', s.seriesInstanceUid);
      if (retrieve.locationUid !== undefined) item.set(Tag.RetrieveLocationUID, 'UI', retrieve.locationUid);
      return item.set(Tag.ReferencedSOPSequence, 'SQ', s.instances.map(sopReference));
    }),
  );
}
