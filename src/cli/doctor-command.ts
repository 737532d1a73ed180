import type { Config } from '../config/index.ts';
import { type Finding, runDoctor } from '../node/index.ts';
import { printJson } from './cli-output.ts';

const MARK: Record<Finding['level'], string> = { critical: 'CRITICAL', warning: 'WARNING ', ok: 'ok      ' };

/**
 * `beeldbrug doctor`: the configuration's insecure settings, then probes of this node's own ports and of every DICOM
 * peer with a port, as a stranger on the network would probe them. Prints each finding with its fix; returns the exit
 * code (1 when anything is critical). With `json`, the findings as one JSON document. Counts what a PACS reveals and never prints it.
 */
export async function doctorFromCli(
  config: Readonly<Config>,
  out: NodeJS.WritableStream = process.stdout,
  json = false,
): Promise<number> {
  const findings = await runDoctor(config);
  const critical = findings.filter((f) => f.level === 'critical').length;
  const warnings = findings.filter((f) => f.level === 'warning').length;
  if (json) {
    printJson({ findings, critical, warnings, ok: findings.length - critical - warnings }, out);
    return critical > 0 ? 1 : 0;
  }
  for (const f of findings) {
    out.write(`${MARK[f.level]} ${f.subject}: ${f.finding}\n`);
    if (f.fix !== undefined && f.level !== 'ok') out.write(`         fix: ${f.fix}\n`);
  }
  out.write(`${critical} critical, ${warnings} warnings, ${findings.length - critical - warnings} ok\n`);
  return critical > 0 ? 1 : 0;
}
