import type { FastifyReply } from 'fastify';
import type { SignInAdmission } from '../auth/index.ts';
import { ErrorCatalog, type ErrorCode } from '../errors/index.ts';
import { PROBLEM_CONTENT_TYPE, problemOf } from '../http/index.ts';
import type { Logger } from '../log/index.ts';

/**
 * The answer to a sign-in the rate limit holds back: 429 with Retry-After (RFC 9110 15.5.20, 10.2.3) and an RFC 9457
 * problem details body with the catalog code. It says which limit holds, not whether the user name exists.
 */
export function refuseThrottled(
  reply: FastifyReply,
  refusal: Extract<SignInAdmission, { ok: false }>,
  remote: string,
  logger: Logger,
): FastifyReply {
  if (refusal.first)
    logger.warn(
      { remote, limit: refusal.limit, retryAfterSeconds: refusal.retryAfterSeconds },
      'sign-in rate limit reached; further attempts are answered 429 until the window frees',
    );
  const detail =
    refusal.limit === 'address'
      ? `too many failed sign-ins from this address; try again in ${refusal.retryAfterSeconds} s`
      : `too many failed sign-ins at this node; try again in ${refusal.retryAfterSeconds} s`;
  const code: ErrorCode = 'SIGN_IN_RATE_LIMITED';
  const status = ErrorCatalog[code].http;
  return reply
    .code(status)
    .header('retry-after', String(refusal.retryAfterSeconds))
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problemOf(code, detail, { status })));
}
