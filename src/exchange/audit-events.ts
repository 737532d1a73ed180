import type { AuditEvent, AuditOutcome } from '../audit/index.ts';
import { type Acting, actingAccessor } from '../http/index.ts';
import type { AccessGrounds, AccessorKind, AuditAbout } from '../studies/index.ts';
import type { Manifest } from './manifest.ts';
import type { OutgoingRequest } from './outbox.ts';

/** Where an exchange event happened: this node, and the address of the other side where there is one. */
export interface AccessPoint {
  node: string;
  ip?: string;
  aeTitle?: string;
}

function consentOf(m: { consentReference?: string | undefined }): Pick<AccessGrounds, 'consentReference'> {
  return m.consentReference !== undefined ? { consentReference: m.consentReference } : {};
}

function userOf(u: { id: string; name: string; roleCode?: string | undefined }): AuditEvent['user'] {
  return { id: u.id, name: u.name, ...(u.roleCode !== undefined ? { roleCode: u.roleCode } : {}) };
}

function patientOf(
  p: { bsn?: string | undefined; patientId?: string | undefined } | undefined,
): Pick<AuditEvent, 'patient'> {
  if (p === undefined) return {};
  return {
    patient: {
      ...(p.bsn !== undefined ? { bsn: p.bsn } : {}),
      ...(p.patientId !== undefined ? { patientId: p.patientId } : {}),
    },
  };
}

/** A partner node acting (mutual TLS with its URA), on behalf of the user its manifest names. */
export function receivingGrounds(o: {
  at: AccessPoint;
  senderUra: string;
  senderName: string;
  manifest: Manifest;
}): AccessGrounds {
  const m = o.manifest;
  return {
    kind: 'partner-node',
    user: { id: `ura:${o.senderUra}`, name: o.senderName, organizationUra: o.senderUra },
    responsibleUser: { id: m.sender.user.id, name: m.sender.user.name },
    accessPoint: o.at,
    purpose: 'exchange',
    purposeOfUse: m.purpose,
    authorization: 'exchange-mtls',
    ...consentOf(m),
  };
}

/**
 * The sending side of one transfer: the person who asked is the user, or the system of ours that asked for them with
 * the person as the responsible user; the transfer's purpose and consent are the grounds.
 */
export function sendGrounds(r: OutgoingRequest, at: AccessPoint, kind: AccessorKind): AccessGrounds {
  return {
    kind,
    ...(r.system !== undefined
      ? { user: r.system, responsibleUser: { id: r.user.id, name: r.user.name } }
      : { user: userOf(r.user) }),
    accessPoint: at,
    purpose: 'exchange',
    purposeOfUse: r.purpose,
    authorization: 'exchange-mtls',
    ...consentOf(r),
  };
}

/** Who acts on a person route (the person, or our system with the person it acts for), reading exchange data. */
export function actingGrounds(acting: Acting | undefined, at: AccessPoint): AccessGrounds {
  return { ...actingAccessor(acting), accessPoint: at, purpose: 'exchange', authorization: 'exchange-mtls' };
}

/**
 * A received study going into the local PACS: the person who accepted a held study, or the routing rule, acts; the
 * sender's user stays the responsible user unless a system accepted it for a person.
 */
export function importGrounds(o: {
  at: AccessPoint;
  destination: string;
  manifest: Manifest;
  acceptedBy?: AuditEvent['user'] | undefined;
  acceptedFor?: { id: string; name: string } | undefined;
  kind: AccessorKind;
}): AccessGrounds {
  const m = o.manifest;
  return {
    kind: o.kind,
    user: o.acceptedBy ?? { id: 'system:routing', name: 'routing rule' },
    responsibleUser: o.acceptedFor ?? { id: m.sender.user.id, name: m.sender.user.name },
    accessPoint: { ...o.at, aeTitle: o.destination },
    purpose: 'exchange',
    purposeOfUse: m.purpose,
    authorization: 'exchange-mtls',
    ...consentOf(m),
  };
}

