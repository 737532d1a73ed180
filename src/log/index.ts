import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * The application log: JSON lines, one child logger per association or request. It never carries dataset
 * contents, tokens or patient data; the audit log is a separate store (see the audit issue).
 */
export function createLogger(opts: { level: string; name?: string; destination?: NodeJS.WritableStream }): Logger {
  const options: LoggerOptions = {
    level: opts.level,
    base: opts.name !== undefined ? { node: opts.name } : {},
    timestamp: pino.stdTimeFunctions.isoTime,
    // Only the named fields of an error are logged; arbitrary properties could hold request data.
    serializers: { err: pino.stdSerializers.err },
  };
  return opts.destination !== undefined ? pino(options, opts.destination) : pino(options);
}

/** A logger that drops everything, for tests and for library callers that did not pass one. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
