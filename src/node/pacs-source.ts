import { Dataset, parseDataset, SopClass, Tag, TransferSyntax, writeDataset } from '../dicom/index.ts';
import { Association, DefaultTransferSyntaxes, isFailure, Status, type TlsOptions } from '../dimse/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { StudyLocation, StudySource } from '../exchange/index.ts';
import type { Logger } from '../log/index.ts';
import { BSN_ISSUER_OID, isValidBsn } from '../patient/index.ts';
import { isReportModality, type PatientData, type PatientSeries, type PatientStudy } from '../studies/index.ts';
import type { Config } from '../config/index.ts';
import { readTlsFiles } from './tls-files.ts';
import { peerCertificateCheck } from './peer-allow-list.ts';
import { ingestStoreRequest } from './ingest-store-request.ts';

/** A value the PACS answered, or null when it left it empty. */
function text(d: Dataset, tag: number): string | null {
  const v = d.string(tag)?.trim();
  return v === undefined || v === '' ? null : v;
}

const modalitiesOf = (d: Dataset): string[] =>
  (text(d, Tag.ModalitiesInStudy) ?? '')
    .split('\\')
    .map((x) => x.trim())
    .filter((x) => x !== '');

/** What a study list searches the PACS by; each as DICOM matching has it (names with *, dates as ranges). */
export interface PacsSearch {
  patientId?: string;
  patientName?: string;
  /** YYYYMMDD, or a range YYYYMMDD-YYYYMMDD (either end open). */
  studyDate?: string;
  modality?: string;
  accessionNumber?: string;
}

/** One study as the PACS answered it. */
export interface PacsStudy {
  studyInstanceUid: string;
  patient: {
    patientId: string;
    issuerOfPatientId?: string;
    bsn?: string;
    name: string | null;
    birthDate: string | null;
  };
  studyDate: string | null;
  accessionNumber: string | null;
  description: string | null;
  modalities: string[];
  series: number;
  instances: number;
}

export interface PacsPeer {
  aeTitle: string;
  host: string;
  port: number;
  tls?: TlsOptions;
}

/** Identifiers are written in explicit VR little endian, which every PACS accepts for query/retrieve. */
const QUERY_TS = [TransferSyntax.ExplicitVRLittleEndian];
/** A C-GET context per SOP class and transfer syntax (max 128 contexts), so the PACS can send each file as it holds it. */
const MAX_CONTEXTS = 120;

/**
 * The hospital's PACS as the source of a study the node does not hold (exchange.fetchFrom): a study-level C-FIND says
 * whether the PACS has it and how many instances, and a C-MOVE to this node's own AE title (what every PACS supports)
 * or a C-GET brings it in through the same ingest as any C-STORE, each instance made durable before it is acknowledged.
 */
export class PacsSource implements StudySource {
  readonly #peer: PacsPeer;
  readonly #method: 'c-move' | 'c-get';
  readonly #ourAeTitle: string;
  readonly #patientData: PatientData;
  readonly #node: string;
  readonly #log: Logger;

  constructor(
    peer: PacsPeer,
    o: { method: 'c-move' | 'c-get'; ourAeTitle: string; patientData: PatientData; node: string; logger: Logger },
  ) {
    this.#peer = peer;
    this.#method = o.method;
    this.#ourAeTitle = o.ourAeTitle;
    this.#patientData = o.patientData;
    this.#node = o.node;
    this.#log = o.logger;
  }

  async locate(studyInstanceUid: string): Promise<StudyLocation | undefined> {
    const query = new Dataset()
      .set(Tag.QueryRetrieveLevel, 'CS', 'STUDY')
      .set(Tag.StudyInstanceUID, 'UI', studyInstanceUid)
      .set(Tag.PatientID, 'LO', '')
      .set(Tag.IssuerOfPatientID, 'LO', '')
      .set(Tag.NumberOfStudyRelatedInstances, 'IS', '');
    const matches = await this.#find(query);
    const match = matches[0];
    if (match === undefined) return undefined;
    const patientId = match.string(Tag.PatientID)?.trim() ?? '';
    const issuer = match.string(Tag.IssuerOfPatientID)?.trim();
    const bsn = issuer === BSN_ISSUER_OID && isValidBsn(patientId) ? patientId : undefined;
    return {
      instances: match.number(Tag.NumberOfStudyRelatedInstances) ?? 0,
      patient: { patientId, ...(bsn !== undefined ? { bsn } : {}) },
    };
  }

