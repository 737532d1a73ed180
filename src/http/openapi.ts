import { z } from 'zod';
import { ErrorCatalog, type ErrorCode } from '../errors/index.ts';
import { PROBLEM_CONTENT_TYPE } from './problem-details.ts';
import type { RouteAccess } from './route-access.ts';

/**
 * What a route says about itself for the API description: a summary, and the very schemas its handler validates the
 * body and the query with (so the description cannot drift from what is accepted).
 */
export interface RouteDoc {
  summary: string;
  /** Longer text: the standard it follows, what is recorded, what the answer holds. */
  description?: string;
  /** The group it is listed under (sessions, outbox, dicomweb, …). */
  tag: string;
  body?: z.ZodType;
  query?: z.ZodType;
  /** The body is not JSON (DICOM multipart for STOW-RS and the exchange upload). */
  bodyType?: string;
  /** What a successful answer is, when it is not JSON (multipart DICOM, images, metrics text). */
  answers?: string;
  /** Catalog codes this route answers besides the ones every route may (400, 401, 403, 500). */
  errors?: readonly ErrorCode[];
}

/** The route options of a group of routes with one access rule and one tag: `doc('summary', { more })`. */
export function documented(access: RouteAccess, tag: string) {
  return (summary: string, more: Omit<RouteDoc, 'tag' | 'summary'> = {}) => ({
    config: { access, doc: { tag, summary, ...more } },
  });
}

export interface DocumentedRoute {
  method: string;
  url: string;
  access: RouteAccess;
  doc?: RouteDoc;
}

const jsonSchemaOf = (s: z.ZodType): Record<string, unknown> => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
};

/** Who may call, as OpenAPI security requirements: alternatives, any one of which will do. */
function securityOf(access: RouteAccess): Record<string, string[]>[] {
  if (access === 'public' || access === 'sign-in' || access === 'share-link') return [];
  if (access === 'share-recipient') return [{ recipientCookie: [] }, { bearerSession: [] }];
  if (access === 'partner' || access === 'own-organization') return [{ mutualTLS: [] }];
  const people = [{ sessionCookie: [] }, { bearerSession: [] }];
  return access.systems !== undefined ? [...people, { mutualTLS: [] }] : people;
}

function accessText(access: RouteAccess): string {
  if (access === 'public') return 'No credentials.';
  if (access === 'sign-in') return 'Takes credentials and gives a session.';
  if (access === 'share-link')
    return "Takes a share's link token (from the e-mail) and its code (from the SMS); answers no patient data.";
  if (access === 'share-recipient') return 'The recipient of a share, in the session its link and code opened.';
  if (access === 'partner') return 'A partner node on the trust list, by its client certificate (mutual TLS).';
  if (access === 'own-organization') return "One of this hospital's own systems, by its client certificate.";
  const who = `Signed in as ${access.roles.join(' or ')}${access.twoFactor === true ? ', with two factors' : ''}`;
  if (access.systems === 'as-itself') return `${who}; or one of this hospital's own systems by its certificate.`;
  if (access.systems === 'for-a-person')
    return `${who}; or one of this hospital's own systems by its certificate, for a person named by a signed assertion (X-Beeldbrug-On-Behalf-Of).`;
  return `${who}.`;
}

const problemResponse = (code: ErrorCode): { description: string; content: Record<string, unknown> } => ({
  description: `${code}: ${ErrorCatalog[code].summary}`,
  content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } },
});

/**
 * The OpenAPI 3.1 description of the routes a server holds, built from the router's own table: every route is in it,
 * with who may call it, and its body and query schemas where the route declares them.
 */
export function openApiDocument(
  routes: readonly DocumentedRoute[],
  info: { title: string; version: string; description: string },
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    // Static files of the web app are not API.
    if (r.url.includes('*')) continue;
    const path = r.url.replace(/:(\w+)/g, '{$1}');
    const params = [...r.url.matchAll(/:(\w+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const doc = r.doc;
    const query = doc?.query !== undefined ? jsonSchemaOf(doc.query) : undefined;
    const queryParams = Object.entries((query?.['properties'] as Record<string, unknown> | undefined) ?? {}).map(
      ([name, schema]) => ({
        name,
        in: 'query',
        required: ((query?.['required'] as string[] | undefined) ?? []).includes(name),
        schema,
      }),
    );
    const security = securityOf(r.access);
    const errors: ErrorCode[] = [
      'REQUEST_INVALID',
      ...(security.length > 0 ? (['SIGN_IN_REQUIRED', 'ACCESS_DENIED'] as const) : []),
      ...(doc?.errors ?? []),
      'INTERNAL',
    ];
    const responses: Record<string, unknown> = {
      '2XX': {
        description: 'done',
        ...(doc?.answers !== undefined ? { content: { [doc.answers]: {} } } : {}),
      },
    };
    for (const code of errors) {
      const status = String(ErrorCatalog[code].http);
      if (responses[status] === undefined) responses[status] = problemResponse(code);
      else {
        const known = responses[status] as { description: string };
        known.description += `; ${code}: ${ErrorCatalog[code].summary}`;
      }
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      operationId: `${r.method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      summary: doc?.summary ?? `${r.method} ${r.url}`,
      description: [doc?.description, accessText(r.access)].filter((x) => x !== undefined).join('\n\n'),
      tags: [doc?.tag ?? tagOf(r.url)],
      ...(params.length + queryParams.length > 0 ? { parameters: [...params, ...queryParams] } : {}),
      ...(doc?.body !== undefined
        ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchemaOf(doc.body) } } } }
        : doc?.bodyType !== undefined
          ? { requestBody: { required: true, content: { [doc.bodyType]: {} } } }
          : {}),
      security,
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info,
    paths,
    components: {
      securitySchemes: {
        sessionCookie: { type: 'apiKey', in: 'cookie', name: 'beeldbrug_session' },
        recipientCookie: { type: 'apiKey', in: 'cookie', name: 'beeldbrug_share' },
        bearerSession: {
          type: 'http',
          scheme: 'bearer',
          description: 'the token POST /api/v1/session answers (what `beeldbrug login` keeps)',
        },
        mutualTLS: { type: 'mutualTLS', description: 'a client certificate under the network CA, naming a URA' },
      },
      schemas: {
        Problem: {
          type: 'object',
          description: 'RFC 9457 problem details; `code` is the stable catalog code',
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            instance: { type: 'string' },
            code: { type: 'string', enum: Object.keys(ErrorCatalog) },
          },
          required: ['type', 'title', 'status', 'code'],
        },
      },
    },
  };
}

function tagOf(url: string): string {
  const parts = url.split('/').filter((p) => p !== '' && !p.startsWith(':'));
  if (parts[0] === 'api') return parts[2] ?? 'api';
  return parts[0] ?? 'node';
}
