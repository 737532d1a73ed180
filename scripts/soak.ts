// The crash soak: the SIGKILL tests with many more kills than `npm test` runs (KILL_ROUNDS, 500 unless set; the sender
// side of the transfer test takes SENDER_KILL_ROUNDS, 40% of that unless set), one file after the other, their output
// passed through. The last line sums up what the tests counted; the exit code is 1 when a file failed, an acknowledged
// instance was lost, something was left orphaned, or a test did not report.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const FILES = ['test/node/kill-during-ingest.test.ts', 'test/node/exchange-kill-transfer.test.ts'] as const;
/** What each kill test reports last (in a `finally`, so a failing run reports what it counted too). */
const STATS = /soak-stats test=(\S+) kills=(\d+) lost=(\d+) orphans=(\d+)/;
const EXPECTED_TESTS = ['ingest', 'transfer-receiver', 'transfer-sender'] as const;

const rounds = process.env['KILL_ROUNDS'] ?? '500';
const started = Date.now();
const kills = new Map<string, number>();
let lost = 0;
let orphans = 0;
let failedFiles = 0;

function run(file: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', '--test', '--test-reporter=tap', file],
      {
        env: { ...process.env, KILL_ROUNDS: rounds },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      process.stdout.write(`${line}\n`);
      const m = STATS.exec(line);
      if (m === null) return;
      kills.set(m[1] ?? '', (kills.get(m[1] ?? '') ?? 0) + Number(m[2]));
      lost += Number(m[3]);
      orphans += Number(m[4]);
    });
    child.once('error', reject);
    child.once('close', resolve);
  });
}

for (const file of FILES) {
  process.stdout.write(`soak: ${file} with KILL_ROUNDS=${rounds}\n`);
  if ((await run(file)) !== 0) failedFiles += 1;
}
const unreported = EXPECTED_TESTS.filter((name) => !kills.has(name));
const receiver = kills.get('transfer-receiver') ?? 0;
const sender = kills.get('transfer-sender') ?? 0;
process.stdout.write(
  `soak kills_ingest=${kills.get('ingest') ?? 0} kills_transfer=${receiver + sender} kills_receiver=${receiver} kills_sender=${sender} ` +
    `lost=${lost} orphans=${orphans} failed_files=${failedFiles}${unreported.length > 0 ? ` unreported=${unreported.join(',')}` : ''} ` +
    `seconds=${Math.round((Date.now() - started) / 1000)}\n`,
);
process.exitCode = failedFiles === 0 && lost === 0 && orphans === 0 && unreported.length === 0 ? 0 : 1;
