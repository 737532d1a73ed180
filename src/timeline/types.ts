import type { PatientSeries, PatientStudy } from '../studies/index.ts';

/** A study as a source reports it: the summary, and the report text when it was asked for and exists. */
export type SourceStudy = PatientStudy & { reportText?: string };

/** What a source answers to a timeline question. */
export type SourceAnswer = {
  status: 'answered';
  organization: { ura: string; name: string };
  consentReference: string;
  studies: SourceStudy[];
  /** Set when the list may be incomplete (the source's PACS could not be asked), and why. */
  partial?: string;
};

/** What a source answers when asked for the series of one of the patient's studies. */
export type SourceSeriesAnswer = {
  status: 'answered';
  organization: { ura: string; name: string };
  consentReference: string;
  studyInstanceUid: string;
  series: PatientSeries[];
  /** Set when the list may be incomplete (the source's PACS could not be asked), and why. */
  partial?: string;
};

/** Per source, what became of the question. */
export interface SourceOutcome {
  ura: string;
  name: string;
  status: 'answered' | 'refused' | 'timed-out' | 'failed';
  /** Why it was refused or failed. */
  reason?: string;
  studies: number;
  ms: number;
}

/** One line of the merged timeline: a study and where it is. */
export type TimelineStudy = SourceStudy & { source: { ura: string; name: string } };

export interface Timeline {
  bsn: string;
  /** registry: the registry named the sources; regional-sources: no registry configured, the configured list was asked. */
  mode: 'registry' | 'regional-sources';
  sources: SourceOutcome[];
  /** Every answered study, newest first. */
  studies: TimelineStudy[];
}
