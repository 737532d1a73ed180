import { Command, CommanderError, type ParseOptions } from 'commander';
import { ConfigInvalidError } from '../config/index.ts';
import { BeeldbrugError, ErrorCatalog, type ErrorCode } from '../errors/index.ts';

/**
 * Exit codes, as scripts and monitoring read them: 0 done; 1 the command ran and failed (the message says why);
 * 2 the command line itself is wrong (unknown command or option, missing or invalid value), so nothing was done.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** What a command prints with --json: one JSON document on standard output. */
export function printJson(value: unknown, out: NodeJS.WritableStream = process.stdout): void {
  out.write(JSON.stringify(value, null, 2) + '\n');
}

/** Commander's own codes for a help or version request: printed, not an error. */
const NOT_AN_ERROR = new Set(['commander.helpDisplayed', 'commander.version']);

export function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) {
    // `beeldbrug help init` asked for help (exit code 0); `beeldbrug audit` without its subcommand did not.
    return NOT_AN_ERROR.has(err.code) || (err.code === 'commander.help' && err.exitCode === 0) ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof BeeldbrugError && err.code === 'COMMAND_LINE_INVALID') return EXIT.usage;
  return EXIT.failed;
}

/** An error as --json prints it on standard error: the catalog code and its meaning, what happened, the exit code. */
export interface JsonError {
  code: ErrorCode;
  title: string;
  detail: string;
  exitCode: number;
  /** For CONFIG_INVALID: each problem by key path. */
  issues?: readonly { path: string; message: string }[];
  /** For an unexpected error (a bug): where it happened, for the bug report. */
  stack?: string;
}

export function jsonErrorOf(err: unknown): JsonError {
  const exitCode = exitCodeOf(err);
  if (err instanceof CommanderError) {
    // Commander phrases its messages for a terminal ("error: unknown option '--x'").
    return {
      code: 'COMMAND_LINE_INVALID',
      title: ErrorCatalog.COMMAND_LINE_INVALID.summary,
      detail: err.message.replace(/^error: /, ''),
      exitCode,
    };
  }
  if (err instanceof BeeldbrugError) {
    return {
      code: err.code,
      title: ErrorCatalog[err.code].summary,
      detail: err.message,
      exitCode,
      ...(err instanceof ConfigInvalidError ? { issues: err.issues } : {}),
    };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    code: 'INTERNAL',
    title: ErrorCatalog.INTERNAL.summary,
    detail: e.message,
    exitCode,
    ...(e.stack !== undefined ? { stack: e.stack } : {}),
  };
}

/**
 * Writes what went wrong to standard error (JSON with --json) and returns the exit code. `shown`: commander has
 * printed this error itself (its parse errors); one thrown by an action, such as an InvalidArgumentError, it has not.
 */
export function reportError(
  err: unknown,
  json: boolean,
  errOut: NodeJS.WritableStream = process.stderr,
  shown = false,
): number {
  const exitCode = exitCodeOf(err);
  if (json) {
    if (!(err instanceof CommanderError && exitCode === EXIT.ok)) printJson(jsonErrorOf(err), errOut);
  } else if (err instanceof CommanderError) {
    if (!shown) errOut.write(`beeldbrug: COMMAND_LINE_INVALID: ${err.message.replace(/^error: /, '')}\n`);
  } else if (err instanceof BeeldbrugError) {
    // Errors we raise on purpose carry a message meant for the operator; anything else is a bug and keeps its stack.
    errOut.write(`beeldbrug: ${err.code}: ${err.message}\n`);
  } else {
    errOut.write(`beeldbrug: unexpected error\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  return exitCode;
}

/** Whether --json is on the command line (before a `--`), known before commander has parsed anything. */
export function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--json');
}

/**
 * The root command: its parse never throws. A usage error, a failure or a bug is reported on standard error (as JSON
 * with --json, commander's own terminal text then held back) and becomes the process exit code; see EXIT.
 */
export class CliProgram extends Command {
  private json = false;
  /** The errors commander reported on its own before handing them to us. */
  private readonly shownByCommander = new WeakSet<CommanderError>();

  constructor(name: string) {
    super(name);
    this.exitOverride((err) => {
      this.shownByCommander.add(err);
      throw err;
    });
    this.configureOutput({
      writeErr: (text) => {
        if (!this.json) process.stderr.write(text);
      },
    });
    // The whole help after every typo buries the one line that says what was wrong.
    this.showHelpAfterError('(add --help to see the usage)');
  }

  override async parseAsync(argv?: readonly string[], parseOptions?: ParseOptions): Promise<this> {
    this.json = wantsJson(argv ?? process.argv);
    try {
      await super.parseAsync(argv, parseOptions);
    } catch (err) {
      process.exitCode = reportError(
        err,
        this.json,
        process.stderr,
        err instanceof CommanderError && this.shownByCommander.has(err),
      );
    }
    return this;
  }
}
