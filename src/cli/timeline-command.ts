import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { Inbox } from '../exchange/index.ts';
import { openAuditTrail, readTlsFiles } from '../node/index.ts';
import { HttpsRegistryClient, readNetworkKeyFile } from '../registry/index.ts';
import { type Requester, type Timeline, TimelineService } from '../timeline/index.ts';

export interface TimelineCliOptions {
  bsn: string;
  requester: Requester;
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
  lines.push(`timeline of BSN ${t.bsn} (${t.mode === 'registry' ? 'sources named by the registry' : 'no registry: the configured regional sources were asked'})`);
  if (t.sources.length === 0) lines.push('  no other organization is known to hold studies that may be shown');
  for (const s of t.sources) lines.push(`  ${s.name.padEnd(28)} URA ${s.ura}  ${s.status}${s.reason !== undefined ? ` (${s.reason})` : ''}, ${s.studies} studies, ${s.ms} ms`);
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
 * `beeldbrug timeline BSN`: asks the registry and the sources with the node's own certificate and network key (the node
 * need not run for the question; it must run to receive a retrieved study), and writes the audit record into the
 * node's audit trail.
 */
export async function timelineFromCli(config: Readonly<Config>, o: TimelineCliOptions): Promise<void> {
  const exchange = config.exchange;
  if (exchange === undefined) throw new BeeldbrugError('CONFIG_INVALID', 'the configuration has no exchange section: the timeline needs the node certificate and partners');
  const tls = readTlsFiles(exchange.tls);
  const registry =
    config.registry !== undefined
      ? new HttpsRegistryClient({ baseUrl: config.registry.baseUrl, tls, networkKey: readNetworkKeyFile(config.registry.networkKeyFile), ourUra: config.node.organization.ura, timeoutMs: config.registry.timeoutSeconds * 1000 })
      : undefined;
  const audit = openAuditTrail(config);
  const timeline = new TimelineService({
    registry,
    regionalSources: config.timeline.regionalSources,
    partners: exchange.partners,
    us: config.node.organization,
    tls,
    audit,
    node: config.node.name,
    sourceTimeoutMs: config.timeline.sourceTimeoutMs,
  });
  try {
    const t = await timeline.query({ bsn: o.bsn, requester: o.requester, includeReports: o.includeReports });
    process.stdout.write(o.json ? JSON.stringify(t, null, 2) + '\n' : formatTimeline(t));
    if (o.retrieve === undefined) return;
    const study = t.studies.find((s) => s.studyInstanceUid === o.retrieve);
    if (study === undefined) throw new BeeldbrugError('NOT_FOUND', `study ${o.retrieve} is not in this patient's timeline`);
    const r = await timeline.retrieve({ bsn: o.bsn, sourceUra: study.source.ura, studyInstanceUid: study.studyInstanceUid, requester: o.requester });
    process.stdout.write(`${r.source.name} queued the study for us: transfer ${r.transferId}\n`);
    if (o.waitSeconds > 0) await waitForArrival(join(config.dataDir, 'exchange.sqlite'), r.transferId, o.waitSeconds);
  } finally {
    timeline.close();
    registry?.close();
    audit.close();
  }
}

async function waitForArrival(exchangeDb: string, transferId: string, seconds: number): Promise<void> {
  const inbox = new Inbox(exchangeDb);
  try {
    const until = Date.now() + seconds * 1000;
    while (Date.now() < until) {
      const t = inbox.find(transferId);
      if (t !== undefined && (t.state === 'delivered' || t.state === 'imported')) {
        process.stdout.write(`arrived and verified: ${t.manifest.instances.length} instances (${t.state})\n`);
        return;
      }
      await sleep(250);
    }
    throw new BeeldbrugError('PARTNER_TIMEOUT', `transfer ${transferId} has not arrived within ${seconds} s; is this node running? (beeldbrug start)`);
  } finally {
    inbox.close();
  }
}
