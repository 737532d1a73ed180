import type { TLSSocket } from 'node:tls';
import { fastify, type FastifyRequest, LogController } from 'fastify';
import { organizationOf, type Session } from '../auth/index.ts';
import type { PartnerConfig } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { HttpsApp } from './https-app.ts';
import { installProblemHandlers, problemCodeOf, problemOf, sendProblem } from './problem-details.ts';
import { type DocumentedRoute, openApiDocument, type RouteDoc } from './openapi.ts';
import {
  type Acting,
  type AssertionCheck,
  decideAccess,
  type OwnSystem,
  type PeerCredentials,
  type RouteAccess,
  type RecipientSession,
} from './route-access.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call this route; required on every route. */
    access?: RouteAccess;
    /** What the API description says of it, with the schemas its handler validates with. */
    doc?: RouteDoc;
  }
  interface FastifyRequest {
    /** The partner organization that called a partner route, after the access check. */
    partner?: PartnerConfig;
    /** The signed-in person that called a user route, after the access check. */
    session?: Session;
    /** Our own hospital's system that called an own-organization route, after the access check. */
    system?: OwnSystem;
    /** Who acts on a person route (the signed-in person, or our system alone or for an asserted person), after the access check. */
    acting?: Acting;
    /** The share recipient that called a share-recipient route, after the access check. */
    recipient?: RecipientSession;
  }
}

/** The header in which one of our own systems passes the identity provider's signed assertion of the person it acts for. */
export const ON_BEHALF_OF_HEADER = 'x-beeldbrug-on-behalf-of';

/** The application the routes are registered on. */

export interface HttpsServerOptions {
  host: string;
  port: number;
  tls: { key: string | Buffer; cert: string | Buffer; ca: string | Buffer };
  partners: readonly PartnerConfig[];
  /** Our own URA, for own-organization routes. */
  ownUra: string;
  logger: Logger;
  /** Told the catalog code of every problem answered (metrics: errors by code). */
  onProblem?: (code: string) => void;
  /** The session a token stands for (user routes); without it every user route refuses. */
  sessions?: (token: string) => Promise<Session | undefined>;
  /** The share recipient session a token stands for (share-recipient routes). */
  recipientSessions?: (token: string) => Promise<RecipientSession | undefined>;
  /** Our own organization's name, for the organization of a signed-in person. */
  ownName?: string;
  /** Checks an on-behalf-of assertion of one of our systems; without it every assertion is refused. */
  assertions?: (jwt: string) => Promise<AssertionCheck>;
  /** Registers the routes; each must set `config.access`. */
  routes: (app: HttpsApp) => void;
  /** Serves the OpenAPI description of every route at this path, to anyone signed in or any own system. */
  openApi?: { path: string; title: string; version: string; description: string };
}

export interface RunningHttpsServer {
  port: number;
  /** Every route with its declared access, as the router holds them (for the route inventory test). */
  routes: readonly DocumentedRoute[];
  close(): Promise<void>;
}

/** TLS 1.2+ with forward-secret AEAD suites only (BCP 195), the same bar as DICOM TLS; in our order of preference. */
export const HTTPS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * What a connection's client certificate says, read once per connection: renegotiation is switched off on every
 * connection (see below), so the certificate cannot change under it, and parsing it on every request of a keep-alive
 * connection cost a registry a fifth of its CPU.
 */
const credentialsBySocket = new WeakMap<TLSSocket, PeerCredentials>();

function credentialsOf(req: FastifyRequest): PeerCredentials {
  const socket = req.raw.socket as TLSSocket;
  const known = credentialsBySocket.get(socket);
  if (known !== undefined) return known;
  const peer = socket.getPeerX509Certificate?.();
  const organization = peer !== undefined ? organizationOf(peer) : undefined;
  const commonName = peer?.subject
    .split('\n')
    .find((line) => line.startsWith('CN='))
    ?.slice(3);
  const credentials: PeerCredentials = {
    authorized: socket.authorized,
    presentedCertificate: peer !== undefined,
    ...(socket.authorizationError !== undefined && socket.authorizationError !== null
      ? { authorizationError: String(socket.authorizationError) }
      : {}),
    ...(organization !== undefined ? { organization } : {}),
    ...(commonName !== undefined ? { commonName } : {}),
  };
  credentialsBySocket.set(socket, credentials);
  return credentials;
}

export const SESSION_COOKIE = 'beeldbrug_session';
/** A share recipient's session: another cookie, so that a recipient's browser never holds a staff session's name. */
export const RECIPIENT_COOKIE = 'beeldbrug_share';

/** The session token of a request: the session cookie (browsers) or an Authorization bearer token (API clients). */
export const sessionTokenOf = (req: FastifyRequest): string | undefined => tokenOf(req, SESSION_COOKIE);

/** A share recipient's session token: its own cookie, or an Authorization bearer token. */
export const recipientTokenOf = (req: FastifyRequest): string | undefined => tokenOf(req, RECIPIENT_COOKIE);

function tokenOf(req: FastifyRequest, cookie: string): string | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined && auth.startsWith('Bearer ')) return auth.slice('Bearer '.length).trim();
  return cookieOf(req, cookie);
}

/** One cookie of a request, by name. */
export function cookieOf(req: FastifyRequest, wanted: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === wanted) return value.join('=');
  }
  return undefined;
}

/**
 * The HTTPS listener. TLS asks every client for a certificate but does not demand one, so that a public liveness route
 * stays reachable; each route then declares who may call it and the check runs before any handler, with a log line
 * for every refusal (who, from where, why). The log carries no headers, bodies or patient data.
 */
