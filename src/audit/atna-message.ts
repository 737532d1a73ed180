import { IHE_TRANSACTIONS, type AuditAction, type AuditRecord } from './types.ts';

/** A coded value as PS3.15 A.5 writes it: code, coding scheme and the meaning in words. */
interface Code {
  code: string;
  scheme: string;
  meaning: string;
}

const dcm = (code: string, meaning: string): Code => ({ code, scheme: 'DCM', meaning });

/**
 * Each action as a DICOM audit event (PS3.15 A.5.3, codes from PS3.16 CID 400-403): the event ID, the action code
 * (Create, Read, Update, Delete, Execute) and, where the standard has one, the event type.
 */
const EVENTS: Readonly<Record<AuditAction, { id: Code; action: 'C' | 'R' | 'U' | 'D' | 'E'; type?: Code }>> = {
  create: { id: dcm('110103', 'DICOM Instances Accessed'), action: 'C' },
  read: { id: dcm('110103', 'DICOM Instances Accessed'), action: 'R' },
  query: { id: dcm('110112', 'Query'), action: 'E' },
  retrieve: { id: dcm('110104', 'DICOM Instances Transferred'), action: 'R' },
  send: { id: dcm('110104', 'DICOM Instances Transferred'), action: 'R' },
  receive: { id: dcm('110104', 'DICOM Instances Transferred'), action: 'C' },
  'verify-failure': { id: dcm('110113', 'Security Alert'), action: 'E', type: dcm('110126', 'Node Authentication') },
  import: { id: dcm('110107', 'Import'), action: 'C' },
  share: { id: dcm('110106', 'Export'), action: 'R' },
  download: { id: dcm('110106', 'Export'), action: 'R' },
  upload: { id: dcm('110107', 'Import'), action: 'C' },
  export: { id: dcm('110106', 'Export'), action: 'R' },
  purge: { id: dcm('110105', 'DICOM Study Deleted'), action: 'D' },
  login: { id: dcm('110114', 'User Authentication'), action: 'E', type: dcm('110122', 'Login') },
  'login-failure': { id: dcm('110114', 'User Authentication'), action: 'E', type: dcm('110122', 'Login') },
  logout: { id: dcm('110114', 'User Authentication'), action: 'E', type: dcm('110123', 'Logout') },
  'consent-check': { id: dcm('110112', 'Query'), action: 'E' },
  'configuration-change': {
    id: dcm('110113', 'Security Alert'),
    action: 'E',
    type: dcm('110129', 'Security Configuration'),
  },
  'audit-read': { id: dcm('110101', 'Audit Log Used'), action: 'R' },
};

/** Where the records come from: this node, its organization, and the software. */
export interface AuditSource {
  /** The node's name (AuditSourceID). */
  node: string;
  /** The organization's URA (AuditEnterpriseSiteID). */
  ura: string;
  /** The node's AE title, when it has one: the application participant. */
  aeTitle?: string;
}

/** XML 1.0 forbids most control characters even escaped; received data could hold them. */
// XML 1.0 forbids these characters; they are replaced, not escaped.
const escape = (s: string): string =>
  s
    // oxlint-disable-next-line eslint/no-control-regex -- tab, LF and CR are the control characters XML allows
    .replace(/[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, '\ufffd')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');

const attrs = (a: Readonly<Record<string, string | number | boolean | undefined>>): string =>
  Object.entries(a)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => ` ${k}="${escape(String(v))}"`)
    .join('');

const coded = (element: string, c: Code): string =>
  `<${element}${attrs({ 'csd-code': c.code, codeSystemName: c.scheme, originalText: c.meaning })}/>`;

const detail = (type: string, value: string): string =>
  `<ParticipantObjectDetail${attrs({ type, value: Buffer.from(value, 'utf8').toString('base64') })}/>`;

/** The BSN as an HL7 CX identifier with the Dutch BSN assigning authority, as IHE profiles in the Netherlands write it. */
const BSN_AUTHORITY = '2.16.840.1.113883.2.4.6.3';

/**
 * One audit record as a DICOM audit message (PS3.15 A.5.1, the IHE ATNA format): the event, the user who acted (and
 * the responsible user), this node as the application, the audit source, and the patient, study, transfer or share as
 * participant objects. The record's grounds go into PurposeOfUse and object details; its sequence and chain hash go
 * along, so that a message can be matched to the trail that `beeldbrug audit verify` checks.
 */
