export type { HttpsApp } from './https-app.ts';
export {
  cookieOf,
  HTTPS_CIPHERS,
  ON_BEHALF_OF_HEADER,
  RECIPIENT_COOKIE,
  recipientTokenOf,
  SESSION_COOKIE,
  sessionTokenOf,
  startHttpsServer,
  type HttpsServerOptions,
  type RunningHttpsServer,
} from './https-server.ts';
export {
  actingAccessor,
  actingPerson,
  actingUsers,
  decideAccess,
  PERSON_ROUTES,
  personNamedInBody,
  type AccessDecision,
  type Acting,
  type ActingUser,
  type AssertedPerson,
  type AssertionCheck,
  type OwnSystem,
  type PersonAccess,
  type PersonCredentials,
  type PeerCredentials,
  type RecipientSession,
  type RouteAccess,
} from './route-access.ts';
export { PartnerClient, type PartnerAnswer } from './partner-client.ts';
export {
  installProblemHandlers,
  PROBLEM_CONTENT_TYPE,
  problemForError,
  bodyInvalid,
  problemOf,
  problemType,
  sendProblem,
  type Problem,
} from './problem-details.ts';
export { documented, openApiDocument, type DocumentedRoute, type RouteDoc } from './openapi.ts';
export { sendGathered, writtenOut } from './written-out.ts';
