import { randomUUID, X509Certificate } from 'node:crypto';
import { organizationOf } from '../auth/index.ts';
import { mayPack, packInstanceOffThread, transferSyntaxInfo } from '../dicom/index.ts';
import type { PartnerConfig } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { PatientDataAccess, ReleasedInstance } from '../studies/index.ts';
import type { Manifest, Purpose } from './manifest.ts';
import { PartnerClient } from '../http/index.ts';
import { verifyReceipt } from './receipt.ts';
import { PACKED_INSTANCE_TYPE } from './upload-route.ts';

export interface SendRequest {
  studyInstanceUid: string;
  to: PartnerConfig;
  purpose: Purpose;
  urgency: 'routine' | 'urgent';
  reason: string;
  user: { id: string; name: string; roleCode?: string };
  consentReference?: string;
}

export interface SendProgress {
  instances: number;
  needed: number;
  sent: number;
  bytesSent: number;
}

export interface SendResult {
  transferId: string;
  instances: number;
  sent: number;
  bytesSent: number;
  receipt: string;
}

const BATCH = 16;
const PARALLEL = 4;
const BOUNDARY = 'beeldbrug-part-boundary-7d1f0c';

/**
 * A batch of stored instances as a multipart/related body, each file streamed from the store as it goes out; with
 * `pack`, a file of uncompressed pixels goes packed (JPEG-LS lossless frames, see dicom/packed-instance.ts) when that
 * makes it smaller, read whole first (only files of a size mayPack allows).
 */
async function* multipartBody(
  batch: readonly ReleasedInstance[],
  onBytes: (n: number) => void,
  pack: boolean,
): AsyncIterable<Buffer> {
  for (const instance of batch) {
    const { transferSyntaxUid } = instance.stored.instance;
    if (pack && mayPack(transferSyntaxUid, instance.stored.blob.size)) {
      const chunks: Buffer[] = [];
      for await (const chunk of instance.openFile() as AsyncIterable<Buffer>) chunks.push(chunk);
      const file = Buffer.concat(chunks);
      // A file the encoder cannot take goes as it is: the receiver stores it the same.
      const packed = await packInstanceOffThread(file).catch(() => undefined);
      yield Buffer.from(
        `--${BOUNDARY}\r\nContent-Type: ${packed !== undefined ? PACKED_INSTANCE_TYPE : 'application/dicom'}\r\n\r\n`,
      );
      yield packed ?? file;
      onBytes(file.length);
    } else {
      yield Buffer.from(`--${BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n`);
      for await (const chunk of instance.openFile() as AsyncIterable<Buffer>) {
        onBytes(chunk.length);
        yield chunk;
      }
    }
    yield Buffer.from('\r\n');
  }
  yield Buffer.from(`--${BOUNDARY}--\r\n`);
}

/** A 4xx is the partner's considered answer; a 5xx is a passing fault worth another try. */
function refused(what: string, status: number, body: unknown): BeeldbrugError {
  return new BeeldbrugError(
    status >= 500 ? 'PARTNER_UNREACHABLE' : 'PARTNER_REFUSED',
    `${what}: HTTP ${status} ${JSON.stringify(body).slice(0, 500)}`,
  );
}

const connectionFaults: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Connection faults (refused, reset, cut off mid-upload), 5xx answers and a PACS that is down; never a refusal, a bad receipt or a local fault. */
export function isPassingFault(err: unknown): boolean {
  if (err instanceof BeeldbrugError) return err.code === 'PARTNER_UNREACHABLE' || err.code === 'PACS_UNREACHABLE';
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && connectionFaults.has(code);
}

/**
 * Pushes one study to a partner node (docs/exchange-protocol.md): manifest, upload of what the partner lacks in
 * parallel batches, commit, and a receipt that must be signed by that partner under the network CA. Sending a study the
 * partner already holds moves no image bytes.
 */
export interface SendDeps {
  /** The access in the name of who asked for the send: the only way to the study's bytes. */
  access: PatientDataAccess;
  tls: { key: string | Buffer; cert: string | Buffer; ca: string | Buffer };
  logger: Logger;
  onProgress?: (p: SendProgress) => void;
  transferId?: string;
  /** Attempts before giving up on a partner that cannot be reached (default 8, with back-off up to 5 s). */
  attempts?: number;
  /** Stops the send before its next batch or commit (a person cancelled it); the batch under way finishes. */
  signal?: AbortSignal;
}