export function auditMessageXml(r: Readonly<AuditRecord>, source: Readonly<AuditSource>): string {
  const e = EVENTS[r.action];
  const purposes = [
    ...(r.grounds.purpose !== undefined
      ? [{ code: r.grounds.purpose, scheme: 'urn:beeldbrug:purpose', meaning: r.grounds.purpose }]
      : []),
    ...(r.grounds.emergency === true
      ? [{ code: 'ETREAT', scheme: '2.16.840.1.113883.5.8', meaning: 'Emergency Treatment' }]
      : []),
  ];
  const event =
    `<EventIdentification${attrs({ EventActionCode: e.action, EventDateTime: r.time, EventOutcomeIndicator: r.outcome === 'success' ? 0 : 4 })}>` +
    coded('EventID', e.id) +
    (e.type !== undefined ? coded('EventTypeCode', e.type) : '') +
    (r.transaction !== undefined
      ? coded('EventTypeCode', {
          code: r.transaction,
          scheme: 'IHE Transactions',
          meaning: IHE_TRANSACTIONS[r.transaction],
        })
      : '') +
    `<EventOutcomeDescription>${escape(r.description)}</EventOutcomeDescription>` +
    purposes.map((p) => coded('PurposeOfUse', p)).join('') +
    '</EventIdentification>';
  const accessPoint =
    r.accessPoint.ip !== undefined ? { NetworkAccessPointID: r.accessPoint.ip, NetworkAccessPointTypeCode: 2 } : {};
  const requestor = r.responsibleUser === undefined;
  const user =
    `<ActiveParticipant${attrs({ UserID: r.user.id, AlternativeUserID: r.accessPoint.aeTitle !== undefined ? `AETITLES=${r.accessPoint.aeTitle}` : undefined, UserName: r.user.name, UserIsRequestor: requestor, ...accessPoint })}>` +
    (r.user.roleCode !== undefined
      ? coded('RoleIDCode', { code: r.user.roleCode, scheme: 'UZI-rolcode', meaning: `UZI role ${r.user.roleCode}` })
      : '') +
    '</ActiveParticipant>';
  const responsible =
    r.responsibleUser !== undefined
      ? `<ActiveParticipant${attrs({ UserID: r.responsibleUser.id, UserName: r.responsibleUser.name, UserIsRequestor: true })}/>`
      : '';
  const application =
    `<ActiveParticipant${attrs({ UserID: source.node, AlternativeUserID: source.aeTitle !== undefined ? `AETITLES=${source.aeTitle}` : undefined, UserIsRequestor: false })}>` +
    coded('RoleIDCode', dcm('110150', 'Application')) +
    '</ActiveParticipant>';
  const auditSource = `<AuditSourceIdentification${attrs({ AuditEnterpriseSiteID: source.ura, AuditSourceID: source.node })}>${coded('AuditSourceTypeCode', { code: '4', scheme: 'DCM', meaning: 'Application Server Process' })}</AuditSourceIdentification>`;
  const objects: string[] = [];
  const patientId = r.patient?.bsn !== undefined ? `${r.patient.bsn}^^^&${BSN_AUTHORITY}&ISO` : r.patient?.patientId;
  if (patientId !== undefined) {
    objects.push(
      `<ParticipantObjectIdentification${attrs({ ParticipantObjectID: patientId, ParticipantObjectTypeCode: 1, ParticipantObjectTypeCodeRole: 1 })}>${coded('ParticipantObjectIDTypeCode', { code: '2', scheme: 'RFC-3881', meaning: 'Patient Number' })}</ParticipantObjectIdentification>`,
    );
  }
  const o = r.objects;
  if (o.studyInstanceUid !== undefined) {
    const details = [
      ...(o.seriesInstanceUid !== undefined ? [detail('SeriesInstanceUID', o.seriesInstanceUid)] : []),
      ...(o.sopInstanceUids !== undefined && o.sopInstanceUids.length > 0
        ? [detail('NumberOfInstances', String(o.sopInstanceUids.length))]
        : []),
    ];
    objects.push(
      `<ParticipantObjectIdentification${attrs({ ParticipantObjectID: o.studyInstanceUid, ParticipantObjectTypeCode: 2, ParticipantObjectTypeCodeRole: 3 })}>${coded('ParticipantObjectIDTypeCode', dcm('110180', 'Study Instance UID'))}${details.join('')}</ParticipantObjectIdentification>`,
    );
  }
  // NEN 7513 wants the user's organization, for which the DICOM message has no field of its own.
  const grounds = [
    ...(r.user.organizationUra !== undefined ? [detail('userOrganizationUra', r.user.organizationUra)] : []),
    ...(r.grounds.authorization !== undefined ? [detail('authorization', r.grounds.authorization)] : []),
    ...(r.grounds.consentReference !== undefined ? [detail('consentReference', r.grounds.consentReference)] : []),
    detail('auditSequence', String(r.sequence)),
    detail('auditHash', r.hash),
  ];
  for (const [kind, id] of [
    ['transfer', o.transferId],
    ['share', o.shareId],
  ] as const) {
    if (id === undefined) continue;
    objects.push(
      `<ParticipantObjectIdentification${attrs({ ParticipantObjectID: id, ParticipantObjectTypeCode: 2, ParticipantObjectTypeCodeRole: 20 })}>${coded('ParticipantObjectIDTypeCode', { code: kind, scheme: 'urn:beeldbrug', meaning: `Beeldbrug ${kind} id` })}</ParticipantObjectIdentification>`,
    );
  }
  // The record itself, so that the grounds (authorization, consent) and its place in the chain travel with it.
  objects.push(
    `<ParticipantObjectIdentification${attrs({ ParticipantObjectID: `${source.node}#${r.sequence}`, ParticipantObjectTypeCode: 2, ParticipantObjectTypeCodeRole: 13 })}>${coded('ParticipantObjectIDTypeCode', { code: 'audit-record', scheme: 'urn:beeldbrug', meaning: 'Beeldbrug audit record' })}${grounds.join('')}</ParticipantObjectIdentification>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?><AuditMessage>${event}${user}${responsible}${application}${auditSource}${objects.join('')}</AuditMessage>`;
}

/** RFC 5424 header fields: printable US-ASCII without spaces, within each field's length. */
const field = (s: string, max: number): string => s.replace(/[^\x21-\x7e]/g, '_').slice(0, max) || '-';

/**
 * One syslog message (RFC 5424) carrying an audit message, framed by octet counting for TLS transport (RFC 5425):
 * facility authpriv (10), severity notice (5), MSGID "IHE+RFC-3881" as IHE ATNA asks, no structured data.
 */
export function syslogFrame(
  xml: string,
  h: { time: string; hostname: string; appName: string; procId: string },
): Buffer {
  const message = Buffer.from(
    `<85>1 ${h.time} ${field(h.hostname, 255)} ${field(h.appName, 48)} ${field(h.procId, 128)} IHE+RFC-3881 - ${xml}`,
    'utf8',
  );
  return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
}
