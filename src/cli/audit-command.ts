import type { Config } from '../config/index.ts';
import { openAuditTrail } from '../node/index.ts';
import { printJson } from './cli-output.ts';

/**
 * `beeldbrug audit verify`: recomputes the node's audit chain with its audit key and names the first record that was
 * edited, removed, inserted or moved. Prints no patient data, so it needs no auditor sign-in; it needs the key file,
 * which only the node's administrators can read. Returns the process exit code (0 intact, 1 broken); with `json` the
 * verification as one JSON document.
 */
export function verifyAuditFromCli(config: Readonly<Config>, out: NodeJS.WritableStream = process.stdout, json = false): number {
  const trail = openAuditTrail(config);
  try {
    const v = trail.verify();
    if (json) {
      printJson({ intact: v.ok, ...v }, out);
      return v.ok ? 0 : 1;
    }
    if (v.ok) {
      out.write(`audit trail intact: ${v.records} records verified\n`);
      return 0;
    }
    out.write(`audit trail BROKEN at record ${v.firstBadSequence}: ${v.problem} (${v.records} records read)\n`);
    return 1;
  } finally {
    trail.close();
  }
}