  /**
   * The patient's studies the PACS holds, by a study-level C-FIND on PatientID = BSN. A study whose issuer of patient
   * ID names another authority is someone else's number that happens to match, and is left out. Body parts are not a
   * study-level attribute; the counts are the PACS's own.
   */
  async patientStudies(bsn: string): Promise<PatientStudy[]> {
    const query = new Dataset()
      .set(Tag.QueryRetrieveLevel, 'CS', 'STUDY')
      .set(Tag.PatientID, 'LO', bsn)
      .set(Tag.IssuerOfPatientID, 'LO', '')
      .set(Tag.StudyInstanceUID, 'UI', '')
      .set(Tag.StudyDate, 'DA', '')
      .set(Tag.StudyTime, 'TM', '')
      .set(Tag.AccessionNumber, 'SH', '')
      .set(Tag.StudyDescription, 'LO', '')
      .set(Tag.ModalitiesInStudy, 'CS', '')
      .set(Tag.NumberOfStudyRelatedSeries, 'IS', '')
      .set(Tag.NumberOfStudyRelatedInstances, 'IS', '');
    const studies: PatientStudy[] = [];
    for (const m of await this.#find(query)) {
      const issuer = text(m, Tag.IssuerOfPatientID);
      const uid = text(m, Tag.StudyInstanceUID);
      if (uid === null || text(m, Tag.PatientID) !== bsn || (issuer !== null && issuer !== BSN_ISSUER_OID)) continue;
      const modalities = modalitiesOf(m);
      studies.push({
        studyInstanceUid: uid,
        studyDate: text(m, Tag.StudyDate),
        studyTime: text(m, Tag.StudyTime),
        accessionNumber: text(m, Tag.AccessionNumber),
        description: text(m, Tag.StudyDescription),
        modalities,
        bodyParts: [],
        series: m.number(Tag.NumberOfStudyRelatedSeries) ?? 0,
        instances: m.number(Tag.NumberOfStudyRelatedInstances) ?? 0,
        hasReport: modalities.some(isReportModality),
      });
    }
    return studies;
  }

