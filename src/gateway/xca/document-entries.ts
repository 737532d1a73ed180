import { createHash, randomUUID } from 'node:crypto';
import { uidFromBytes } from '../../dicom/index.ts';
import { BSN_ISSUER_OID } from '../../patient/index.ts';
import type { PatientStudy } from '../../studies/index.ts';
import { esc, NS } from './xml.ts';

/** What identifies this gateway in the XDS world. */
export interface GatewayIdentity {
  /** urn:oid:… of this community. */
  homeCommunityId: string;
  /** The OID of this node as repository and imaging document source. */
  repositoryUniqueId: string;
  organization: { ura: string; name: string };
}

/** One document this gateway offers of a study: its imaging manifest (KOS), or its report as text. */
export interface XcaDocument {
  kind: 'manifest' | 'report';
  uniqueId: string;
  entryUuid: string;
  study: PatientStudy;
  /** The document's bytes, where known when it is listed: its size and SHA-1 go into the entry. */
  content?: Buffer;
}

const UUID = {
  stableDocument: 'urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1',
  classCode: 'urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a',
  confidentialityCode: 'urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f',
  eventCodeList: 'urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4',
  formatCode: 'urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d',
  healthcareFacilityTypeCode: 'urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1',
  practiceSettingCode: 'urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead',
  typeCode: 'urn:uuid:f0306f51-975f-434e-a61c-c59651d33983',
  author: 'urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d',
  patientId: 'urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427',
  uniqueId: 'urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab',
} as const;
export const STABLE_DOCUMENT = UUID.stableDocument;
export const APPROVED = 'urn:oasis:names:tc:ebxml-regrep:StatusType:Approved';

interface Code {
  code: string;
  scheme: string;
  meaning: string;
}
const LOINC = '2.16.840.1.113883.6.1';
const SNOMED = '2.16.840.1.113883.6.96';
/** Format codes of XDS-I.b (the KOS SOP class, DICOM's UID scheme) and of a plain-text report (IHE's mimeTypeSufficient). */
export const FORMAT: Readonly<Record<XcaDocument['kind'], Code>> = {
  manifest: {
    code: '1.2.840.10008.5.1.4.1.1.88.59',
    scheme: '1.2.840.10008.2.6.1',
    meaning: 'Key Object Selection Document',
  },
  report: {
    code: 'urn:ihe:iti:xds:2017:mimeTypeSufficient',
    scheme: '1.3.6.1.4.1.19376.1.2.3',
    meaning: 'mimeType Sufficient',
  },
};
const TYPE: Readonly<Record<XcaDocument['kind'], Code>> = {
  manifest: { code: '18748-4', scheme: LOINC, meaning: 'Diagnostic imaging study' },
  report: { code: '18782-3', scheme: LOINC, meaning: 'Radiology Study observation (narrative)' },
};
const CLASS: Code = { code: '18726-0', scheme: LOINC, meaning: 'Radiology studies (set)' };
const CONFIDENTIALITY: Code = { code: 'N', scheme: '2.16.840.1.113883.5.25', meaning: 'normal' };
const FACILITY: Code = { code: '22232009', scheme: SNOMED, meaning: 'Hospital' };
const PRACTICE: Code = { code: '394914008', scheme: SNOMED, meaning: 'Radiology' };
const MIME: Readonly<Record<XcaDocument['kind'], string>> = { manifest: 'application/dicom', report: 'text/plain' };

function hashed(...parts: string[]): Buffer {
  return createHash('sha256').update(parts.join('\u0000')).digest();
}

/**
 * A study's documents, with identifiers derived from the repository and the study, so that the same document keeps its
 * uniqueId from one query to the next and a retrieve finds it again without anything stored.
 */
