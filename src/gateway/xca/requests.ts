import { randomUUID } from 'node:crypto';
import { BSN_ISSUER_OID } from '../../patient/index.ts';
import { APPROVED } from './document-entries.ts';
import { esc, NS } from './xml.ts';

/** Where a document is: its community, its repository, its uniqueId (an instance's SOP Instance UID in RAD-75). */
export interface DocumentRef {
  home: string;
  repositoryUniqueId: string;
  uniqueId: string;
}

/** A SOAP 1.2 request with WS-Addressing and, when given, the XUA assertion in its WS-Security header. */
export function soapRequestEnvelope(
  action: string,
  assertion: string | undefined,
  body: string,
  o: { to?: string } = {},
): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="${NS.soap}" xmlns:a="${NS.wsa}"><s:Header>` +
    `<a:Action s:mustUnderstand="1">${esc(action)}</a:Action><a:MessageID>urn:uuid:${randomUUID()}</a:MessageID>` +
    (o.to !== undefined ? `<a:To>${esc(o.to)}</a:To>` : '') +
    '<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>' +
    (assertion !== undefined
      ? `<wsse:Security xmlns:wsse="${NS.wsse}" s:mustUnderstand="1">${assertion}</wsse:Security>`
      : '') +
    `</s:Header><s:Body>${body}</s:Body></s:Envelope>`
  );
}

/** ITI-38 FindDocuments for one patient by BSN, approved documents, answered as LeafClass. */
export function findDocumentsQuery(bsn: string): string {
  return (
    `<query:AdhocQueryRequest xmlns:query="${NS.query}" xmlns:rim="${NS.rim}">` +
    '<query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>' +
    '<rim:AdhocQuery id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d">' +
    `<rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList><rim:Value>'${esc(bsn)}^^^&amp;${BSN_ISSUER_OID}&amp;ISO'</rim:Value></rim:ValueList></rim:Slot>` +
    `<rim:Slot name="$XDSDocumentEntryStatus"><rim:ValueList><rim:Value>('${APPROVED}')</rim:Value></rim:ValueList></rim:Slot>` +
    '</rim:AdhocQuery></query:AdhocQueryRequest>'
  );
}

const documentRequest = (d: DocumentRef): string =>
  `<xdsb:DocumentRequest><xdsb:HomeCommunityId>${esc(d.home)}</xdsb:HomeCommunityId>` +
  `<xdsb:RepositoryUniqueId>${esc(d.repositoryUniqueId)}</xdsb:RepositoryUniqueId>` +
  `<xdsb:DocumentUniqueId>${esc(d.uniqueId)}</xdsb:DocumentUniqueId></xdsb:DocumentRequest>`;

/** ITI-39: documents by uniqueId. */
export function retrieveDocumentsRequest(documents: readonly DocumentRef[]): string {
  return `<xdsb:RetrieveDocumentSetRequest xmlns:xdsb="${NS.xds}">${documents.map(documentRequest).join('')}</xdsb:RetrieveDocumentSetRequest>`;
}

/** RAD-75: instances of one study by series, in one of these transfer syntaxes (the first the source can give). */
export function imagingRetrieveRequest(
  studyInstanceUid: string,
  series: readonly { seriesInstanceUid: string; documents: readonly DocumentRef[] }[],
  transferSyntaxes: readonly string[],
): string {
  return (
    `<xdsi:RetrieveImagingDocumentSetRequest xmlns:xdsi="${NS.xdsi}" xmlns:xdsb="${NS.xds}">` +
    `<xdsi:StudyRequest studyInstanceUID="${esc(studyInstanceUid)}">` +
    series
      .map(
        (s) =>
          `<xdsi:SeriesRequest seriesInstanceUID="${esc(s.seriesInstanceUid)}">${s.documents.map(documentRequest).join('')}</xdsi:SeriesRequest>`,
      )
      .join('') +
    '</xdsi:StudyRequest><xdsi:TransferSyntaxUIDList>' +
    transferSyntaxes.map((ts) => `<xdsi:TransferSyntaxUID>${esc(ts)}</xdsi:TransferSyntaxUID>`).join('') +
    '</xdsi:TransferSyntaxUIDList></xdsi:RetrieveImagingDocumentSetRequest>'
  );
}
