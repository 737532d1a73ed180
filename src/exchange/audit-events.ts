import type { AuditEvent, AuditOutcome } from '../audit/index.ts';
import { type Acting, actingUsers } from '../http/index.ts';
import type { Manifest } from './manifest.ts';
import type { OutgoingRequest } from './outbox.ts';

/** Where an exchange event happened: this node, and the address of the other side where there is one. */
export interface AccessPoint {
  node: string;
  ip?: string;
  aeTitle?: string;
}

/** A partner node acting, on behalf of the user its manifest names. */
function partnerActor(
  senderUra: string,
  senderName: string,
  manifest: Manifest,
): Pick<AuditEvent, 'user' | 'responsibleUser'> {
  return {
    user: { id: `ura:${senderUra}`, name: senderName, organizationUra: senderUra },
    responsibleUser: { id: manifest.sender.user.id, name: manifest.sender.user.name },
  };
}

function groundsOf(m: { purpose: string; consentReference?: string | undefined }): AuditEvent['grounds'] {
  return {
    purpose: m.purpose,
    authorization: 'exchange-mtls',
    ...(m.consentReference !== undefined ? { consentReference: m.consentReference } : {}),
  };
}

function userOf(u: { id: string; name: string; roleCode?: string | undefined }): AuditEvent['user'] {
  return { id: u.id, name: u.name, ...(u.roleCode !== undefined ? { roleCode: u.roleCode } : {}) };
}

/** Who acts on a person route, as the audit trail names them: the person, or our system with the person it acts for. */
export function actingEvent(acting: Acting | undefined): Pick<AuditEvent, 'user' | 'responsibleUser'> {
  if (acting === undefined) throw new Error('a person route ran without who acts');
  return actingUsers(acting);
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

/**
 * A transfer was shown to one of our systems (the inbox or outbox listed it, or it was read by id): one record per
 * transfer, so each patient whose study was on the screen has a record of it.
 */
export function shownEvent(o: {
  at: AccessPoint;
  user: AuditEvent['user'];
  action: 'query' | 'read';
  description: string;
  transferId: string;
  studyInstanceUid: string;
  patient: { bsn?: string | undefined; patientId?: string | undefined } | undefined;
  grounds: { purpose: string; consentReference?: string | undefined };
}): AuditEvent {
  return {
    action: o.action,
    outcome: 'success',
    description: o.description,
    user: o.user,
    accessPoint: o.at,
    ...patientOf(o.patient),
    objects: { studyInstanceUid: o.studyInstanceUid, transferId: o.transferId },
    grounds: groundsOf(o.grounds),
  };
}

/**
 * The receiving side before a study is complete: a partner announced a transfer (its manifest names the patient and
 * every instance), asked for its state, or uploaded a batch of instances.
 */
export function receivingEvent(o: {
  at: AccessPoint;
  senderUra: string;
  senderName: string;
  transferId: string;
  manifest: Manifest;
  action: 'receive' | 'read';
  description: string;
  sopInstanceUids?: string[];
}): AuditEvent {
  const m = o.manifest;
  return {
    action: o.action,
    outcome: 'success',
    description: o.description,
    ...partnerActor(o.senderUra, o.senderName, m),
    accessPoint: o.at,
    ...patientOf(m.patient),
    objects: {
      studyInstanceUid: m.study.studyInstanceUid,
      transferId: o.transferId,
      ...(o.sopInstanceUids !== undefined ? { sopInstanceUids: o.sopInstanceUids } : {}),
    },
    grounds: groundsOf(m),
  };
}

/** A study arrived complete and verified from a partner (receiving side, at commit). */
export function receivedEvent(o: {
  at: AccessPoint;
  senderUra: string;
  senderName: string;
  transferId: string;
  manifest: Manifest;
}): AuditEvent {
  const m = o.manifest;
  return {
    action: 'receive',
    outcome: 'success',
    description: `study received complete and verified from ${o.senderName} (${m.instances.length} instances, ${m.urgency})`,
    ...partnerActor(o.senderUra, o.senderName, m),
    accessPoint: o.at,
    ...patientOf(m.patient),
    objects: { studyInstanceUid: m.study.studyInstanceUid, transferId: o.transferId },
    grounds: groundsOf(m),
  };
}

/** An uploaded instance did not verify (digest, size, not announced) and was not stored. */
export function verifyFailureEvent(o: {
  at: AccessPoint;
  senderUra: string;
  senderName: string;
  transferId: string;
  manifest: Manifest;
  sopInstanceUid: string | null;
  reason: string;
}): AuditEvent {
  const m = o.manifest;
  return {
    action: 'verify-failure',
    outcome: 'failure',
    description: `instance from ${o.senderName} refused: ${o.reason}`,
    ...partnerActor(o.senderUra, o.senderName, m),
    accessPoint: o.at,
    ...patientOf(m.patient),
    objects: {
      studyInstanceUid: m.study.studyInstanceUid,
      transferId: o.transferId,
      ...(o.sopInstanceUid !== null ? { sopInstanceUids: [o.sopInstanceUid] } : {}),
    },
    grounds: groundsOf(m),
  };
}

/** A received study went into the local PACS (or failed to). */
export function importEvent(o: {
  at: AccessPoint;
  destination: string;
  transferId: string;
  manifest: Manifest;
  outcome: AuditOutcome;
  failed: number;
  /** The user who accepted a held study; a routing rule otherwise. */
  acceptedBy?: AuditEvent['user'];
  /** The person a system accepted it for (a verified assertion); the sender's user otherwise stays the responsible user. */
  acceptedFor?: { id: string; name: string };
  description?: string;
}): AuditEvent {
  const m = o.manifest;
  return {
    action: 'import',
    outcome: o.outcome,
    description:
      o.description ??
      (o.outcome === 'success'
        ? `study forwarded into the PACS ${o.destination}`
        : `${o.failed} instances could not be forwarded into the PACS ${o.destination}`),
    user: o.acceptedBy ?? { id: 'system:routing', name: 'routing rule' },
    responsibleUser: o.acceptedFor ?? { id: m.sender.user.id, name: m.sender.user.name },
    accessPoint: { ...o.at, aeTitle: o.destination },
    ...patientOf(m.patient),
    objects: { studyInstanceUid: m.study.studyInstanceUid, transferId: o.transferId },
    grounds: groundsOf(m),
  };
}

/** The sending side: a transfer queued, delivered or given up. */
export function sendEvent(o: {
  at: AccessPoint;
  request: OutgoingRequest;
  partnerName: string;
  transferId: string;
  patient: { bsn?: string; patientId?: string } | undefined;
  outcome: AuditOutcome;
  description: string;
}): AuditEvent {
  const r = o.request;
  return {
    action: 'send',
    outcome: o.outcome,
    description: `${o.description} (${o.partnerName}, URA ${r.partnerUra})`,
    // A system that asked for a person is the user, the person the responsible user; a person who asked is the user.
    ...(r.system !== undefined
      ? { user: r.system, responsibleUser: { id: r.user.id, name: r.user.name } }
      : { user: userOf(r.user) }),
    accessPoint: o.at,
    ...(o.patient !== undefined ? { patient: o.patient } : {}),
    objects: { studyInstanceUid: r.studyInstanceUid, transferId: o.transferId },
    grounds: groundsOf(r),
  };
}
