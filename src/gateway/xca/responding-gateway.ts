import type { FastifyReply, FastifyRequest } from 'fastify';
import { canConvert, convertedDataset, encodePart10, TransferSyntax } from '../../dicom/index.ts';
import { bodyBytes } from '../../dicomweb/index.ts';
import { BeeldbrugError } from '../../errors/index.ts';
import type { HttpsApp } from '../../http/index.ts';
import type { Logger } from '../../log/index.ts';
import { BSN_ISSUER_OID } from '../../patient/index.ts';
import type { PatientData, PatientDataAccess, PatientStudy, ReleasedInstance } from '../../studies/index.ts';
import { studiesOfPatient } from '../../timeline/index.ts';
import {
  APPROVED,
  documentsOf,
  extrinsicObject,
  FORMAT,
  objectRef,
  RIM_NAMESPACES,
  serviceTime,
  STABLE_DOCUMENT,
  type GatewayIdentity,
  type XcaDocument,
} from './document-entries.ts';
import { imagingManifest } from './imaging-manifest.ts';
import {
  faultEnvelope,
  newContentId,
  readSoapRequest,
  sendMtom,
  SoapFault,
  soapEnvelope,
  type Attachment,
  type SoapRequest,
} from './soap.ts';
import { childNamed, childrenNamed, descendantsNamed, esc, NS, textOf } from './xml.ts';
import { bsnOfCx, verifyXua, type XuaClaims, type XuaOptions } from './xua.ts';

export const XCA_ROOT = '/xca/v1';

/** The three transactions of a responding imaging gateway: where each is posted and its WS-Addressing actions. */
export const XCA_TRANSACTIONS = {
  'ITI-38': {
    path: `${XCA_ROOT}/iti-38`,
    action: 'urn:ihe:iti:2007:CrossGatewayQuery',
    response: 'urn:ihe:iti:2007:CrossGatewayQueryResponse',
    request: { ns: NS.query, name: 'query:AdhocQueryRequest' },
    summary: 'Cross Gateway Query (ITI-38): the imaging manifests and reports of the patient the assertion names',
  },
  'ITI-39': {
    path: `${XCA_ROOT}/iti-39`,
    action: 'urn:ihe:iti:2007:CrossGatewayRetrieve',
    response: 'urn:ihe:iti:2007:CrossGatewayRetrieveResponse',
    request: { ns: NS.xds, name: 'xdsb:RetrieveDocumentSetRequest' },
    summary: 'Cross Gateway Retrieve (ITI-39): manifests and reports by document uniqueId, MTOM/XOP',
  },
  'RAD-75': {
    path: `${XCA_ROOT}/rad-75`,
    action: 'urn:ihe:rad:2011:CrossGatewayRetrieveImagingDocumentSet',
    response: 'urn:ihe:rad:2011:CrossGatewayRetrieveImagingDocumentSetResponse',
    request: { ns: NS.xdsi, name: 'xdsi:RetrieveImagingDocumentSetRequest' },
    summary: 'Cross Gateway Retrieve Imaging Document Set (RAD-75): DICOM instances, MTOM/XOP',
  },
} as const;
type Transaction = keyof typeof XCA_TRANSACTIONS;

/** The largest instance converted to another transfer syntax for RAD-75 (the conversion is done in memory). */
const MAX_CONVERTED_BYTES = 256 * 1024 * 1024;

const FIND_DOCUMENTS = 'urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d';
const GET_DOCUMENTS = 'urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4';
const STATUS = {
  success: 'urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success',
  partial: 'urn:ihe:iti:2007:ResponseStatusType:PartialSuccess',
  failure: 'urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure',
} as const;

export interface RespondingGatewayDeps {
  /** Every read and release goes through here, with the registry's consent for the assertion's patient first. */
  patientData: PatientData;
  node: string;
  identity: GatewayIdentity;
  xua: XuaOptions;
  logger: Logger;
  /** The hospital's PACS, asked for the patient's studies beside the node's copies. */
  archive?: { patientStudies(bsn: string): Promise<PatientStudy[]> };
  /** Brings a study the PACS holds into the node before its manifest or instances are given. */
  fetchFromPacs?: (studyInstanceUid: string) => Promise<unknown>;
}

