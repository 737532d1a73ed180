import type { Config } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { type Purpose, sendStudy, type SendProgress } from '../exchange/index.ts';
import type { Logger } from '../log/index.ts';
import { openEmbeddedStore, readEncryptionKeyFile } from '../store/index.ts';
import { StudyService } from '../studies/index.ts';
import { readTlsFiles } from '../node/index.ts';

export interface SendOptions {
  study: string;
  to: string;
  purpose: Purpose;
  urgency: 'routine' | 'urgent';
  reason: string;
  userId: string;
  userName: string;
  consent?: string;
}

/** `\r[#########...........]  12/40 instances  5.2 MB` on a terminal; a line per batch otherwise. */
function progressLine(p: SendProgress): string {
  const width = 30;
  const done = p.needed === 0 ? width : Math.round((p.sent / p.needed) * width);
  return `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${p.sent}/${p.needed} instances sent (${p.instances - p.needed} already there), ${(p.bytesSent / 1e6).toFixed(1)} MB`;
}

/** Sends a study from this node's store to a partner; reads the store beside a running node (SQLite WAL allows it). */
export async function sendFromCli(config: Readonly<Config>, o: SendOptions, logger: Logger): Promise<void> {
  const exchange = config.exchange;
  if (exchange === undefined) throw new BeeldbrugError('CONFIG_INVALID', 'the configuration has no exchange section: this node cannot send to partners');
  const partner = exchange.partners.find((p) => p.ura === o.to || p.name === o.to);
  if (partner === undefined) throw new BeeldbrugError('CONFIG_INVALID', `${o.to} is not a partner in exchange.partners (give its URA or name)`);
  const store = await openEmbeddedStore({ dataDir: config.dataDir, encryptionKey: readEncryptionKeyFile(config.store.encryptionKeyFile) });
  const tty = process.stderr.isTTY;
  try {
    const studies = new StudyService({ store, logger, retrieveAeTitle: config.dimse.aeTitle });
    const tls = readTlsFiles(exchange.tls);
    const result = await sendStudy(
      {
        studyInstanceUid: o.study,
        to: partner,
        purpose: o.purpose,
        urgency: o.urgency,
        reason: o.reason,
        user: { id: o.userId, name: o.userName },
        ...(o.consent !== undefined ? { consentReference: o.consent } : {}),
      },
      { studies, tls, logger, onProgress: (p) => process.stderr.write(tty ? `\r${progressLine(p)}` : `${progressLine(p)}\n`) },
    );
    if (tty) process.stderr.write('\n');
    process.stdout.write(`delivered to ${partner.name} (URA ${partner.ura}): transfer ${result.transferId}, ${result.instances} instances, ${result.sent} sent, receipt verified\n`);
  } finally {
    await store.close();
  }
}
