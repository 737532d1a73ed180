import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { DicomError, readPart10, Tag, TransferSyntax } from '../../dicom/index.ts';
import { bodyBytes, parseMultipartContentType, readMultipart } from '../../dicomweb/index.ts';
import { BeeldbrugError } from '../../errors/index.ts';
import { PartnerClient } from '../../http/index.ts';
import type { Logger } from '../../log/index.ts';
import type { PatientDataAccess } from '../../studies/index.ts';
import type { SourceStudy, TimelineAsker, TimelineCommunity } from '../../timeline/index.ts';
import { FORMAT } from './document-entries.ts';
import { XCA_TRANSACTIONS } from './responding-gateway.ts';
import { childNamed, childrenNamed, descendantsNamed, firstElement, NS, parseXml, textOf } from './xml.ts';
import {
  findDocumentsQuery,
  imagingRetrieveRequest,
  retrieveDocumentsRequest,
  soapRequestEnvelope,
} from './requests.ts';
import { issueXua, type AssertionSigner } from './xua.ts';

/** An XCA community the timeline asks: its id, its name, and where its responding gateway answers each transaction. */
export interface CommunityConfig {
  name: string;
  homeCommunityId: string;
  queryUrl: string;
  retrieveUrl: string;
  imagingRetrieveUrl: string;
}

export interface XcaCommunityOptions {
  community: CommunityConfig;
  /** The node's certificate and key (mutual TLS) and the CA the community's gateway is trusted by. */
  tls: { key: string | Buffer; cert: string | Buffer; ca: string | Buffer };
  signer: AssertionSigner;
  us: { ura: string; name: string };
  logger: Logger;
}

/** The transfer syntaxes asked for in RAD-75: what the node stores as it comes, so the source's own is preferred. */
const ACCEPTED_SYNTAXES = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
  '1.2.840.10008.1.2.4.80',
  '1.2.840.10008.1.2.4.70',
  '1.2.840.10008.1.2.4.57',
  '1.2.840.10008.1.2.4.90',
  '1.2.840.10008.1.2.4.201',
  '1.2.840.10008.1.2.5',
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.91',
  '1.2.840.10008.1.2.1.99',
];

/** An answer's XML is metadata only; anything bigger is not an answer of a gateway. */
const MAX_XML_BYTES = 16 * 1024 * 1024;

/** A document entry of an ITI-38 answer, as far as the timeline needs it. */
interface FoundDocument {
  uniqueId: string;
  repositoryUniqueId: string;
  home: string;
  mimeType: string;
  formatCode: string;
  studyInstanceUid: string | undefined;
  accessionNumber: string | undefined;
  serviceStartTime: string | undefined;
  title: string;
  modalities: string[];
}

const bytesOf = (source: AsyncIterable<Buffer>): Promise<Buffer> => bodyBytes(source, MAX_XML_BYTES);

/**
 * The initiating side of XCA-I toward one community: the timeline's questions as ITI-38 FindDocuments for the BSN, a
 * study's retrieval as ITI-39 for its imaging manifest and RAD-75 for the instances it lists, streamed into the node's
 * store. Each call carries a XUA assertion the node issues for the person who asked (or the system of ours that did),
 * for this patient, meant for this community only.
 */
export class XcaCommunity implements TimelineCommunity {
  readonly id: string;
  readonly name: string;
  readonly #o: XcaCommunityOptions;
  readonly #clients = new Map<string, PartnerClient>();

  constructor(o: XcaCommunityOptions) {
    this.#o = o;
    this.id = o.community.homeCommunityId;
    this.name = o.community.name;
  }

  #client(url: URL): PartnerClient {
    let c = this.#clients.get(url.origin);
    if (c === undefined) {
      c = new PartnerClient(url.origin, this.#o.tls, 4);
      this.#clients.set(url.origin, c);
    }
    return c;
  }

