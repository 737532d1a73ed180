export { cookieOf, SESSION_COOKIE, sessionTokenOf, startHttpsServer, type HttpsApp, type HttpsServerOptions, type RunningHttpsServer } from './https-server.ts';
export { decideAccess, type AccessDecision, type OwnSystem, type PeerCredentials, type RouteAccess } from './route-access.ts';
export { PartnerClient, type PartnerAnswer } from './partner-client.ts';