export function documentsOf(study: PatientStudy, withReport: boolean, ids: GatewayIdentity): XcaDocument[] {
  const kinds: XcaDocument['kind'][] = withReport ? ['manifest', 'report'] : ['manifest'];
  return kinds.map((kind) => {
    const h = hashed('beeldbrug-xca', kind, ids.repositoryUniqueId, study.studyInstanceUid);
    const u = Buffer.from(h.subarray(16, 32));
    // A name-based UUID (RFC 9562 version 8 layout: the version and variant bits set, the rest from the hash).
    u[6] = (u[6]! & 0x0f) | 0x80;
    u[8] = (u[8]! & 0x3f) | 0x80;
    const hex = u.toString('hex');
    return {
      kind,
      uniqueId: uidFromBytes(h),
      entryUuid: `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
      study,
    };
  });
}

/** The XDS time form (UTC, YYYYMMDD[hhmmss]) of a study's date and time, taken as they stand. */
export function serviceTime(s: PatientStudy): string | undefined {
  if (s.studyDate === null || !/^\d{8}$/.test(s.studyDate)) return undefined;
  const time = /^\d{6}/.exec(s.studyTime ?? '')?.[0];
  return `${s.studyDate}${time ?? ''}`;
}

export function patientCx(bsn: string): string {
  return `${bsn}^^^&${BSN_ISSUER_OID}&ISO`;
}

const slot = (name: string, values: readonly string[]): string =>
  `<rim:Slot name="${esc(name)}"><rim:ValueList>${values.map((v) => `<rim:Value>${esc(v)}</rim:Value>`).join('')}</rim:ValueList></rim:Slot>`;
const named = (text: string): string => `<rim:Name><rim:LocalizedString value="${esc(text)}"/></rim:Name>`;

function classification(scheme: string, object: string, id: string, c: Code): string {
  return (
    `<rim:Classification id="${id}" classificationScheme="${scheme}" classifiedObject="${object}" nodeRepresentation="${esc(c.code)}">` +
    `${slot('codingScheme', [c.scheme])}${named(c.meaning)}</rim:Classification>`
  );
}

/** The document entry of ITI-38's LeafClass answer (ITI TF-3 4.2.3.2, XDS-I.b's manifest metadata). */
export function extrinsicObject(doc: XcaDocument, bsn: string, ids: GatewayIdentity): string {
  const s = doc.study;
  const when = serviceTime(s);
  const cx = patientCx(bsn);
  const references = [
    `${s.studyInstanceUid}^^^^urn:ihe:iti:xds:2016:studyInstanceUID`,
    ...(s.accessionNumber !== null && s.accessionNumber !== ''
      ? [`${s.accessionNumber}^^^^urn:ihe:iti:xds:2013:accession`]
      : []),
  ];
  const title =
    (s.description ?? '') !== ''
      ? `${s.description!}${doc.kind === 'report' ? ' (verslag)' : ''}`
      : `${s.modalities.join('/') || 'Beeldvorming'} ${s.studyDate ?? ''}${doc.kind === 'report' ? ' (verslag)' : ''}`.trim();
  const part = (): string => `urn:uuid:${randomUUID()}`;
  const institution = `${ids.organization.name}^^^^^&2.16.528.1.1007.3.3&ISO^^^^${ids.organization.ura}`;
  return (
    `<rim:ExtrinsicObject id="${doc.entryUuid}" lid="${doc.entryUuid}" home="${esc(ids.homeCommunityId)}" mimeType="${MIME[doc.kind]}" ` +
    `objectType="${UUID.stableDocument}" status="${APPROVED}">` +
    (when !== undefined ? slot('creationTime', [when]) + slot('serviceStartTime', [when]) : '') +
    (doc.content !== undefined ? slot('hash', [createHash('sha1').update(doc.content).digest('hex')]) : '') +
    slot('languageCode', ['nl-NL']) +
    slot('repositoryUniqueId', [ids.repositoryUniqueId]) +
    (doc.content !== undefined ? slot('size', [String(doc.content.length)]) : '') +
    slot('sourcePatientId', [cx]) +
    slot('urn:ihe:iti:xds:2013:referenceIdList', references) +
    named(title) +
    `<rim:Classification id="${part()}" classificationScheme="${UUID.author}" classifiedObject="${doc.entryUuid}" nodeRepresentation="">` +
    `${slot('authorInstitution', [institution])}</rim:Classification>` +
    classification(UUID.classCode, doc.entryUuid, part(), CLASS) +
    classification(UUID.confidentialityCode, doc.entryUuid, part(), CONFIDENTIALITY) +
    (doc.kind === 'manifest'
      ? s.modalities
          .map((m) =>
            classification(UUID.eventCodeList, doc.entryUuid, part(), {
              code: m,
              scheme: '1.2.840.10008.2.16.4',
              meaning: m,
            }),
          )
          .join('')
      : '') +
    classification(UUID.formatCode, doc.entryUuid, part(), FORMAT[doc.kind]) +
    classification(UUID.healthcareFacilityTypeCode, doc.entryUuid, part(), FACILITY) +
    classification(UUID.practiceSettingCode, doc.entryUuid, part(), PRACTICE) +
    classification(UUID.typeCode, doc.entryUuid, part(), TYPE[doc.kind]) +
    `<rim:ExternalIdentifier id="${part()}" registryObject="${doc.entryUuid}" identificationScheme="${UUID.patientId}" value="${esc(cx)}">${named('XDSDocumentEntry.patientId')}</rim:ExternalIdentifier>` +
    `<rim:ExternalIdentifier id="${part()}" registryObject="${doc.entryUuid}" identificationScheme="${UUID.uniqueId}" value="${doc.uniqueId}">${named('XDSDocumentEntry.uniqueId')}</rim:ExternalIdentifier>` +
    '</rim:ExtrinsicObject>'
  );
}

/** The document entry as ITI-38's ObjectRef answer names it. */
export function objectRef(doc: XcaDocument, ids: GatewayIdentity): string {
  return `<rim:ObjectRef id="${doc.entryUuid}" home="${esc(ids.homeCommunityId)}"/>`;
}

export const RIM_NAMESPACES = `xmlns:query="${NS.query}" xmlns:rim="${NS.rim}" xmlns:rs="${NS.rs}"`;