/**
 * Sends a study, trying again when the partner cannot be reached or fails mid-transfer (a restart, a dropped link). Each
 * attempt re-posts the same manifest, so the partner answers only what it still lacks: nothing is sent twice.
 */
export async function sendStudy(r: SendRequest, d: SendDeps): Promise<SendResult> {
  const transferId = d.transferId ?? randomUUID();
  const attempts = d.attempts ?? 8;
  let sentBefore = { sent: 0, bytesSent: 0 };
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await sendOnce(r, { ...d, transferId });
      return { ...result, sent: result.sent + sentBefore.sent, bytesSent: result.bytesSent + sentBefore.bytesSent };
    } catch (err) {
      const progress = err instanceof AttemptFailed ? err.progress : { sent: 0, bytesSent: 0 };
      sentBefore = { sent: sentBefore.sent + progress.sent, bytesSent: sentBefore.bytesSent + progress.bytesSent };
      const cause = err instanceof AttemptFailed ? err.cause : err;
      if (attempt >= attempts || !isPassingFault(cause) || d.signal?.aborted === true) throw cause;
      const wait = Math.min(5_000, 250 * 2 ** (attempt - 1));
      d.logger.warn({ transferId, to: r.to.ura, attempt, waitMs: wait, err: cause }, 'send interrupted; trying again');
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

/** An attempt that failed after moving some instances, so the totals stay honest across attempts. */
class AttemptFailed extends Error {
  readonly progress: { sent: number; bytesSent: number };
  override readonly cause: unknown;
  constructor(cause: unknown, progress: { sent: number; bytesSent: number }) {
    super('attempt failed');
    this.cause = cause;
    this.progress = progress;
  }
}

async function sendOnce(r: SendRequest, d: SendDeps & { transferId: string }): Promise<SendResult> {
  if (r.to.baseUrl === undefined)
    throw new BeeldbrugError('CONFIG_INVALID', `partner ${r.to.name} (${r.to.ura}) has no baseUrl to send to`);
  d.signal?.throwIfAborted();
  // The worker records the outcome (delivered or given up) through the same access; each attempt is not a record.
  const released = await d.access.releaseStudy(r.studyInstanceUid, undefined);
  const instances = released.map((i) => i.stored);
  const first = instances[0];
  if (first === undefined) throw new BeeldbrugError('NOT_FOUND', `no study ${r.studyInstanceUid} in this node`);
  const manifest: Manifest = {
    transferId: d.transferId,
    purpose: r.purpose,
    urgency: r.urgency,
    reason: r.reason,
    sender: {
      user: {
        id: r.user.id,
        name: r.user.name,
        ...(r.user.roleCode !== undefined ? { roleCode: r.user.roleCode } : {}),
      },
    },
    ...(r.consentReference !== undefined ? { consentReference: r.consentReference } : {}),
    exclude: [],
    patient: {
      ...(first.patient.bsn !== null ? { bsn: first.patient.bsn } : {}),
      patientId: first.patient.patientId,
      ...(first.patient.issuerOfPatientId !== null ? { issuerOfPatientId: first.patient.issuerOfPatientId } : {}),
      ...(first.patient.patientName !== null ? { name: first.patient.patientName } : {}),
      ...(first.patient.birthDate !== null && /^\d{8}$/.test(first.patient.birthDate)
        ? { birthDate: first.patient.birthDate }
        : {}),
    },
    study: {
      studyInstanceUid: r.studyInstanceUid,
      ...(first.study.studyDate !== null && /^\d{8}$/.test(first.study.studyDate)
        ? { studyDate: first.study.studyDate }
        : {}),
      ...(first.study.studyDescription !== null ? { description: first.study.studyDescription.slice(0, 200) } : {}),
      ...(first.study.accessionNumber !== null ? { accessionNumber: first.study.accessionNumber.slice(0, 16) } : {}),
    },
    instances: instances.map((i) => ({
      sopInstanceUid: i.instance.sopInstanceUid,
      sopClassUid: i.instance.sopClassUid,
      seriesInstanceUid: i.series.seriesInstanceUid,
      transferSyntaxUid: i.instance.transferSyntaxUid,
      size: i.blob.size,
      sha256: i.blob.sha256,
    })),
  };

  const client = new PartnerClient(r.to.baseUrl, d.tls, PARALLEL, { ura: r.to.ura });
  const progress: SendProgress = { instances: instances.length, needed: 0, sent: 0, bytesSent: 0 };
  try {
    const opened = await client.json('POST', '/exchange/v1/transfers', manifest);
    if (opened.status !== 200 && opened.status !== 201)
      throw refused('opening the transfer', opened.status, opened.json);
    const answer = opened.json as { needed: string[]; partTypes?: unknown };
    const needed = new Set(answer.needed);
    // Packed only for a partner that says it restores them (an older node does not), and as the partner is configured.
    const pack =
      r.to.wireCompression !== 'zstd' &&
      Array.isArray(answer.partTypes) &&
      answer.partTypes.includes(PACKED_INSTANCE_TYPE);
    const toSend = released.filter((i) => needed.has(i.stored.instance.sopInstanceUid));
    progress.needed = toSend.length;
    d.onProgress?.(progress);

    const batches: ReleasedInstance[][] = [];
    for (let i = 0; i < toSend.length; i += BATCH) batches.push(toSend.slice(i, i + BATCH));
    const worker = async (): Promise<void> => {
      for (let batch = batches.shift(); batch !== undefined; batch = batches.shift()) {
        d.signal?.throwIfAborted();
        // zstd on the wire only where it pays: JPEG, JPEG-LS, JPEG 2000 and video are compressed already, and so are
        // packed pixels (the kB of header each that zstd would still find are not worth its pass over the rest).
        const compress = batch.some(({ stored }) => {
          const ts = stored.instance.transferSyntaxUid;
          return transferSyntaxInfo(ts)?.encapsulated !== true && !(pack && mayPack(ts, stored.blob.size));
        });
        const a = await client.stream(
          `/exchange/v1/transfers/${manifest.transferId}/instances`,
          `multipart/related; type="application/dicom"; boundary=${BOUNDARY}`,
          multipartBody(batch, (n) => (progress.bytesSent += n), pack),
          { compress },
        );
        const answer = a.json as { stored?: string[]; failed?: { sopInstanceUid: string | null; reason: string }[] };
        if (a.status !== 200 || (answer.failed ?? []).length > 0)
          throw refused('uploading instances', a.status, a.json);
        progress.sent += answer.stored?.length ?? 0;
        d.onProgress?.(progress);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, batches.length) }, worker));
    d.signal?.throwIfAborted();

    const committed = await client.json('POST', `/exchange/v1/transfers/${manifest.transferId}/commit`);
    if (committed.status !== 200) throw refused('committing the transfer', committed.status, committed.json);
    const receipt = (committed.json as { receipt: string }).receipt;
    const verified = await verifyReceipt(receipt, d.tls.ca);
    if (!verified.ok) throw new BeeldbrugError('PARTNER_REFUSED', `the receipt does not verify: ${verified.reason}`);
    const signer = organizationOf(new X509Certificate(verified.signer.raw));
    if (
      signer?.ura !== r.to.ura ||
      verified.claims.transferId !== manifest.transferId ||
      verified.claims.instances.length !== manifest.instances.length
    ) {
      throw new BeeldbrugError('PARTNER_REFUSED', 'the receipt is not for this transfer or not from this partner');
    }
    d.logger.info(
      {
        transferId: manifest.transferId,
        to: r.to.ura,
        purpose: r.purpose,
        instances: instances.length,
        sent: progress.sent,
        bytes: progress.bytesSent,
      },
      'study delivered',
    );
    return {
      transferId: manifest.transferId,
      instances: instances.length,
      sent: progress.sent,
      bytesSent: progress.bytesSent,
      receipt,
    };
  } catch (err) {
    throw new AttemptFailed(err, { sent: progress.sent, bytesSent: progress.bytesSent });
  } finally {
    client.close();
  }
}
