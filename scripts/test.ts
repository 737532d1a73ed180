// Runs every test file with Node's own runner. Unit tests live beside the code (src/**/*.test.ts),
// integration tests with real peers in test/**/*.test.ts.
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';

const roots = process.argv.slice(2);
const patterns = roots.length > 0 ? roots.map((r) => `${r}/**/*.test.ts`) : ['src/**/*.test.ts', 'test/**/*.test.ts'];
const files = patterns.flatMap((p) => globSync(p)).sort();
if (files.length === 0) {
  console.error(`no test files match ${patterns.join(', ')}`);
  process.exit(1);
}
// The timeout only stops a test that hangs: the soak tests (50 kills of a node) take minutes on a busy 2-core machine,
// and a file's tests share its budget.
// The node's modules load as the launcher loads them (bin/javascript-cache.mjs: stripped once, kept), not through Node's
// type stripper in every test process: the path a hospital's node takes. A test file alone starts 0.15-0.3 s sooner;
// the whole suite's time did not move beyond its run-to-run spread (906 and 946 s).
const result = spawnSync(
  process.execPath,
  [
    '--disable-warning=ExperimentalWarning',
    '--import',
    new URL('../bin/javascript-cache.mjs', import.meta.url).href,
    '--test',
    '--test-concurrency=2',
    '--test-timeout=900000',
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
