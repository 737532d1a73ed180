import { setTimeout as sleep } from 'node:timers/promises';
import { BeeldbrugError } from '../errors/index.ts';
import type { Timeline } from '../timeline/index.ts';
import { signedInClient } from './session-file.ts';

export interface TimelineCliOptions {
  bsn: string;
  includeReports: boolean;
  json: boolean;
  /** Retrieve this study (from the source that has it) after listing. */
  retrieve?: string;
  /** How long to wait for a retrieved study to arrive, in seconds; 0 returns once the source has queued it. */
  waitSeconds: number;
}

function dateOf(d: string | null): string {
  return d !== null && d.length === 8 ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}` : '(no date)';
}

/** The timeline as a radiologist reads it in a terminal: the sources first, then the studies newest first. */
export function formatTimeline(t: Timeline): string {
  const lines: string[] = [];
  lines.push(
    `timeline of BSN ${t.bsn} (${t.mode === 'registry' ? 'sources named by the registry' : 'no registry: the configured regional sources were asked'})`,
  );
  if (t.sources.length === 0) lines.push('  no other organization is known to hold studies that may be shown');
  for (const s of t.sources)
    lines.push(
      `  ${s.name.padEnd(28)} URA ${s.ura}  ${s.status}${s.reason !== undefined ? ` (${s.reason})` : ''}, ${s.studies} studies, ${s.ms} ms`,
    );
  lines.push('');
  for (const s of t.studies) {
    lines.push(
      `${dateOf(s.studyDate)}  ${s.modalities.join('/').padEnd(8)} ${(s.description ?? '').padEnd(32)} ${s.bodyParts.join(',').padEnd(10)} ${String(s.series).padStart(3)} series ${String(s.instances).padStart(5)} images  ${s.hasReport ? 'report' : '      '}  ${s.source.name}`,
    );
    lines.push(`            study ${s.studyInstanceUid}`);
    if (s.reportText !== undefined) lines.push(...s.reportText.split('\n').map((l) => `            | ${l}`));
  }
  return lines.join('\n') + '\n';
}

/**
 * `beeldbrug timeline BSN`: asks the node (as the signed-in person, over its HTTPS API) for the patient's studies at
 * other hospitals. The node signs the question in that person's name and records it; the CLI holds no key and opens no
 * database. With --retrieve it asks the study's source to send it, and follows its arrival in the node's inbox.
 */
export async function timelineFromCli(o: TimelineCliOptions): Promise<void> {
  const { client } = signedInClient();
  const t = await client.timeline({ bsn: o.bsn, includeReports: o.includeReports });
  process.stdout.write(o.json ? JSON.stringify(t, null, 2) + '\n' : formatTimeline(t));
  if (o.retrieve === undefined) return;
  const study = t.studies.find((s) => s.studyInstanceUid === o.retrieve);
  if (study === undefined)
    throw new BeeldbrugError('NOT_FOUND', `study ${o.retrieve} is not in this patient's timeline`);
  const r = await client.retrieve({ bsn: o.bsn, source: study.source.ura, studyInstanceUid: study.studyInstanceUid });
  // An XCA community's study is brought in by the node itself before it answers: nothing to follow.
  if (!('transferId' in r)) {
    process.stdout.write(
      `retrieved from ${r.source.name}: ${r.retrieved} instances stored${r.failed > 0 ? `, ${r.failed} not given by the community` : ''}\n`,
    );
    return;
  }
  process.stdout.write(`${r.source.name} queued the study for us: transfer ${r.transferId}\n`);
  if (o.waitSeconds <= 0) return;
  const until = Date.now() + o.waitSeconds * 1000;
  // The source announces the transfer before it uploads; until then the node does not know it (404).
  for (;;) {
    const left = Math.ceil((until - Date.now()) / 1000);
    const arrived = await client.inboxTransfer(r.transferId, Math.max(0, Math.min(20, left))).catch((err: unknown) => {
      // Not in the inbox yet: the source has not opened the transfer. (NOT_FOUND is how an older node says so.)
      if (err instanceof BeeldbrugError && (err.code === 'TRANSFER_NOT_FOUND' || err.code === 'NOT_FOUND'))
        return undefined;
      throw err;
    });
    if (arrived !== undefined && (arrived.state === 'delivered' || arrived.state === 'imported')) {
      process.stdout.write(`arrived and verified: ${arrived.instances} instances (${arrived.state})\n`);
      return;
    }
    if (arrived?.state === 'failed')
      throw new BeeldbrugError(
        'PARTNER_REFUSED',
        `transfer ${r.transferId} failed at this node (see its inbox and log)`,
      );
    if (Date.now() >= until)
      throw new BeeldbrugError(
        'PARTNER_TIMEOUT',
        `transfer ${r.transferId} has not arrived within ${o.waitSeconds} s; it is still on its way (see the node's inbox)`,
      );
    // Not announced yet: look again shortly (an announced transfer is waited for by the node itself).
    if (arrived === undefined) await sleep(Math.min(1000, Math.max(0, until - Date.now())));
  }
}