/**
 * A transfer was shown to one of our systems (the inbox or outbox listed it, or it was read by id): one record per
 * transfer, so each patient whose study was on the screen has a record of it.
 */
export function shownAbout(o: {
  action: 'query' | 'read';
  description: string;
  transferId: string;
  studyInstanceUid: string;
  patient: { bsn?: string | undefined; patientId?: string | undefined } | undefined;
  grounds: { purpose: string; consentReference?: string | undefined };
}): AuditAbout {
  return {
    action: o.action,
    outcome: 'success',
    description: o.description,
    ...patientOf(o.patient),
    objects: { studyInstanceUid: o.studyInstanceUid, transferId: o.transferId },
    purposeOfUse: o.grounds.purpose,
    ...(o.grounds.consentReference !== undefined ? { consentReference: o.grounds.consentReference } : {}),
  };
}

/**
 * The receiving side before a study is complete: a partner announced a transfer (its manifest names the patient and
 * every instance), asked for its state, or uploaded a batch of instances.
 */
export function receivingAbout(o: {
  transferId: string;
  manifest: Manifest;
  action: 'receive' | 'read';
  description: string;
  sopInstanceUids?: string[];
}): AuditAbout {
  const m = o.manifest;
  return {
    action: o.action,
    outcome: 'success',
    description: o.description,
    ...patientOf(m.patient),
    objects: {
      studyInstanceUid: m.study.studyInstanceUid,
      transferId: o.transferId,
      ...(o.sopInstanceUids !== undefined ? { sopInstanceUids: o.sopInstanceUids } : {}),
    },
  };
}

/** A study arrived complete and verified from a partner (receiving side, at commit). */
export function receivedAbout(o: { senderName: string; transferId: string; manifest: Manifest }): AuditAbout {
  const m = o.manifest;
  return {
    action: 'receive',
    outcome: 'success',
    description: `study received complete and verified from ${o.senderName} (${m.instances.length} instances, ${m.urgency})`,
    ...patientOf(m.patient),
    objects: { studyInstanceUid: m.study.studyInstanceUid, transferId: o.transferId },
  };
}

/** An uploaded instance did not verify (digest, size, not announced) and was not stored. */
export function verifyFailureAbout(o: {
  senderName: string;
  transferId: string;
  manifest: Manifest;
  sopInstanceUid: string | null;
  reason: string;
}): AuditAbout {
  const m = o.manifest;
  return {
    action: 'verify-failure',
    outcome: 'failure',
    description: `instance from ${o.senderName} refused: ${o.reason}`,
    ...patientOf(m.patient),
    objects: {
      studyInstanceUid: m.study.studyInstanceUid,
      transferId: o.transferId,
      ...(o.sopInstanceUid !== null ? { sopInstanceUids: [o.sopInstanceUid] } : {}),
    },
  };
}

/** A received study went into the local PACS (or failed to). */
export function importAbout(o: {
  destination: string;
  transferId: string;
  manifest: Manifest;
  outcome: AuditOutcome;
  failed: number;
  description?: string;
}): AuditAbout {
  const m = o.manifest;
  return {
    action: 'import',
    outcome: o.outcome,
    description:
      o.description ??
      (o.outcome === 'success'
        ? `study forwarded into the PACS ${o.destination}`
        : `${o.failed} instances could not be forwarded into the PACS ${o.destination}`),
    ...patientOf(m.patient),
    objects: { studyInstanceUid: m.study.studyInstanceUid, transferId: o.transferId },
  };
}

/** The sending side: a transfer queued, delivered or given up. */
export function sendAbout(o: {
  request: OutgoingRequest;
  partnerName: string;
  transferId: string;
  patient: { bsn?: string; patientId?: string } | undefined;
  outcome: AuditOutcome;
  description: string;
}): AuditAbout {
  const r = o.request;
  return {
    action: 'send',
    outcome: o.outcome,
    description: `${o.description} (${o.partnerName}, URA ${r.partnerUra})`,
    ...(o.patient !== undefined ? { patient: o.patient } : {}),
    objects: { studyInstanceUid: r.studyInstanceUid, transferId: o.transferId },
  };
}
