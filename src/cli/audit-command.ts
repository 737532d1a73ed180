import { userInfo } from 'node:os';
import type { Config } from '../config/index.ts';
import { auditTrailLocation, auditWitnessFile, openAuditTrail } from '../node/index.ts';
import { printJson } from './cli-output.ts';
import { signedInClient } from './session-file.ts';

/**
 * `beeldbrug audit verify`: recomputes the node's audit chain with its audit key, checks it against the witness of its
 * newest record kept outside the file, and names the first record that was edited, removed, inserted or moved. Prints
 * no patient data, so it needs no auditor sign-in; it needs the key file, which only the node's administrators can
 * read. Returns the process exit code (0 intact, 1 broken); with `json` the verification as one JSON document.
 */
export async function verifyAuditFromCli(
  config: Readonly<Config>,
  out: NodeJS.WritableStream = process.stdout,
  json = false,
): Promise<number> {
  const trail = await openAuditTrail(config, { forVerify: true });
  try {
    const v = await trail.verify();
    if (json) {
      printJson({ intact: v.ok, ...v }, out);
      return v.ok ? 0 : 1;
    }
    if (v.ok) {
      const newest = await trail.newest();
      // The audit repository (ATNA export) holds every record with its sequence and hash: the copy to compare with
      // when the trail and its witness may both have been rolled back.
      out.write(
        `audit trail intact: ${v.records} records verified ${auditTrailLocation(config)}, up to the witness in ${auditWitnessFile(config)}; newest record ${newest.sequence}, chain hash ${newest.hash}\n`,
      );
      return 0;
    }
    out.write(`audit trail BROKEN at record ${v.firstBadSequence}: ${v.problem} (${v.records} records read)\n`);
    return 1;
  } finally {
    await trail.close();
  }
}

/**
 * `beeldbrug audit accept-head`: after an administrator has established why the trail no longer reaches its witness
 * (a restore from an older backup, say), moves the witness to the trail's present newest record so the node starts
 * again. The acceptance is itself a record naming what the witness said and who at the operating system ran it, so the
 * gap stays visible to an auditor. The chain must be intact up to its present end.
 */
export async function acceptAuditHeadFromCli(
  config: Readonly<Config>,
  reason: string,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const trail = await openAuditTrail(config, { forVerify: true });
  try {
    const problem = trail.witnessProblem;
    if (problem === undefined) {
      out.write('the audit trail reaches its witness; nothing to accept\n');
      return 0;
    }
    const r = await trail.acceptHead({
      action: 'configuration-change',
      outcome: 'success',
      description: `audit witness moved to the trail's present end by an administrator (${reason}); it said: ${problem}`,
      user: { id: `os:${userInfo().username}`, name: `${userInfo().username} (operating system account)` },
      accessPoint: { node: 'cli' },
      objects: {},
      grounds: { purpose: 'audit-maintenance' },
    });
    if (!r.ok) {
      out.write(`not accepted: the chain itself is broken at record ${r.firstBadSequence}: ${r.problem}\n`);
      return 1;
    }
    out.write(`witness moved to record ${r.sequence}, which records the acceptance\n`);
    return 0;
  } finally {
    await trail.close();
  }
}

export interface AuditListOptions {
  bsn?: string;
  user?: string;
  action?: string;
  since?: string;
  until?: string;
  /** Why the auditor reads, recorded with the reading (e.g. a patient's request for their log). */
  purpose?: string;
  limit?: number;
}

/**
 * `beeldbrug audit list`: the auditor's view of the trail, through the node's API with the saved sign-in (an auditor's
 * session with two factors), so the reading is itself recorded with who read and why. One line per record, oldest
 * first; with `json` the records as the node gives them.
 */
export async function listAuditFromCli(
  o: AuditListOptions,
  out: NodeJS.WritableStream = process.stdout,
  json = false,
): Promise<void> {
  const { client } = signedInClient();
  const { records } = await client.auditRecords({
    ...(o.bsn !== undefined ? { bsn: o.bsn } : {}),
    ...(o.user !== undefined ? { user: o.user } : {}),
    ...(o.action !== undefined ? { action: o.action } : {}),
    ...(o.since !== undefined ? { since: o.since } : {}),
    ...(o.until !== undefined ? { until: o.until } : {}),
    ...(o.purpose !== undefined ? { purpose: o.purpose } : {}),
    ...(o.limit !== undefined ? { limit: String(o.limit) } : {}),
  });
  if (json) return printJson(records, out);
  if (records.length === 0) {
    out.write('no audit records match\n');
    return;
  }
  for (const r of records) {
    const who = r.responsibleUser !== undefined ? `${r.user.name} for ${r.responsibleUser.name}` : r.user.name;
    const patient = r.patient?.bsn ?? r.patient?.patientId;
    const where = r.accessPoint.ip ?? r.accessPoint.aeTitle ?? r.accessPoint.node;
    out.write(
      `${r.time}  #${r.sequence}  ${r.action}${r.outcome === 'failure' ? ' (refused)' : ''}  ${who}  from ${where}` +
        `${patient !== undefined ? `  patient ${patient}` : ''}  ${r.description}` +
        `${r.grounds.purpose !== undefined ? `  [${r.grounds.purpose}${r.grounds.consentReference !== undefined ? `, consent ${r.grounds.consentReference}` : ''}]` : ''}\n`,
    );
  }
}