/** An error of the registry or repository kind, as XDS answers it inside the response rather than as a fault. */
interface XdsError {
  code: string;
  context: string;
  severity?: 'Error' | 'Warning';
}

function errorList(errors: readonly XdsError[], location: string): string {
  if (errors.length === 0) return '';
  return `<rs:RegistryErrorList>${errors
    .map(
      (e) =>
        `<rs:RegistryError errorCode="${esc(e.code)}" codeContext="${esc(e.context)}" location="${esc(location)}" ` +
        `severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:${e.severity ?? 'Error'}"/>`,
    )
    .join('')}</rs:RegistryErrorList>`;
}

function statusOf(errors: readonly XdsError[], answered: number): string {
  if (!errors.some((e) => (e.severity ?? 'Error') === 'Error'))
    return errors.length > 0 ? STATUS.partial : STATUS.success;
  return answered > 0 ? STATUS.partial : STATUS.failure;
}

/**
 * The values of a stored query's slots: each Value is a literal ('x', or a number) or a list ('a','b'); a parameter
 * given in several Values is their union (ITI TF-2 3.18.4.1.2.3.5: OR within a parameter, AND between them).
 */
export function slotValues(query: Element): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const slot of childrenNamed(query, NS.rim, 'Slot')) {
    const name = slot.getAttribute('name') ?? '';
    const values = descendantsNamed(slot, NS.rim, 'Value').flatMap((v) => {
      const text = textOf(v);
      const inner = text.startsWith('(') && text.endsWith(')') ? text.slice(1, -1) : text;
      return [...inner.matchAll(/'((?:[^']|'')*)'|([^,\s][^,]*)/g)].map((m) =>
        (m[1] !== undefined ? m[1].replaceAll("''", "'") : (m[2] ?? '')).trim(),
      );
    });
    out.set(name, [...(out.get(name) ?? []), ...values]);
  }
  return out;
}

/** The caller admitted: who asks, for which patient, and the access every read and release goes through. */
interface Admitted {
  claims: XuaClaims;
  access: PatientDataAccess;
  consentReference: string;
}

/** Refusals of the registry's consent: the transaction's own failure answer, not a fault, and recorded as such. */
const CONSENT_CODES = new Set(['RELEASE_REFUSED', 'RELEASE_WITHOUT_REGISTRY', 'REGISTRY_UNREACHABLE']);

/**
 * The responding side of XCA and XCA-I: another community's initiating gateway asks, over mutual TLS and with a SAML
 * assertion from its hospital's identity provider (XUA), for the imaging manifests and reports of one patient, and then
 * for the manifests, reports and DICOM instances themselves. The patient is the one the assertion names; the registry's
 * consent for that patient and the asking organization is established before anything is looked up, and every answer
 * is recorded in the audit trail with the person who asked.
 */
export function registerRespondingGateway(app: HttpsApp, d: RespondingGatewayDeps): void {
  for (const type of ['application/soap+xml', 'multipart/related'])
    if (!app.hasContentTypeParser(type))
      app.addContentTypeParser(type, (_req, _payload, done) => done(null, undefined));

  const admit = async (req: FastifyRequest, soap: SoapRequest, t: Transaction): Promise<Admitted> => {
    const claims = verifyXua(soap.xml, soap.security, d.xua);
    const callerUra = req.partner?.ura ?? '';
    if (claims.organization.ura !== callerUra)
      throw new BeeldbrugError(
        'ASSERTION_INVALID',
        `the XUA assertion is refused: it is for URA ${claims.organization.ura}, the TLS certificate names URA ${callerUra}`,
      );
    if (claims.purposeOfUse !== 'TREATMENT')
      throw new BeeldbrugError(
        'ASSERTION_INVALID',
        `the XUA assertion is refused: purpose of use ${claims.purposeOfUse}; imaging data is released here for TREATMENT only`,
      );
    const access = d.patientData.open({
      kind: 'partner-gateway',
      user: {
        id: claims.person.id,
        name: claims.person.name,
        ...(claims.person.roleCode !== undefined ? { roleCode: claims.person.roleCode } : {}),
        organizationUra: claims.organization.ura,
      },
      accessPoint: { node: d.node, ip: req.ip },
      purpose: 'release',
      purposeOfUse: 'treatment',
      authorization: `XUA assertion ${claims.assertionId} of ${claims.issuer}, mutual TLS`,
      transaction: t,
    });
    const consentReference = await access.establishConsent(claims.bsn, callerUra, {
      action: t === 'ITI-38' ? 'query' : 'retrieve',
      objects: {},
      refusedAs: `XCA ${t} from URA ${callerUra}`,
    });
    return { claims, access, consentReference };
  };

  /** The patient's studies here (node and PACS) and the documents they give. */
  const patientDocuments = async (
    a: Admitted,
    /** Whether the documents' bytes are wanted (a listing names their size and hash); a retrieve makes only its own. */
    o: { content: boolean },
  ): Promise<{ documents: XcaDocument[]; partial?: string }> => {
    const found = await studiesOfPatient(a.access, d.archive, a.claims.bsn, d.logger);
    const documents: XcaDocument[] = [];
    for (const s of found.studies) {
      if (!o.content) {
        documents.push(...documentsOf(s, s.hasReport, d.identity));
        continue;
      }
      const text = s.hasReport ? await a.access.reportText(a.claims.bsn, s.studyInstanceUid) : undefined;
      // A study the node holds whole has its manifest's bytes now (the same each time it is made): size and hash
      // can be listed, as a stable document's entry should. One only the PACS holds is made when retrieved.
      const whole = (await a.access.studySummary(s.studyInstanceUid)).instances >= s.instances;
      for (const doc of documentsOf(s, text !== undefined, d.identity)) {
        const content =
          doc.kind === 'report'
            ? Buffer.from(text ?? '', 'utf8')
            : whole
              ? manifestBytes(
                  a,
                  doc,
                  (await a.access.releaseStudy(s.studyInstanceUid, undefined)).filter(
                    (i) => i.stored.patient.bsn === a.claims.bsn,
                  ),
                )
              : undefined;
        documents.push(content !== undefined ? { ...doc, content } : doc);
      }
    }
    return { documents, ...(found.partial !== undefined ? { partial: found.partial } : {}) };
  };

  /** A study held here in full before its manifest or instances are given: what only the PACS has is fetched first. */
  const fetching = new Map<string, Promise<unknown>>();
  const held = async (a: Admitted, study: PatientStudy): Promise<ReleasedInstance[]> => {
    const uid = study.studyInstanceUid;
    if ((await a.access.studySummary(uid)).instances < study.instances && d.fetchFromPacs !== undefined) {
      // One fetch per study at a time, whoever asks; a PACS that fails leaves what the node holds to be given.
      let running = fetching.get(uid);
      if (running === undefined) {
        running = d.fetchFromPacs(uid).finally(() => fetching.delete(uid));
        fetching.set(uid, running);
      }
      try {
        await running;
      } catch (err) {
        d.logger.warn({ err: (err as Error).message }, 'XCA: the study could not be fetched from the PACS');
      }
    }
    return (await a.access.releaseStudy(study.studyInstanceUid, undefined)).filter(
      (i) => i.stored.patient.bsn === a.claims.bsn,
    );
  };

  const route = (
    t: Transaction,
    handle: (req: FastifyRequest, reply: FastifyReply, soap: SoapRequest, a: Admitted) => Promise<void>,
    failure: (errors: XdsError[]) => string,
  ) => {
    const spec = XCA_TRANSACTIONS[t];
    app.post(
      spec.path,
      {
        config: {
          access: 'partner',
          doc: {
            tag: 'XCA gateway',
            summary: spec.summary,
            description: `SOAP 1.2 (wsa:Action ${spec.action}) over mutual TLS, with a XUA SAML assertion in the WS-Security header naming the person, their organization (the certificate's), the purpose (TREATMENT) and the patient (BSN). Errors of the request or the assertion are SOAP faults with the catalog code in the detail; a refused consent and unknown documents are XDS errors in the answer.`,
            bodyType: 'application/soap+xml',
            answers: t === 'ITI-38' ? 'application/soap+xml' : 'multipart/related; type="application/xop+xml"',
            errors: ['ASSERTION_INVALID', 'REQUEST_INVALID', 'UNSUPPORTED_MEDIA_TYPE'] as const,
          },
        },
      },
      async (req, reply) => {
        let soap: SoapRequest | undefined;
        try {
          soap = await readSoapRequest(req);
          if (soap.action !== spec.action)
            throw new BeeldbrugError(
              'REQUEST_INVALID',
              `this endpoint takes ${spec.action}, not ${soap.action === '' ? 'a message without wsa:Action' : soap.action}`,
            );
          if (
            soap.payload.namespaceURI !== spec.request.ns ||
            soap.payload.localName !== spec.request.name.split(':')[1]
          )
            throw new BeeldbrugError('REQUEST_INVALID', `the body of ${t} must be ${spec.request.name}`);
          let admitted: Admitted;
          try {
            admitted = await admit(req, soap, t);
          } catch (err) {
            if (!(err instanceof BeeldbrugError) || !CONSENT_CODES.has(err.code)) throw err;
            d.logger.info({ transaction: t, caller: req.partner?.ura, code: err.code }, 'XCA request refused');
            return await answer(
              reply,
              soap,
              spec.response,
              failure([{ code: 'XDSRegistryError', context: err.message }]),
              t !== 'ITI-38',
            );
          }
          await handle(req, reply, soap, admitted);
        } catch (err) {
          if (reply.raw.headersSent) {
            req.log.warn({ err, transaction: t }, 'XCA answer cut off');
            reply.raw.destroy();
            return;
          }
          if (err instanceof BeeldbrugError && err.code === 'ASSERTION_INVALID') {
            // A refused assertion is a security event of its own (NEN 7513, ATNA): who presented it, from where.
            const ura = req.partner?.ura ?? '';
            await d.patientData
              .open({
                kind: 'partner-gateway',
                user: { id: `ura:${ura}`, name: `XCA gateway of URA ${ura}`, organizationUra: ura },
                accessPoint: { node: d.node, ip: req.ip },
                purpose: 'release',
                authorization: 'mutual TLS',
                transaction: t,
              })
              .record({
                action: 'verify-failure',
                outcome: 'failure',
                description: `XCA ${t}: ${err.message}`,
                objects: {},
              });
          }
          let fault: SoapFault;
          if (err instanceof SoapFault) fault = err;
          else if (err instanceof BeeldbrugError) fault = SoapFault.of(err);
          else {
            req.log.error({ err, transaction: t }, 'XCA request failed');
            fault = new SoapFault('Receiver', undefined, "the gateway could not answer; the node's log says why");
          }
          d.logger.info(
            { transaction: t, caller: req.partner?.ura, fault: fault.errorCode ?? fault.code },
            'XCA fault',
          );
          reply.hijack();
          reply.raw.writeHead(fault.httpStatus, { 'content-type': 'application/soap+xml; charset=utf-8' });
          reply.raw.end(faultEnvelope(fault, soap?.messageId));
        }
      },
    );
  };

  /** The answer's envelope, as plain SOAP or (always for a retrieve, else when asked so) MTOM with attachments. */
  const answer = async (
    reply: FastifyReply,
    soap: SoapRequest,
    action: string,
    body: string,
    mtom: boolean,
    attachments: readonly Attachment[] = [],
  ): Promise<void> => {
    const envelope = soapEnvelope(action, soap.messageId, body);
    reply.hijack();
    if (mtom || soap.mtom) return sendMtom(reply.raw, envelope, attachments);
    reply.raw.writeHead(200, { 'content-type': 'application/soap+xml; charset=utf-8' });
    reply.raw.end(envelope);
  };

  // ITI-38: FindDocuments for the assertion's patient, or GetDocuments by uniqueId or entryUUID.
  const queryFailure = (errors: XdsError[]): string =>
    // ebRS: the object list is there even when empty.
    `<query:AdhocQueryResponse ${RIM_NAMESPACES} status="${STATUS.failure}">${errorList(errors, d.identity.homeCommunityId)}<rim:RegistryObjectList/></query:AdhocQueryResponse>`;
  route(
    'ITI-38',
    async (_req, reply, soap, a) => {
      const request = soap.payload;
      const adhoc = childNamed(request, NS.rim, 'AdhocQuery');
      if (adhoc === undefined) throw new BeeldbrugError('REQUEST_INVALID', 'the query has no rim:AdhocQuery');
      const returnType = childNamed(request, NS.query, 'ResponseOption')?.getAttribute('returnType') ?? 'LeafClass';
      const queryId = adhoc.getAttribute('id') ?? '';
      const slots = slotValues(adhoc);
      const one = (name: string): string | undefined => slots.get(name)?.[0];
      const errors: XdsError[] = [];
      const refuse = async (code: string, context: string): Promise<void> => {
        await a.access.record({
          action: 'query',
          outcome: 'failure',
          description: `XCA query (ITI-38) refused: ${context}`,
          patient: { bsn: a.claims.bsn },
          objects: {},
        });
        await answer(reply, soap, XCA_TRANSACTIONS['ITI-38'].response, queryFailure([{ code, context }]), false);
      };
      if (queryId !== FIND_DOCUMENTS && queryId !== GET_DOCUMENTS)
        return refuse(
          'XDSUnknownStoredQuery',
          `stored query ${queryId} is not offered: FindDocuments and GetDocuments are`,
        );
      if (queryId === FIND_DOCUMENTS) {
        const asked = bsnOfCx(one('$XDSDocumentEntryPatientId') ?? '');
        if (asked !== a.claims.bsn)
          return refuse('XDSUnknownPatientId', 'the query asks for another patient than the XUA assertion names');
      }
      const { documents, partial } = await patientDocuments(a, { content: true });
      if (partial !== undefined) errors.push({ code: 'XDSRegistryError', context: partial, severity: 'Warning' });
      const within = (value: string | undefined, from: string | undefined, to: string | undefined): boolean =>
        (from === undefined || (value !== undefined && value >= from)) &&
        (to === undefined || (value !== undefined && value < to));
      const statuses = slots.get('$XDSDocumentEntryStatus');
      const types = slots.get('$XDSDocumentEntryType');
      const formats = slots.get('$XDSDocumentEntryFormatCode');
      const uniqueIds = slots.get('$XDSDocumentEntryUniqueId');
      const entryUuids = slots.get('$XDSDocumentEntryEntryUUID');
      const matching = documents.filter((doc) => {
        if (statuses !== undefined && !statuses.includes(APPROVED)) return false;
        if (types !== undefined && !types.includes(STABLE_DOCUMENT)) return false;
        const f = FORMAT[doc.kind];
        if (formats !== undefined && !formats.some((x) => x === `${f.code}^^${f.scheme}` || x === f.code)) return false;
        if (queryId === GET_DOCUMENTS)
          return (uniqueIds ?? []).includes(doc.uniqueId) || (entryUuids ?? []).includes(doc.entryUuid);
        const when = serviceTime(doc.study);
        return (
          within(when, one('$XDSDocumentEntryServiceStartTimeFrom'), one('$XDSDocumentEntryServiceStartTimeTo')) &&
          within(when, one('$XDSDocumentEntryCreationTimeFrom'), one('$XDSDocumentEntryCreationTimeTo'))
        );
      });
      await a.access.record({
        action: 'query',
        outcome: 'success',
        description: `XCA query (ITI-38): ${matching.length} documents listed for ${a.claims.organization.name}`,
        patient: { bsn: a.claims.bsn },
        objects: {},
      });
      const objects = matching
        .map((doc) =>
          returnType === 'ObjectRef' ? objectRef(doc, d.identity) : extrinsicObject(doc, a.claims.bsn, d.identity),
        )
        .join('');
      await answer(
        reply,
        soap,
        XCA_TRANSACTIONS['ITI-38'].response,
        `<query:AdhocQueryResponse ${RIM_NAMESPACES} status="${statusOf(errors, matching.length)}">` +
          `${errorList(errors, d.identity.homeCommunityId)}<rim:RegistryObjectList>${objects}</rim:RegistryObjectList></query:AdhocQueryResponse>`,
        false,
      );
    },
    queryFailure,
  );

  const retrieveFailure = (errors: XdsError[]): string =>
    `<xdsb:RetrieveDocumentSetResponse xmlns:xdsb="${NS.xds}" xmlns:rs="${NS.rs}"><rs:RegistryResponse status="${STATUS.failure}">` +
    `${errorList(errors, d.identity.homeCommunityId)}</rs:RegistryResponse></xdsb:RetrieveDocumentSetResponse>`;

  /** One requested document's place: its community and repository checked against this gateway's. */
  const placeError = (request: Element, uniqueId: string): XdsError | undefined => {
    const home = textOf(childNamed(request, NS.xds, 'HomeCommunityId'));
    const repository = textOf(childNamed(request, NS.xds, 'RepositoryUniqueId'));
    if (home !== '' && home !== d.identity.homeCommunityId)
      return { code: 'XDSUnknownCommunity', context: `${uniqueId}: community ${home} is not this gateway's` };
    if (repository !== d.identity.repositoryUniqueId)
      return { code: 'XDSUnknownRepositoryId', context: `${uniqueId}: repository ${repository} is not this gateway's` };
    return undefined;
  };

  /** A retrieve's answer: the status, each document's response naming its attachment, and the attachments. */
  const retrieveAnswer = async (
    reply: FastifyReply,
    soap: SoapRequest,
    t: 'ITI-39' | 'RAD-75',
    given: { uniqueId: string; mimeType: string; attachment: Attachment }[],
    errors: XdsError[],
  ): Promise<void> => {
    const responses = given
      .map(
        (g) =>
          `<xdsb:DocumentResponse><xdsb:HomeCommunityId>${esc(d.identity.homeCommunityId)}</xdsb:HomeCommunityId>` +
          `<xdsb:RepositoryUniqueId>${esc(d.identity.repositoryUniqueId)}</xdsb:RepositoryUniqueId>` +
          `<xdsb:DocumentUniqueId>${esc(g.uniqueId)}</xdsb:DocumentUniqueId><xdsb:mimeType>${g.mimeType}</xdsb:mimeType>` +
          `<xdsb:Document><xop:Include xmlns:xop="${NS.xop}" href="cid:${g.attachment.contentId}"/></xdsb:Document></xdsb:DocumentResponse>`,
      )
      .join('');
    await answer(
      reply,
      soap,
      XCA_TRANSACTIONS[t].response,
      `<xdsb:RetrieveDocumentSetResponse xmlns:xdsb="${NS.xds}" xmlns:rs="${NS.rs}">` +
        `<rs:RegistryResponse status="${statusOf(errors, given.length)}">${errorList(errors, d.identity.homeCommunityId)}</rs:RegistryResponse>` +
        `${responses}</xdsb:RetrieveDocumentSetResponse>`,
      true,
      given.map((g) => g.attachment),
    );
  };

  // ITI-39: the manifests and reports ITI-38 listed, by uniqueId, for the assertion's patient only.
  route(
    'ITI-39',
    async (_req, reply, soap, a) => {
      const request = soap.payload;
      const { documents } = await patientDocuments(a, { content: false });
      const byUid = new Map(documents.map((doc) => [doc.uniqueId, doc]));
      const errors: XdsError[] = [];
      const given: { uniqueId: string; mimeType: string; attachment: Attachment }[] = [];
      for (const r of childrenNamed(request, NS.xds, 'DocumentRequest')) {
        const uniqueId = textOf(childNamed(r, NS.xds, 'DocumentUniqueId'));
        const place = placeError(r, uniqueId);
        const doc = byUid.get(uniqueId);
        if (place !== undefined || doc === undefined) {
          errors.push(
            place ?? {
              code: 'XDSDocumentUniqueIdError',
              context: `${uniqueId}: no such document of this patient here`,
            },
          );
          continue;
        }
        const bytes = doc.kind === 'manifest' ? await manifestOf(a, doc) : await reportOf(a, doc);
        if (bytes === undefined) {
          errors.push({ code: 'XDSDocumentUniqueIdError', context: `${uniqueId}: the study is no longer held here` });
          continue;
        }
        await a.access.record({
          action: 'retrieve',
          outcome: 'success',
          description: `XCA retrieve (ITI-39): the ${doc.kind === 'manifest' ? 'imaging manifest' : 'report'} of a study for ${a.claims.organization.name}`,
          patient: { bsn: a.claims.bsn },
          objects: { studyInstanceUid: doc.study.studyInstanceUid },
        });
        const contentId = newContentId(given.length + 1);
        given.push({
          uniqueId,
          mimeType: doc.kind === 'manifest' ? 'application/dicom' : 'text/plain',
          attachment: {
            contentId,
            contentType: doc.kind === 'manifest' ? 'application/dicom' : 'text/plain; charset=utf-8',
            body: () => [bytes],
          },
        });
      }
      for (const e of errors)
        await a.access.record({
          action: 'retrieve',
          outcome: 'failure',
          description: `XCA retrieve (ITI-39) refused: ${e.context}`,
          patient: { bsn: a.claims.bsn },
          objects: {},
        });
      await retrieveAnswer(reply, soap, 'ITI-39', given, errors);
    },
    retrieveFailure,
  );

  /** The study's imaging manifest as a Part 10 file, made from what the node holds of it (fetched from the PACS first). */
  const manifestOf = async (a: Admitted, doc: XcaDocument): Promise<Buffer | undefined> =>
    manifestBytes(a, doc, await held(a, doc.study));

  const manifestBytes = (a: Admitted, doc: XcaDocument, instances: readonly ReleasedInstance[]): Buffer | undefined => {
    const first = instances[0];
    if (first === undefined) return undefined;
    const series = new Map<string, { sopClassUid: string; sopInstanceUid: string }[]>();
    for (const i of instances) {
      const list = series.get(i.stored.series.seriesInstanceUid) ?? [];
      list.push({ sopClassUid: i.stored.instance.sopClassUid, sopInstanceUid: i.stored.instance.sopInstanceUid });
      series.set(i.stored.series.seriesInstanceUid, list);
    }
    const p = first.stored.patient;
    const s = first.stored.study;
    const when = serviceTime(doc.study);
    const kos = imagingManifest(
      {
        patient: {
          patientId: a.claims.bsn,
          issuer: BSN_ISSUER_OID,
          ...(p.patientName !== null ? { name: p.patientName } : {}),
          ...(p.birthDate !== null ? { birthDate: p.birthDate } : {}),
          ...(p.sex !== null ? { sex: p.sex } : {}),
        },
        studyInstanceUid: s.studyInstanceUid,
        ...(s.studyDate !== null ? { studyDate: s.studyDate } : {}),
        ...(s.studyTime !== null ? { studyTime: s.studyTime } : {}),
        ...(s.accessionNumber !== null ? { accessionNumber: s.accessionNumber } : {}),
        ...(s.studyDescription !== null ? { description: s.studyDescription } : {}),
        series: [...series].map(([seriesInstanceUid, list]) => ({ seriesInstanceUid, instances: list })),
      },
      { repositoryUniqueId: d.identity.repositoryUniqueId, institution: d.identity.organization.name },
      // Dated by the study, so that the same manifest is the same bytes each time it is retrieved.
      {
        sopInstanceUid: doc.uniqueId,
        now:
          when !== undefined
            ? new Date(`${when.slice(0, 4)}-${when.slice(4, 6)}-${when.slice(6, 8)}T00:00:00Z`)
            : new Date(0),
      },
    );
    return Buffer.concat(encodePart10(kos, TransferSyntax.ExplicitVRLittleEndian));
  };

  const reportOf = async (a: Admitted, doc: XcaDocument): Promise<Buffer | undefined> => {
    const text = await a.access.reportText(a.claims.bsn, doc.study.studyInstanceUid);
    return text !== undefined ? Buffer.from(text, 'utf8') : undefined;
  };

  // RAD-75: DICOM instances of the patient's studies, by study, series and SOP Instance UID, in a transfer syntax asked.
  route(
    'RAD-75',
    async (_req, reply, soap, a) => {
      const request = soap.payload;
      const syntaxes = descendantsNamed(request, NS.xdsi, 'TransferSyntaxUID').map((x) => textOf(x));
      if (syntaxes.length === 0)
        throw new BeeldbrugError('REQUEST_INVALID', 'the request lists no transfer syntax (TransferSyntaxUIDList)');
      const studies = new Map(
        (await studiesOfPatient(a.access, d.archive, a.claims.bsn, d.logger)).studies.map((s) => [
          s.studyInstanceUid,
          s,
        ]),
      );
      const errors: XdsError[] = [];
      const given: { uniqueId: string; mimeType: string; attachment: Attachment }[] = [];
      for (const studyRequest of childrenNamed(request, NS.xdsi, 'StudyRequest')) {
        const studyUid = studyRequest.getAttribute('studyInstanceUID') ?? '';
        const study = studies.get(studyUid);
        const wanted = childrenNamed(studyRequest, NS.xdsi, 'SeriesRequest').flatMap((seriesRequest) =>
          childrenNamed(seriesRequest, NS.xds, 'DocumentRequest').map((r) => ({
            seriesUid: seriesRequest.getAttribute('seriesInstanceUID') ?? '',
            uniqueId: textOf(childNamed(r, NS.xds, 'DocumentUniqueId')),
            request: r,
          })),
        );
        const instances = study !== undefined ? await held(a, study) : [];
        const bySop = new Map(instances.map((i) => [i.stored.instance.sopInstanceUid, i]));
        const sent: string[] = [];
        for (const w of wanted) {
          const i = bySop.get(w.uniqueId);
          const place = placeError(w.request, w.uniqueId);
          if (place !== undefined || i === undefined || i.stored.series.seriesInstanceUid !== w.seriesUid) {
            errors.push(
              place ?? {
                code: 'XDSDocumentUniqueIdError',
                context: `${w.uniqueId}: no such instance of this patient's study ${studyUid} here`,
              },
            );
            continue;
          }
          const stored = i.stored.instance.transferSyntaxUid;
          const target = syntaxes.includes(stored) ? stored : syntaxes.find((ts) => canConvert(stored, ts));
          // A conversion holds the instance in memory: what is too large for that is refused for itself, before the
          // answer starts, rather than cutting the answer off half-way.
          if (target !== undefined && target !== stored && i.stored.blob.size > MAX_CONVERTED_BYTES) {
            errors.push({
              code: 'XDSRepositoryError',
              context: `${w.uniqueId}: stored in ${stored}; at ${i.stored.blob.size} bytes it is given only so`,
            });
            continue;
          }
          if (target === undefined) {
            errors.push({
              code: 'XDSRepositoryError',
              context: `${w.uniqueId}: stored in ${stored}, which cannot be given in ${syntaxes.join(', ')}`,
            });
            continue;
          }
          sent.push(w.uniqueId);
          given.push({
            uniqueId: w.uniqueId,
            mimeType: 'application/dicom',
            attachment: {
              contentId: newContentId(given.length + 1),
              contentType: 'application/dicom',
              ...(target === stored
                ? { body: () => i.openFile() as AsyncIterable<Buffer>, written: (piece: Buffer) => i.giveBack(piece) }
                : {
                    body: async () =>
                      encodePart10(await convertedDataset(await bodyBytes(i.openDataset()), stored, target), target),
                  }),
            },
          });
        }
        await a.access.record({
          action: 'retrieve',
          outcome: sent.length > 0 ? 'success' : 'failure',
          description:
            sent.length > 0
              ? `XCA imaging retrieve (RAD-75): ${sent.length} instances for ${a.claims.organization.name}`
              : `XCA imaging retrieve (RAD-75) refused: none of the ${wanted.length} instances asked is an instance of this patient here`,
          patient: { bsn: a.claims.bsn },
          objects: { studyInstanceUid: studyUid, ...(sent.length > 0 ? { sopInstanceUids: sent } : {}) },
        });
      }
      await retrieveAnswer(reply, soap, 'RAD-75', given, errors);
    },
    retrieveFailure,
  );
}
