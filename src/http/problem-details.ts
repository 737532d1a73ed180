import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BeeldbrugError, ErrorCatalog, type ErrorCode } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { HttpsApp } from './https-app.ts';

/** RFC 9457 media type: every error answer of the node and the registry carries it. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** An RFC 9457 problem with the catalog's stable code as extension member. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance?: string;
  [extension: string]: unknown;
}

/**
 * The `type` URI of a code: one page per catalog code, so a client can key on `type` or `code` alike.
 * The URI identifies the problem; it is not fetched by anyone.
 */
export function problemType(code: ErrorCode): string {
  return `https://beeldbrug.nl/problems/${code.toLowerCase().replaceAll('_', '-')}`;
}

export function problemOf(
  code: ErrorCode,
  detail: string,
  extra?: { status?: number; instance?: string; members?: Record<string, unknown> },
): Problem {
  return {
    ...extra?.members,
    type: problemType(code),
    title: ErrorCatalog[code].summary,
    status: extra?.status ?? ErrorCatalog[code].http,
    code,
    detail,
    ...(extra?.instance !== undefined ? { instance: `urn:beeldbrug:request:${extra.instance}` } : {}),
  };
}

/**
 * A request body that does not match its schema: REQUEST_INVALID naming every field that is wrong, in the detail and
 * as `problems`, one line per field.
 */
export function bodyInvalid(e: {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}): BeeldbrugError {
  const problems = e.issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`);
  return new BeeldbrugError('REQUEST_INVALID', problems.join('; '), { members: { problems } });
}

/** The catalog code each problem answer carried, for the server's onResponse hook (metrics by code). */
const answeredCodes = new WeakMap<FastifyReply, string>();

/** The catalog code of the problem this reply answered, if it answered one. */
export function problemCodeOf(reply: FastifyReply): string | undefined {
  return answeredCodes.get(reply);
}

export async function sendProblem(reply: FastifyReply, problem: Problem): Promise<FastifyReply> {
  answeredCodes.set(reply, problem.code);
  return reply.code(problem.status).header('content-type', PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}

/**
 * Fastify's own client errors, reworded: its messages name internals (parser positions, FST_ codes) that a client
 * must not see and cannot act on.
 */
const fastifyClientErrors: Record<string, { code: ErrorCode; status: number; detail: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'REQUEST_INVALID', status: 400, detail: 'the body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: 'REQUEST_INVALID',
    status: 400,
    detail: 'the body is empty but content-type says JSON',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    code: 'BODY_TOO_LARGE',
    status: 413,
    detail: 'the body is larger than this route accepts',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: 'REQUEST_INVALID',
    status: 400,
    detail: 'the content-length does not match the body',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'UNSUPPORTED_MEDIA_TYPE',
    status: 415,
    detail: 'this route does not accept this content-type',
  },
  FST_ERR_CTP_EMPTY_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', status: 415, detail: 'the content-type header is empty' },
  FST_ERR_CTP_INVALID_TYPE: {
    code: 'UNSUPPORTED_MEDIA_TYPE',
    status: 415,
    detail: 'the content-type header is not valid',
  },
};

/** The problem to answer for any error thrown by a route, a hook or fastify itself. */
export function problemForError(err: unknown, requestId: string, logger: Pick<Logger, 'error'>): Problem {
  if (err instanceof BeeldbrugError)
    return problemOf(err.code, err.message, {
      instance: requestId,
      ...(err.members !== undefined ? { members: { ...err.members } } : {}),
    });
  const fe = err as Partial<FastifyError>;
  const known = typeof fe.code === 'string' ? fastifyClientErrors[fe.code] : undefined;
  if (known !== undefined) return problemOf(known.code, known.detail, { status: known.status, instance: requestId });
  if (fe.validation !== undefined)
    return problemOf('REQUEST_INVALID', "the request does not match the route's schema", { instance: requestId });
  // A parse error of the JSON body outside fastify's parser, or any other 4xx fastify raises: a client error, reworded.
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return problemOf('REQUEST_INVALID', 'the request cannot be read', { status: fe.statusCode, instance: requestId });
  }
  // Unknown: the details go to the log with the request id, never to the client. Messages of our code carry no patient data.
  logger.error({ requestId, err }, 'unexpected error while answering a request');
  return problemOf('INTERNAL', ErrorCatalog.INTERNAL.summary, { instance: requestId });
}

/** One error handler and one not-found handler for every HTTPS server (the hospital node and the registry). */
export function installProblemHandlers(app: HttpsApp, logger: Pick<Logger, 'error'>): void {
  app.setErrorHandler(async (err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const problem = problemForError(err, req.id, logger);
    // After a body-too-large the rest of the upload is not read; closing stops the client sending it.
    if (problem.status === 413) void reply.header('connection', 'close');
    // A refusal that says when to try again says it as HTTP does too (RFC 9110 10.2.3).
    const retryAfter = problem['retryAfterSeconds'];
    if (typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler(async (req: FastifyRequest, reply: FastifyReply) =>
    sendProblem(reply, problemOf('ROUTE_NOT_FOUND', 'no route with this method and path', { instance: req.id })),
  );
}