export async function startHttpsServer(o: HttpsServerOptions): Promise<RunningHttpsServer> {
  const app = fastify({
    https: {
      key: o.tls.key,
      cert: o.tls.cert,
      ca: o.tls.ca,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ciphers: HTTPS_CIPHERS,
      // Our order, as on DICOM TLS: AES-128-GCM first (curl and OpenSSL clients would pick AES-256), which costs both
      // ends about a quarter less CPU per byte of a study going out, at a strength BCP 195 and the NCSC rate as good.
      honorCipherOrder: true,
    },
    loggerInstance: o.logger,
    // Our own lines log refusals; fastify's per-request lines would add URLs and client details for every call.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // A stop closes every connection at once: waiting for browsers to let go of theirs held a stop for a minute or more,
    // and a client cut off retries (the exchange resumes, a download starts again).
    forceCloseConnections: true,
  });
  installProblemHandlers(app, o.logger);
  const onProblem = o.onProblem;
  if (onProblem !== undefined)
    app.addHook('onResponse', async (_req, reply) => {
      const code = problemCodeOf(reply);
      if (code !== undefined) onProblem(code);
    });
  const routes: DocumentedRoute[] = [];
  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    if (access === undefined)
      throw new Error(`route ${String(route.method)} ${route.url} does not declare who may call it (config.access)`);
    const doc = route.config?.doc;
    for (const method of [route.method].flat())
      if (method !== 'HEAD') routes.push({ method, url: route.url, access, ...(doc !== undefined ? { doc } : {}) });
  });
  app.addHook('onRequest', async (req, reply) => {
    const access = req.routeOptions.config.access;
    if (access === undefined) {
      // No route matched: the 404 handler answers, and it discloses nothing.
      return;
    }
    const token = typeof access === 'object' ? sessionTokenOf(req) : undefined;
    const recipientToken = access === 'share-recipient' ? recipientTokenOf(req) : undefined;
    const recipient =
      recipientToken !== undefined && o.recipientSessions !== undefined
        ? await o.recipientSessions(recipientToken)
        : undefined;
    const session = token !== undefined ? await o.sessions?.(token) : undefined;
    const peer = credentialsOf(req);
    let assertion: AssertionCheck | undefined;
    const onBehalfOf = req.headers[ON_BEHALF_OF_HEADER];
    // Only one of our own systems gets its assertion checked: nobody else makes this node fetch an issuer's keys.
    if (
      typeof access === 'object' &&
      access.systems !== undefined &&
      token === undefined &&
      onBehalfOf !== undefined &&
      peer.authorized &&
      peer.organization?.ura === o.ownUra
    ) {
      assertion =
        typeof onBehalfOf !== 'string'
          ? { ok: false, reason: 'one assertion per request' }
          : o.assertions !== undefined
            ? await o.assertions(onBehalfOf)
            : {
                ok: false,
                reason: 'no identity provider or trusted key for assertions is configured (auth.oidc, auth.assertions)',
              };
    }
    const decision = decideAccess(access, peer, o.partners, o.ownUra, session, {
      tokenPresented: token !== undefined,
      ...(assertion !== undefined ? { assertion } : {}),
      ...(o.ownName !== undefined ? { ownName: o.ownName } : {}),
      ...(recipient !== undefined ? { recipient } : {}),
    });
    if (!decision.allow) {
      o.logger.warn(
        {
          remote: req.ip,
          route: req.routeOptions.url,
          reason: decision.reason,
          ...(session !== undefined ? { user: session.account.id } : {}),
        },
        `refused: ${decision.detail}`,
      );
      // Problem details with the refusal's stable code; `reason` names which check refused, `error` is kept for
      // clients of the earlier body shape. The detail is the refusal's own text: it names no patient data.
      const code = decision.status === 401 ? 'SIGN_IN_REQUIRED' : 'ACCESS_DENIED';
      await sendProblem(
        reply,
        problemOf(code, decision.detail, {
          status: decision.status,
          instance: req.id,
          members: { reason: decision.reason, error: decision.reason },
        }),
      );
      return reply;
    }
    if (decision.partner !== undefined) req.partner = decision.partner;
    if (decision.session !== undefined) req.session = decision.session;
    if (decision.system !== undefined) req.system = decision.system;
    if (decision.acting !== undefined) req.acting = decision.acting;
    if (decision.recipient !== undefined) req.recipient = decision.recipient;
    return undefined;
  });
  // A TLS 1.2 client could otherwise renegotiate and present another certificate on a connection already checked.
  app.server.on('secureConnection', (socket: TLSSocket) => socket.disableRenegotiation());
  app.server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    o.logger.warn(
      { remote: socket.remoteAddress, reason: 'tls-handshake-failed', detail: err.message },
      'refused: TLS handshake failed',
    );
  });
  o.routes(app);
  const openApi = o.openApi;
  if (openApi !== undefined) {
    const { path, ...info } = openApi;
    let document: Record<string, unknown> | undefined;
    app.get(
      path,
      {
        config: {
          access: { roles: ['radiologist', 'staff', 'admin', 'auditor'], systems: 'as-itself' },
          doc: { tag: 'api', summary: 'This description (OpenAPI 3.1), built from the routes and their schemas' },
        },
      },
      // Built on first use, when every route is registered; the table does not change while the server runs.
      async () => (document ??= openApiDocument(routes, info)),
    );
  }
  await app.listen({ host: o.host, port: o.port });
  const address = app.server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : o.port,
    routes,
    close: () => app.close(),
  };
}
