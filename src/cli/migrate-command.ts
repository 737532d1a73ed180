import { userInfo } from 'node:os';
import type { Config } from '../config/index.ts';
import { migrateToDatabase, openAuditTrail, rowsInWords, type MigrationReport } from '../node/index.ts';
import { printJson } from './cli-output.ts';

/** Progress is shown every this many records: a trail of years holds millions. */
const PROGRESS_EVERY = 50_000;

/**
 * `beeldbrug migrate`: with the node stopped, copies what it kept in its data folder to the database server its
 * configuration names, verifies the copy, and says so. Run it again after an interruption: it goes on where it stopped.
 * Returns the exit code: 0 when the copy is complete and verifies, 1 otherwise.
 */
export async function migrateFromCli(
  config: Readonly<Config>,
  out: NodeJS.WritableStream = process.stdout,
  json = false,
): Promise<number> {
  const report = await migrateToDatabase(config, (what, copied) => {
    if (!json && copied % PROGRESS_EVERY === 0) out.write(`${what}: ${copied} copied so far\n`);
  });
  const a = report.audit;
  if (a.verification.ok) await recordMigration(config, report);
  if (json) {
    printJson(report, out);
    return a.verification.ok ? 0 : 1;
  }
  out.write(
    `audit trail: ${a.copied} records copied from ${a.from}${a.already > 0 ? ` (${a.already} were there from an earlier run)` : ''}\n`,
  );
  if (!a.verification.ok) {
    out.write(
      `audit trail BROKEN at record ${a.verification.firstBadSequence} after copying: ${a.verification.problem}; the node will not start on it\n`,
    );
    return 1;
  }
  out.write(
    `audit trail verified ${a.to}: ${a.verification.records} records, newest ${a.newest.sequence}, chain hash ${a.newest.hash}\n`,
  );
  for (const i of report.indexes)
    out.write(
      `${i.from}: ${i.copied} instances copied${i.instances > i.copied ? ` (${i.instances - i.copied} were there from an earlier run)` : ''}; ` +
        `verified ${i.to}: ${i.instances} instances, digest ${i.digest}\n`,
    );
  for (const c of report.tables) out.write(tableCopyLine(c.from, c));
  const kept = new Set([a.from, ...report.indexes.map((i) => i.from), ...report.tables.map((c) => c.from)]);
  out.write(
    `start the node with this configuration; keep ${[...kept].join(' and ')} with the node's backups (the database holds their records now; the image files stay in the data folder)\n`,
  );
  return 0;
}

/** One copied table, as `migrate` and `registry migrate` report it. */
export function tableCopyLine(
  from: string,
  c: Pick<MigrationReport['tables'][number], 'table' | 'rows' | 'copied' | 'digest'>,
): string {
  const earlier = c.rows > c.copied ? ` (${c.rows - c.copied} were there from an earlier run)` : '';
  return `${from} (${c.table}): ${rowsInWords(c.copied)} copied${earlier}; verified: ${rowsInWords(c.rows)}, digest ${c.digest}\n`;
}

/**
 * One audit record of the run, on the trail now on the server, by the operating-system user who ran it: a copy of every
 * patient's records is an act an auditor must find, as a whole (its instances are not read one by one).
 */
async function recordMigration(config: Readonly<Config>, report: MigrationReport): Promise<void> {
  const operator = userInfo().username;
  const a = report.audit;
  const what = [
    `audit trail ${a.copied} records copied${a.already > 0 ? `, ${a.already} there before` : ''}`,
    ...report.indexes.map((i) => `${i.from}: ${i.instances} instances`),
    ...report.tables.map((c) => `${c.table}: ${rowsInWords(c.rows)}`),
  ];
  const audit = await openAuditTrail(config);
  try {
    await audit.record({
      action: 'configuration-change',
      outcome: 'success',
      description: `the node's records moved from its data folder to the database server (${what.join('; ')})`,
      user: { id: `os:${operator}`, name: `${operator} (beeldbrug migrate)` },
      accessPoint: { node: config.node.name },
      objects: {},
      grounds: { purpose: 'migration to a database server' },
    });
  } finally {
    await audit.close();
  }
}
