import { BeeldbrugError } from './errors/index.ts';
import { buildProgram } from './cli/program.ts';

// Whatever this process creates (databases, key files, temp files) is for the node's own user only, also where a
// library creates a file without naming a mode.
process.umask(0o077);

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  // Errors we raise on purpose carry a message meant for the operator; anything else is a bug and keeps its stack.
  if (err instanceof BeeldbrugError) {
    process.stderr.write(`beeldbrug: ${err.code}: ${err.message}\n`);
  } else {
    process.stderr.write(
      `beeldbrug: unexpected error\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
  }
  process.exitCode = 1;
}