  /** The series of a study the PACS holds, by a series-level C-FIND (the caller has checked whose study it is). */
  async studySeries(studyInstanceUid: string): Promise<PatientSeries[]> {
    const query = new Dataset()
      .set(Tag.QueryRetrieveLevel, 'CS', 'SERIES')
      .set(Tag.StudyInstanceUID, 'UI', studyInstanceUid)
      .set(Tag.SeriesInstanceUID, 'UI', '')
      .set(Tag.Modality, 'CS', '')
      .set(Tag.SeriesNumber, 'IS', '')
      .set(Tag.SeriesDescription, 'LO', '')
      .set(Tag.BodyPartExamined, 'CS', '')
      .set(Tag.NumberOfSeriesRelatedInstances, 'IS', '');
    return (await this.#find(query)).flatMap((m) => {
      const uid = text(m, Tag.SeriesInstanceUID);
      return uid === null || text(m, Tag.StudyInstanceUID) !== studyInstanceUid
        ? []
        : [
            {
              seriesInstanceUid: uid,
              modality: text(m, Tag.Modality),
              seriesNumber: m.number(Tag.SeriesNumber) ?? null,
              description: text(m, Tag.SeriesDescription),
              bodyPart: text(m, Tag.BodyPartExamined),
              instances: m.number(Tag.NumberOfSeriesRelatedInstances) ?? 0,
            },
          ];
    });
  }

  /**
   * A study-level C-FIND with the criteria a study list offers (the PACS's own matching: wildcards in names, date
   * ranges); at most `limit` studies, the rest cancelled (C-CANCEL) so a broad search does not flood the node.
   */
  async searchStudies(c: PacsSearch, limit: number): Promise<{ studies: PacsStudy[]; more: boolean }> {
    const query = new Dataset()
      .set(Tag.QueryRetrieveLevel, 'CS', 'STUDY')
      .set(Tag.PatientID, 'LO', c.patientId ?? '')
      .set(Tag.IssuerOfPatientID, 'LO', '')
      .set(Tag.PatientName, 'PN', c.patientName ?? '')
      .set(Tag.PatientBirthDate, 'DA', '')
      .set(Tag.StudyInstanceUID, 'UI', '')
      .set(Tag.StudyDate, 'DA', c.studyDate ?? '')
      .set(Tag.StudyTime, 'TM', '')
      .set(Tag.AccessionNumber, 'SH', c.accessionNumber ?? '')
      .set(Tag.StudyDescription, 'LO', '')
      .set(Tag.ModalitiesInStudy, 'CS', c.modality ?? '')
      .set(Tag.NumberOfStudyRelatedSeries, 'IS', '')
      .set(Tag.NumberOfStudyRelatedInstances, 'IS', '');
    const matches = await this.#find(query, limit + 1);
    const studies: PacsStudy[] = [];
    for (const m of matches.slice(0, limit)) {
      const uid = text(m, Tag.StudyInstanceUID);
      if (uid === null) continue;
      const patientId = text(m, Tag.PatientID) ?? '';
      const issuer = text(m, Tag.IssuerOfPatientID);
      const modalities = modalitiesOf(m);
      studies.push({
        studyInstanceUid: uid,
        patient: {
          patientId,
          ...(issuer !== null ? { issuerOfPatientId: issuer } : {}),
          ...((issuer === null || issuer === BSN_ISSUER_OID) && isValidBsn(patientId) ? { bsn: patientId } : {}),
          name: text(m, Tag.PatientName),
          birthDate: text(m, Tag.PatientBirthDate),
        },
        studyDate: text(m, Tag.StudyDate),
        accessionNumber: text(m, Tag.AccessionNumber),
        description: text(m, Tag.StudyDescription),
        modalities,
        series: m.number(Tag.NumberOfStudyRelatedSeries) ?? 0,
        instances: m.number(Tag.NumberOfStudyRelatedInstances) ?? 0,
      });
    }
    return { studies, more: matches.length > limit };
  }

  /** The PACS's AE title, as a study list names where a study is. */
  get aeTitle(): string {
    return this.#peer.aeTitle;
  }

  async fetch(studyInstanceUid: string): Promise<{ retrieved: number }> {
    const identifier = new Dataset()
      .set(Tag.QueryRetrieveLevel, 'CS', 'STUDY')
      .set(Tag.StudyInstanceUID, 'UI', studyInstanceUid);
    const started = Date.now();
    const result =
      this.#method === 'c-move' ? await this.#move(identifier) : await this.#get(identifier, studyInstanceUid);
    if (isFailure(result.status) || result.failed > 0) {
      throw new BeeldbrugError(
        'PACS_RETRIEVE_FAILED',
        `${this.#method.toUpperCase()} of study ${studyInstanceUid} from ${this.#peer.aeTitle}: status 0x${result.status.toString(16)}, ${result.failed} failed, ${result.completed} completed`,
      );
    }
    this.#log.info(
      { pacs: this.#peer.aeTitle, method: this.#method, instances: result.completed, ms: Date.now() - started },
      'study fetched from the PACS',
    );
    return { retrieved: result.completed };
  }

  async #connect(
    contexts: { abstractSyntax: string; transferSyntaxes: readonly string[]; scpRole?: boolean }[],
  ): Promise<Association> {
    try {
      return await Association.connect({
        host: this.#peer.host,
        port: this.#peer.port,
        callingAeTitle: this.#ourAeTitle,
        calledAeTitle: this.#peer.aeTitle,
        ...(this.#peer.tls !== undefined ? { tls: this.#peer.tls } : {}),
        presentationContexts: contexts,
        logger: this.#log,
      });
    } catch (cause) {
      throw new BeeldbrugError(
        'PACS_UNREACHABLE',
        `the PACS ${this.#peer.aeTitle} at ${this.#peer.host}:${this.#peer.port} cannot be reached: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  /** The matches, at most `atMost` (leaving the loop early cancels the rest with C-CANCEL). */
  async #find(query: Dataset, atMost = Infinity): Promise<Dataset[]> {
    const assoc = await this.#connect([
      { abstractSyntax: SopClass.StudyRootQueryRetrieveFind, transferSyntaxes: QUERY_TS },
    ]);
    try {
      const out: Dataset[] = [];
      const ts = TransferSyntax.ExplicitVRLittleEndian;
      for await (const m of assoc.find(SopClass.StudyRootQueryRetrieveFind, writeDataset(query, ts))) {
        out.push(parseDataset(m, ts));
        if (out.length >= atMost) break;
      }
      return out;
    } finally {
      await assoc.release().catch(() => undefined);
    }
  }

  async #move(identifier: Dataset) {
    const assoc = await this.#connect([
      { abstractSyntax: SopClass.StudyRootQueryRetrieveMove, transferSyntaxes: QUERY_TS },
    ]);
    try {
      return await assoc.move(
        SopClass.StudyRootQueryRetrieveMove,
        this.#ourAeTitle,
        writeDataset(identifier, TransferSyntax.ExplicitVRLittleEndian),
      );
    } finally {
      await assoc.release().catch(() => undefined);
    }
  }

  async #get(identifier: Dataset, studyInstanceUid: string) {
    // C-GET needs the storage SOP classes up front: an image-level C-FIND names them.
    const sopClasses = new Set<string>();
    const images = await this.#find(
      new Dataset()
        .set(Tag.QueryRetrieveLevel, 'CS', 'IMAGE')
        .set(Tag.StudyInstanceUID, 'UI', studyInstanceUid)
        .set(Tag.SOPClassUID, 'UI', '')
        .set(Tag.SOPInstanceUID, 'UI', ''),
    );
    for (const i of images) {
      const c = i.string(Tag.SOPClassUID)?.trim();
      if (c !== undefined && c !== '') sopClasses.add(c);
    }
    const contexts = [...sopClasses].flatMap((abstractSyntax) =>
      DefaultTransferSyntaxes.map((ts) => ({ abstractSyntax, transferSyntaxes: [ts], scpRole: true })),
    );
    if (contexts.length > MAX_CONTEXTS) {
      throw new BeeldbrugError(
        'PACS_RETRIEVE_FAILED',
        `study ${studyInstanceUid} has ${sopClasses.size} SOP classes, too many for one C-GET association; use fetchFrom.method c-move`,
      );
    }
    const assoc = await this.#connect([
      { abstractSyntax: SopClass.StudyRootQueryRetrieveGet, transferSyntaxes: QUERY_TS },
      ...contexts,
    ]);
    // The PACS sends over our own association: it is the DICOM peer the study came from, as with a C-STORE to us.
    const access = this.#patientData.open({
      kind: 'dicom-peer',
      user: { id: `dicom:${this.#peer.aeTitle}`, name: `DICOM peer ${this.#peer.aeTitle}` },
      accessPoint: { node: this.#node, ip: this.#peer.host, aeTitle: this.#ourAeTitle },
      purpose: 'ingest',
      authorization: 'exchange.fetchFrom (C-GET from the PACS)',
    });
    try {
      return await assoc.get(
        SopClass.StudyRootQueryRetrieveGet,
        writeDataset(identifier, TransferSyntax.ExplicitVRLittleEndian),
        async (req) => {
          await ingestStoreRequest(
            access,
            req,
            { aeTitle: this.#peer.aeTitle, remoteAddress: this.#peer.host },
            'C-GET: study fetched from the PACS',
          );
          return Status.Success;
        },
      );
    } finally {
      await assoc.release().catch(() => undefined);
    }
  }
}

/** The configured PACS source (exchange.fetchFrom), or undefined when the node sends only what it holds. */
export function pacsSourceFor(
  config: Readonly<Config>,
  patientData: PatientData,
  logger: Logger,
): PacsSource | undefined {
  const fetchFrom = config.exchange?.fetchFrom;
  if (fetchFrom === undefined) return undefined;
  return pacsAt(config, { ...fetchFrom, setting: 'exchange.fetchFrom' }, patientData, logger);
}

/** The PACS of a dimse peer with a port (`setting` names where the configuration points at it, for its errors). */
export function pacsAt(
  config: Readonly<Config>,
  o: { aeTitle: string; method: 'c-move' | 'c-get'; setting: string },
  patientData: PatientData,
  logger: Logger,
): PacsSource {
  const peer = config.dimse.peers.find((p) => p.aeTitle === o.aeTitle);
  if (peer?.port === undefined)
    throw new BeeldbrugError('CONFIG_INVALID', `${o.setting} ${o.aeTitle} is not a dimse peer with a port`);
  if (peer.tls && config.dimse.tlsClient === undefined)
    throw new BeeldbrugError(
      'CONFIG_INVALID',
      `the PACS ${peer.aeTitle} (${o.setting}) is reached with DICOM TLS, but dimse.tlsClient is not configured`,
    );
  const tls =
    peer.tls && config.dimse.tlsClient !== undefined
      ? {
          ...readTlsFiles(config.dimse.tlsClient),
          verifyPeer: peerCertificateCheck(peer, config.node.organization.ura),
        }
      : undefined;
  return new PacsSource(
    { aeTitle: peer.aeTitle, host: peer.host, port: peer.port, ...(tls !== undefined ? { tls } : {}) },
    {
      method: o.method,
      ourAeTitle: config.dimse.aeTitle,
      patientData,
      node: config.node.name,
      logger: logger.child({ part: 'pacs-source', pacs: peer.aeTitle }),
    },
  );
}
