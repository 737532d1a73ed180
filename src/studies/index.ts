export type { AccessContext, Actor } from './access-context.ts';
export { describeActor } from './access-context.ts';
export type { IngestInput, IngestOutcome } from './ingest.ts';
export {
  type ExtraValue,
  type InformationModel,
  type ParsedQuery,
  matchersAt,
  parseQuery,
  requireUniqueKey,
  responseFor,
  rowMatches,
} from './query.ts';
export { indexedAttributes } from './query-keys.ts';
export type { LocalPatient, PurgedStudy } from './study-service.ts';
export {
  type AccessGrounds,
  type AccessorKind,
  type AccessPurpose,
  type AuditAbout,
  type ConsentDecider,
  type ConsentDecision,
  PatientData,
  PatientDataAccess,
  type PatientDataOptions,
  type ReleasedInstance,
  type SharedStudy,
} from './patient-data.ts';
export type { PatientSeries, PatientStudy } from './patient-studies.ts';
export { isReportModality, reportLinesOf } from './patient-studies.ts';
