export {
  TimelineService,
  type TimelineAsker,
  type TimelineQuery,
  type TimelineServiceOptions,
} from './timeline-service.ts';
export { requesterUser } from './audit-events.ts';
export { registerTimelineSourceRoutes, studiesOfPatient, type SourceRoutesDeps } from './source-routes.ts';
export { registerTimelineRoutes } from './requester-routes.ts';
export {
  checkTimelineRequest,
  requester,
  signTimelineRequest,
  type Requester,
  type RequestingSystem,
  type TimelineClaims,
} from './claims.ts';
export { LocalizationPublisher } from './localization-publisher.ts';
export type {
  SourceAnswer,
  SourceOutcome,
  SourceSeriesAnswer,
  SourceStudy,
  Timeline,
  TimelineCommunity,
  TimelineStudy,
} from './types.ts';
