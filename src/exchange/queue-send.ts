import type { PartnerConfig } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { AccessorKind, PatientData } from '../studies/index.ts';
import type { Outbox, OutgoingRequest, OutgoingTransfer } from './outbox.ts';
import { decidePurpose } from './purpose-decision.ts';
import { type AccessPoint, sendAbout, sendGrounds } from './audit-events.ts';

export interface StudyLocation {
  instances: number;
  patient: { bsn?: string; patientId?: string };
}

/**
 * Where the node gets a study it does not hold (all of): the hospital's PACS (exchange.fetchFrom). The node layer
 * implements it with DIMSE; the exchange only asks.
 */
export interface StudySource {
  /** The study at the source: how many instances and whose; undefined when the source does not have it. */
  locate(studyInstanceUid: string): Promise<StudyLocation | undefined>;
  /** Brings every instance of the study into the node's store. */
  fetch(studyInstanceUid: string): Promise<{ retrieved: number }>;
}

export interface QueueSendDeps {
  outbox: Outbox;
  patientData: PatientData;
  partners: readonly PartnerConfig[];
  ourUra: string;
  source?: StudySource | undefined;
}

/** The partner by URA, or by name as an operator types it. */
export function findPartner(partners: readonly PartnerConfig[], uraOrName: string): PartnerConfig | undefined {
  return partners.find((p) => p.ura === uraOrName || p.name === uraOrName);
}

/**
 * The one way a send is asked for (HTTP API, CLI, a C-MOVE to a partner's AE title): checks what can be checked here
 * (a partner we can reach, the purpose rules the receiver applies too, the study in this node or in its PACS) and queues
 * the transfer in the durable outbox. Sending, and fetching from the PACS first, happens in the node's outbox worker.
 */
export async function queueSend(
  d: QueueSendDeps,
  by: AccessorKind,
  at: AccessPoint,
  request: OutgoingRequest,
): Promise<OutgoingTransfer> {
  const access = d.patientData.open(sendGrounds(request, at, by));
  const partner = d.partners.find((p) => p.ura === request.partnerUra);
  if (partner?.baseUrl === undefined) {
    throw new BeeldbrugError(
      'PARTNER_UNKNOWN',
      `URA ${request.partnerUra} is not a partner with a baseUrl in exchange.partners`,
    );
  }
  const purpose = decidePurpose({
    purpose: request.purpose,
    consentReference: request.consentReference,
    senderUra: d.ourUra,
    receiverUra: partner.ura,
  });
  if (!purpose.accept) throw new BeeldbrugError('SEND_NOT_ALLOWED', purpose.detail);
  const patient =
    (await access.studySummary(request.studyInstanceUid)).patient ??
    (await d.source?.locate(request.studyInstanceUid))?.patient;
  if (patient === undefined) {
    throw new BeeldbrugError(
      'NOT_FOUND',
      `study ${request.studyInstanceUid} is not in this node${d.source !== undefined ? ' nor in its PACS' : ''}`,
    );
  }
  const queued = await d.outbox.enqueue({ ...request, patient });
  await access.record(
    sendAbout({
      request,
      partnerName: partner.name,
      transferId: queued.transferId,
      patient,
      outcome: 'success',
      description: 'study queued for sending',
    }),
  );
  return queued;
}
