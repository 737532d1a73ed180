export { TimelineService, type TimelineQuery, type TimelineServiceOptions } from './timeline-service.ts';
export { registerTimelineSourceRoutes, type SourceRoutesDeps } from './source-routes.ts';
export { registerTimelineRoutes } from './requester-routes.ts';
export { checkTimelineRequest, requester, signTimelineRequest, type Requester, type TimelineClaims } from './claims.ts';
export { LocalizationPublisher } from './localization-publisher.ts';
export type { SourceAnswer, SourceOutcome, SourceStudy, Timeline, TimelineStudy } from './types.ts';
