// `npm run fuzz`: the fuzz properties of test/fuzz, long and with a fresh seed (FUZZ_RUNS per parser, default
// 20,000; FUZZ_SEED to replay a run). A failure prints the counterexample to add to test/fuzz/regressions.ts.
import fc from 'fast-check';
import { multipartProperty, part10Property, pduProperty } from '../test/fuzz/targets.ts';

const runs = Number(process.env['FUZZ_RUNS'] ?? 20_000);
const seed = Number(process.env['FUZZ_SEED'] ?? Date.now() % 2 ** 31);
let failed = 0;
for (const [name, property] of [
  ['part10', part10Property()],
  ['pdu', pduProperty()],
  ['multipart', multipartProperty()],
] as const) {
  const started = performance.now();
  const r = await fc.check(property as fc.IRawProperty<unknown>, { numRuns: runs, seed });
  const s = ((performance.now() - started) / 1000).toFixed(1);
  if (r.failed) {
    failed++;
    console.log(
      `${name}: FAILED after ${r.numRuns} runs (${s} s); add to test/fuzz/regressions.ts: ${JSON.stringify(r.counterexample)}`,
    );
    console.log(String(r.errorInstance).slice(0, 2000));
  } else {
    console.log(`${name}: ${r.numRuns} runs passed (${s} s)`);
  }
}
console.log(`fuzz_seed=${seed} runs_per_parser=${runs} failed_parsers=${failed}`);
process.exit(failed > 0 ? 1 : 0);