  /** One SOAP exchange: the request with its assertion, the answer's envelope, and its attachments still streaming. */
  async #call(
    transaction: keyof typeof XCA_TRANSACTIONS,
    url: string,
    bsn: string,
    asker: TimelineAsker,
    body: string,
    timeoutMs: number,
    /** 'answer': the whole answer within timeoutMs (a timeline question); 'idle': no pause longer (a retrieval). */
    limit: 'answer' | 'idle',
  ): Promise<{
    payload: Element;
    attachments: AsyncIterator<{ headers: ReadonlyMap<string, string>; body: AsyncIterable<Buffer> }> | undefined;
    /** Ends the answer's connection early (a failure half-way): it is not left holding one of the few to this community. */
    close: () => void;
  }> {
    const subject =
      asker.kind === 'person'
        ? { id: asker.requester.practitionerId, name: asker.requester.name, roleCode: asker.requester.roleCode }
        : { id: asker.system.id, name: asker.system.name };
    const assertion = issueXua(this.#o.signer, { ...subject, organization: this.#o.us, bsn }, this.id);
    const envelope = soapRequestEnvelope(XCA_TRANSACTIONS[transaction].action, assertion, body, { to: url });
    const target = new URL(url);
    // The retrieve transactions travel as MTOM both ways (ITI TF-2 3.39, RAD TF-3 4.75); a query as plain SOAP.
    const request =
      transaction === 'ITI-38'
        ? { type: 'application/soap+xml; charset=UTF-8', body: Buffer.from(envelope) }
        : mtomRequest(envelope);
    const answer = await this.#client(target).answerStream(
      `${target.pathname}${target.search}`,
      request.type,
      request.body,
      {
        timeoutMs,
      },
    );
    const stalled = new BeeldbrugError(
      'PARTNER_TIMEOUT',
      `${this.name} did not ${limit === 'answer' ? 'answer' : 'go on sending'} ${transaction} within ${timeoutMs} ms`,
    );
    const close = (): void => void answer.body.destroy();
    // A community that sends the headers and then nothing must not hold a timeline question, or a retrieval, forever.
    const timer = setTimeout(() => answer.body.destroy(stalled), timeoutMs);
    const incoming =
      limit === 'answer'
        ? answer.body
        : (async function* () {
            try {
              for await (const chunk of answer.body as AsyncIterable<Buffer>) {
                timer.refresh();
                yield chunk;
              }
            } finally {
              clearTimeout(timer);
            }
          })();
    try {
      let xml: Buffer;
      let attachments: AsyncIterator<{ headers: ReadonlyMap<string, string>; body: AsyncIterable<Buffer> }> | undefined;
      if (answer.contentType.toLowerCase().startsWith('multipart/related')) {
        const { boundary } = parseMultipartContentType(answer.contentType);
        attachments = readMultipart(incoming, boundary)[Symbol.asyncIterator]();
        const root = await attachments.next();
        if (root.done === true)
          throw new BeeldbrugError('PARTNER_REFUSED', `${this.name}: an MTOM answer without parts`);
        xml = await bytesOf(root.value.body);
      } else {
        xml = await bytesOf(incoming);
      }
      if (limit === 'answer') clearTimeout(timer);
      const envelopeAnswer = parseXml(xml.toString('utf8'), `${this.name}'s ${transaction} answer`).documentElement!;
      const payload = firstElement(childNamed(envelopeAnswer, NS.soap, 'Body') ?? envelopeAnswer);
      if (payload === undefined) throw new BeeldbrugError('PARTNER_REFUSED', `${this.name}: an empty SOAP answer`);
      if (payload.namespaceURI === NS.soap && payload.localName === 'Fault') {
        const reason = textOf(descendantsNamed(payload, NS.soap, 'Text')[0]);
        throw new BeeldbrugError('PARTNER_REFUSED', `${this.name} refused the ${transaction} request: ${reason}`);
      }
      if (answer.status !== 200)
        throw new BeeldbrugError('PARTNER_REFUSED', `${this.name} answered ${transaction} with HTTP ${answer.status}`);
      return { payload, attachments, close };
    } catch (err) {
      clearTimeout(timer);
      close();
      throw answer.body.errored === stalled ? stalled : err;
    }
  }

  /** The registry errors of an answer; a Failure status is thrown as a refusal with their reasons. */
  #errors(payload: Element, transaction: string): string[] {
    // A query answer carries its status itself, a retrieve answer in its RegistryResponse.
    const status =
      payload.getAttribute('status') || childNamed(payload, NS.rs, 'RegistryResponse')?.getAttribute('status');
    const errors = descendantsNamed(payload, NS.rs, 'RegistryError').map(
      (e) => `${e.getAttribute('errorCode') ?? ''}: ${e.getAttribute('codeContext') ?? ''}`,
    );
    if (status?.endsWith(':Failure') === true)
      throw new BeeldbrugError(
        'PARTNER_REFUSED',
        `${this.name} refused the ${transaction} request: ${errors.join('; ') || 'no reason given'}`,
      );
    return errors;
  }

  async #find(
    bsn: string,
    asker: TimelineAsker,
    timeoutMs: number,
  ): Promise<{ documents: FoundDocument[]; partial?: string }> {
    const query = findDocumentsQuery(bsn);
    const { payload } = await this.#call('ITI-38', this.#o.community.queryUrl, bsn, asker, query, timeoutMs, 'answer');
    const errors = this.#errors(payload, 'ITI-38');
    const documents = descendantsNamed(payload, NS.rim, 'ExtrinsicObject').map((e): FoundDocument => {
      const slot = (name: string): string[] =>
        childrenNamed(e, NS.rim, 'Slot')
          .filter((s) => s.getAttribute('name') === name)
          .flatMap((s) => descendantsNamed(s, NS.rim, 'Value').map((v) => textOf(v)));
      const classified = (scheme: string): string[] =>
        childrenNamed(e, NS.rim, 'Classification')
          .filter((c) => c.getAttribute('classificationScheme') === scheme)
          .map((c) => c.getAttribute('nodeRepresentation') ?? '');
      const identified = (scheme: string): string =>
        childrenNamed(e, NS.rim, 'ExternalIdentifier')
          .find((x) => x.getAttribute('identificationScheme') === scheme)
          ?.getAttribute('value') ?? '';
      const reference = (kind: string): string | undefined =>
        slot('urn:ihe:iti:xds:2013:referenceIdList')
          .find((v) => v.endsWith(`^^^^${kind}`))
          ?.split('^')[0];
      return {
        uniqueId: identified('urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab'),
        repositoryUniqueId: slot('repositoryUniqueId')[0] ?? '',
        // xmldom answers '' for an attribute that is not there.
        home: e.getAttribute('home') || this.id,
        mimeType: e.getAttribute('mimeType') ?? '',
        formatCode: classified('urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d')[0] ?? '',
        studyInstanceUid: reference('urn:ihe:iti:xds:2016:studyInstanceUID'),
        accessionNumber: reference('urn:ihe:iti:xds:2013:accession'),
        serviceStartTime: slot('serviceStartTime')[0],
        title:
          descendantsNamed(childNamed(e, NS.rim, 'Name') ?? e, NS.rim, 'LocalizedString')[0]?.getAttribute('value') ??
          '',
        modalities: classified('urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4'),
      };
    });
    return { documents, ...(errors.length > 0 ? { partial: errors.join('; ') } : {}) };
  }

  async studies(
    bsn: string,
    asker: TimelineAsker,
    o: { timeoutMs: number },
  ): Promise<{ studies: SourceStudy[]; partial?: string }> {
    const { documents, partial } = await this.#find(bsn, asker, o.timeoutMs);
    const studies = new Map<string, SourceStudy>();
    // A study is known by its manifest; another document naming the same study (a report) marks it as reported.
    for (const d of documents) {
      if (d.studyInstanceUid === undefined || !isManifest(d)) continue;
      const when = d.serviceStartTime ?? '';
      studies.set(d.studyInstanceUid, {
        studyInstanceUid: d.studyInstanceUid,
        studyDate: /^\d{8}/.test(when) ? when.slice(0, 8) : null,
        studyTime: /^\d{14}/.test(when) ? when.slice(8, 14) : null,
        accessionNumber: d.accessionNumber ?? null,
        description: d.title === '' ? null : d.title,
        modalities: d.modalities,
        bodyParts: [],
        series: 0,
        instances: 0,
        hasReport: false,
      });
    }
    for (const d of documents) {
      const s = d.studyInstanceUid !== undefined ? studies.get(d.studyInstanceUid) : undefined;
      if (s !== undefined && !isManifest(d)) s.hasReport = true;
    }
    return { studies: [...studies.values()], ...(partial !== undefined ? { partial } : {}) };
  }

  async retrieve(
    bsn: string,
    studyInstanceUid: string,
    asker: TimelineAsker,
    into: PatientDataAccess,
  ): Promise<{ retrieved: number; failed: number }> {
    const timeoutMs = 60_000;
    const { documents } = await this.#find(bsn, asker, timeoutMs);
    const manifest = documents.find((d) => d.studyInstanceUid === studyInstanceUid && isManifest(d));
    if (manifest === undefined)
      throw new BeeldbrugError('NOT_FOUND', `${this.name} lists no imaging manifest of study ${studyInstanceUid}`);
    // ITI-39: the manifest, a Key Object Selection document naming every instance and where to retrieve it.
    const got = await this.#call(
      'ITI-39',
      this.#o.community.retrieveUrl,
      bsn,
      asker,
      retrieveDocumentsRequest([manifest]),
      timeoutMs,
      'idle',
    );
    let kosBytes: Buffer;
    try {
      this.#errors(got.payload, 'ITI-39');
      const [inline] = inlineDocuments(got.payload);
      const part = inline === undefined ? await got.attachments?.next() : undefined;
      if (inline === undefined && (part === undefined || part.done === true))
        throw new BeeldbrugError('PARTNER_REFUSED', `${this.name} sent no manifest`);
      kosBytes = inline ?? (await bytesOf(part!.value!.body));
    } finally {
      got.close();
    }
    const kos = readPart10(kosBytes).dataset;
    const series = kos
      .items(Tag.CurrentRequestedProcedureEvidenceSequence)
      .filter((s) => s.string(Tag.StudyInstanceUID) === studyInstanceUid)
      .flatMap((s) => s.items(Tag.ReferencedSeriesSequence))
      .map((s) => ({
        seriesInstanceUid: s.string(Tag.SeriesInstanceUID) ?? '',
        repositoryUniqueId: s.string(Tag.RetrieveLocationUID) ?? manifest.repositoryUniqueId,
        instances: s.items(Tag.ReferencedSOPSequence).map((i) => i.string(Tag.ReferencedSOPInstanceUID) ?? ''),
      }));
    const asked = series.reduce((n, s) => n + s.instances.length, 0);

    // RAD-75: every instance, streamed into the store as its part arrives.
    const images = await this.#call(
      'RAD-75',
      this.#o.community.imagingRetrieveUrl,
      bsn,
      asker,
      imagingRetrieveRequest(
        studyInstanceUid,
        series.map((s) => ({
          seriesInstanceUid: s.seriesInstanceUid,
          documents: s.instances.map((uid) => ({
            home: manifest.home,
            repositoryUniqueId: s.repositoryUniqueId,
            uniqueId: uid,
          })),
        })),
        ACCEPTED_SYNTAXES,
      ),
      timeoutMs,
      'idle',
    );
    let retrieved = 0;
    const store = async (source: AsyncIterable<Buffer>): Promise<void> => {
      try {
        await into.ingestPart10Stream(
          source,
          {
            provenance: { receivedAt: new Date().toISOString(), via: 'xca', callingAeTitle: null, remoteAddress: null },
            studyInstanceUid,
          },
          `study retrieved from ${this.name} (XCA)`,
        );
        retrieved++;
      } catch (err) {
        // One broken or foreign instance is not stored (the store keeps nothing of it); the others still are.
        if (!(err instanceof BeeldbrugError) && !(err instanceof DicomError)) throw err;
        this.#o.logger.warn({ community: this.name, err: err.message }, 'XCA: an instance was not stored');
      }
    };
    try {
      const errors = this.#errors(images.payload, 'RAD-75');
      if (errors.length > 0)
        this.#o.logger.warn({ community: this.name, errors: errors.length }, 'XCA: instances not given');
      // Small documents may come inline (base64) rather than as attachments; each part is a whole Part 10 file, so
      // the order of the attachments does not matter.
      for (const bytes of inlineDocuments(images.payload)) await store(Readable.from([bytes]));
      for (
        let p = await images.attachments?.next();
        p !== undefined && p.done !== true;
        p = await images.attachments?.next()
      )
        await store(p.value.body);
    } finally {
      images.close();
    }
    return { retrieved, failed: Math.max(0, asked - retrieved) };
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }
}

/** An envelope as the root part of an MTOM request (a retrieve request has no attachments). */
function mtomRequest(envelope: string): { type: string; body: Buffer } {
  const boundary = `MIMEBoundary_${randomBytes(12).toString('hex')}`;
  const root = `root.${randomBytes(6).toString('hex')}@beeldbrug`;
  return {
    type: `multipart/related; type="application/xop+xml"; start="<${root}>"; start-info="application/soap+xml"; boundary="${boundary}"`,
    body: Buffer.from(
      `--${boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n` +
        `Content-Transfer-Encoding: binary\r\nContent-ID: <${root}>\r\n\r\n${envelope}\r\n--${boundary}--\r\n`,
    ),
  };
}

/** The documents of a retrieve answer given inline (base64 text) rather than by xop:Include. */
function inlineDocuments(payload: Element): Buffer[] {
  return descendantsNamed(payload, NS.xds, 'Document')
    .filter((d) => descendantsNamed(d, NS.xop, 'Include').length === 0)
    .map((d) => Buffer.from(textOf(d), 'base64'));
}

function isManifest(d: { mimeType: string; formatCode: string }): boolean {
  return d.mimeType === 'application/dicom' && d.formatCode === FORMAT.manifest.code;
}
