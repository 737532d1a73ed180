import type { PatientDataAccess, PatientSeries, PatientStudy } from '../studies/index.ts';
import type { TimelineAsker } from './timeline-service.ts';

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

/**
 * Another kind of source the timeline asks beside Beeldbrug nodes: an XCA community (a regional XDS network, another
 * vendor's gateway), named by its home community id where a node is named by URA. It re-checks the patient's consent
 * itself; what it answers and sends is recorded here like any source's.
 */
export interface TimelineCommunity {
  /** The home community id (urn:oid:…): the `source` a timeline names its studies by. */
  id: string;
  name: string;
  studies(
    bsn: string,
    asker: TimelineAsker,
    o: { timeoutMs: number },
  ): Promise<{ studies: SourceStudy[]; partial?: string }>;
  /** Brings one study into this node through `into` (an import in the asker's name): what came, what did not. */
  retrieve(
    bsn: string,
    studyInstanceUid: string,
    asker: TimelineAsker,
    into: PatientDataAccess,
  ): Promise<{ retrieved: number; failed: number }>;
  close?(): void;
}
