import { BeeldbrugError } from './errors/index.ts';
import { buildProgram } from './cli/program.ts';

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  // Errors we raise on purpose carry a message meant for the operator; anything else is a bug and keeps its stack.
  if (err instanceof BeeldbrugError) {
    process.stderr.write(`beeldbrug: ${err.code}: ${err.message}\n`);
  } else {
    process.stderr.write(`beeldbrug: unexpected error\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exitCode = 1;
}
