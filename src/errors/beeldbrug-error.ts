import { ErrorCatalog, type ErrorCode } from './catalog.ts';

/** The one error type the node throws on purpose. `message` is safe to show to the caller; `cause` is for the log. */
export class BeeldbrugError extends Error {
  readonly code: ErrorCode;
  /**
   * Facts the caller can act on beside the message (a transfer's state, the instances still missing, what was stored
   * before the failure): extension members of the problem details an HTTP route answers.
   */
  readonly members: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; members?: Record<string, unknown> }) {
    super(message, options);
    this.name = 'BeeldbrugError';
    this.code = code;
    this.members = options?.members;
  }

  get httpStatus(): number {
    return ErrorCatalog[this.code].http;
  }
}

/** The DIMSE status to answer for any error: ours carry one, anything else is a generic processing failure. */
export function dimseStatusOf(err: unknown): number {
  if (err instanceof BeeldbrugError) {
    const entry = ErrorCatalog[err.code];
    return 'dimse' in entry ? entry.dimse : ErrorCatalog.INTERNAL.dimse;
  }
  return ErrorCatalog.INTERNAL.dimse;
}
