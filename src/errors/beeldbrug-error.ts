import { ErrorCatalog, type ErrorCode } from './catalog.ts';

/** The one error type the node throws on purpose. `message` is safe to show to the caller; `cause` is for the log. */
export class BeeldbrugError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BeeldbrugError';
    this.code = code;
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
