import type { PartnerConfig } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { PartnerClient } from '../http/index.ts';
import { isValidBsn } from '../patient/index.ts';
import type { RegistryClient } from '../registry/index.ts';
import type { PatientData, PatientDataAccess } from '../studies/index.ts';
import { type Requester, type RequestingSystem, signTimelineRequest } from './claims.ts';
import type {
  SourceAnswer,
  SourceOutcome,
  SourceSeriesAnswer,
  Timeline,
  TimelineCommunity,
  TimelineStudy,
} from './types.ts';

export interface TimelineServiceOptions {
  /** Where the patient is known and may be asked; without it, `regionalSources` are asked and the answer says so. */
  registry: RegistryClient | undefined;
  /** URAs of partners to ask when there is no registry. */
  regionalSources: readonly string[];
  partners: readonly PartnerConfig[];
  us: { ura: string; name: string };
  /** The node's key, certificate and CA: for mutual TLS to the sources and to sign the requests. */
  tls: { key: string | Buffer; cert: string | Buffer; ca: string | Buffer };
  /** Every question and retrieval is recorded through here, in the name of who asked. */
  patientData: PatientData;
  node: string;
  /** A source that has not answered by then is reported as timed out; the others are not held back. */
  sourceTimeoutMs: number;
  /** Told how each source did (status, time taken), e.g. for metrics. */
  onSource?: (outcome: SourceOutcome) => void;
  /** XCA communities asked beside the nodes the registry names (every question: they are not in the registry). */
  communities?: readonly TimelineCommunity[];
  /**
   * Where a study brought from a community goes next: into the PACS the routing rules name for a retrieval, with how
   * many instances the PACS did not take; undefined when the rules keep it in the node.
   */
  intoPacs?: (r: {
    community: TimelineCommunity;
    studyInstanceUid: string;
    /** This PACS rather than the one the routing rules name. */
    destination?: string;
  }) => Promise<{ destination: string; failed: number } | undefined>;
}

/**
 * Who asks, as the node authenticated them, never from a request body: a practitioner (signed in, or named by the
 * verified assertion of one of our systems, which `system` then names); or a DICOM peer of the allow-list (the PACS
 * querying the external AE title), for which the node knows no person.
 */
export type TimelineAsker =
  | { kind: 'person'; requester: Requester; system?: RequestingSystem }
  | { kind: 'dicom-peer'; system: RequestingSystem; aeTitle: string; remoteAddress: string }
  /** A task of the node on grounds it names (prefetch on an order from the RIS). */
  | { kind: 'node-task'; system: RequestingSystem; grounds: string };

export interface TimelineQuery {
  bsn: string;
  asker: TimelineAsker;
  /** The Patient ID the asker named the patient by, when not the BSN (for the audit record). */
  patientId?: string;
  includeReports?: boolean;
}

/**
 * The requesting side of the timeline: asks the registry where the patient is known and may be asked, asks only those
 * sources, all at once, each with its own timeout, and merges what comes back by date. A retrieval asks the source
 * to send the chosen study over the exchange protocol (manifest, digests, receipt), so it arrives verified in the
 * inbox and goes on into the PACS by the routing rules.
 */
export class TimelineService {
  readonly #o: TimelineServiceOptions;
  /** One keep-alive client per source, so a radiologist's next question does not pay for a new TLS handshake. */
  readonly #clients = new Map<string, PartnerClient>();

  constructor(o: TimelineServiceOptions) {
    this.#o = o;
  }

  #client(p: PartnerConfig & { baseUrl: string }): PartnerClient {
    let c = this.#clients.get(p.ura);
    if (c === undefined) {
      c = new PartnerClient(p.baseUrl, this.#o.tls, 4, { ura: p.ura });
      this.#clients.set(p.ura, c);
    }
    return c;
  }

  #sign(
    bsn: string,
    asker: TimelineAsker,
    extra: { includeReports?: boolean; studyInstanceUid?: string },
  ): Promise<string> {
    return signTimelineRequest(
      {
        bsn,
        requester: asker.kind === 'person' ? asker.requester : undefined,
        system: asker.kind !== 'person' ? asker.system : undefined,
        organization: this.#o.us,
        ...extra,
      },
      { keyPem: this.#o.tls.key, certPem: this.#o.tls.cert },
    );
  }

  /**
   * The access a question or retrieval is recorded through: the practitioner acts; or the system that asked, with the
   * practitioner as responsible user; or the DICOM peer, by AE title. The grounds are treatment.
   */
  #access(asker: TimelineAsker, purpose: 'query' | 'retrieve' | 'import', ip: string | undefined): PatientDataAccess {
    const ura = this.#o.us.ura;
    const common = { purpose, purposeOfUse: 'treatment' } as const;
    if (asker.kind === 'node-task') {
      return this.#o.patientData.open({
        kind: 'node-task',
        user: { ...asker.system, organizationUra: ura },
        accessPoint: { node: this.#o.node },
        authorization: asker.grounds,
        ...common,
      });
    }
    if (asker.kind === 'dicom-peer') {
      return this.#o.patientData.open({
        kind: 'dicom-peer',
        user: { ...asker.system, organizationUra: ura },
        accessPoint: { node: this.#o.node, ip: asker.remoteAddress, aeTitle: asker.aeTitle },
        authorization: 'DICOM allow-list (AE title + host)',
        ...common,
      });
    }
    const r = asker.requester;
    const person = { id: r.practitionerId, name: r.name, roleCode: r.roleCode };
    return this.#o.patientData.open({
      ...(asker.system === undefined
        ? { kind: 'person', user: { ...person, organizationUra: ura } }
        : {
            kind: 'own-system',
            user: { ...asker.system, organizationUra: ura },
            responsibleUser: { id: person.id, name: person.name },
          }),
      accessPoint: { node: this.#o.node, ...(ip !== undefined ? { ip } : {}) },
      authorization: 'user',
      ...common,
    });
  }

  async query(q: TimelineQuery, at: { ip?: string } = {}): Promise<Timeline> {
    if (!isValidBsn(q.bsn))
      throw new BeeldbrugError('BSN_INVALID', `${q.bsn} is not a valid BSN (nine digits that pass the elfproef)`);
    const mode = this.#o.registry !== undefined ? 'registry' : 'regional-sources';
    let asked: { ura: string; name?: string }[];
    if (this.#o.registry !== undefined) {
      asked = await this.#o.registry.locate(q.bsn, 'treatment');
    } else {
      asked = this.#o.regionalSources.filter((ura) => ura !== this.#o.us.ura).map((ura) => ({ ura }));
    }
    const jws = asked.length > 0 ? await this.#sign(q.bsn, q.asker, { includeReports: q.includeReports ?? false }) : '';
    const outcomes = await Promise.all([
      ...asked.map((s) => this.#ask(s, jws)),
      ...(this.#o.communities ?? []).map((c) => this.#askCommunity(c, q)),
    ]);
    const studies: TimelineStudy[] = outcomes
      .flatMap((o) =>
        o.answer !== undefined
          ? o.answer.studies.map((s) => ({ ...s, source: { ura: o.outcome.ura, name: o.outcome.name } }))
          : [],
      )
      .sort((a, b) =>
        `${b.studyDate ?? ''}${b.studyTime ?? ''}`.localeCompare(`${a.studyDate ?? ''}${a.studyTime ?? ''}`),
      );
    const sources = outcomes.map((o) => o.outcome);
    await this.#access(q.asker, 'query', at.ip).record({
      action: 'query',
      outcome: 'success',
      description: `timeline (${mode}): ${studies.length} studies; ${sources.map((s) => `${s.name} ${s.status}`).join(', ') || 'no source known'}`,
      patient: {
        bsn: q.bsn,
        ...(q.patientId !== undefined && q.patientId !== q.bsn ? { patientId: q.patientId } : {}),
      },
      objects: {},
    });
    return { bsn: q.bsn, mode, sources, studies };
  }

  async #ask(
    s: { ura: string; name?: string },
    jws: string,
  ): Promise<{ outcome: SourceOutcome; answer?: SourceAnswer }> {
    const partner = this.#o.partners.find((p) => p.ura === s.ura);
    const done = this.#reporter({ ura: s.ura, name: partner?.name ?? s.name ?? s.ura });
    if (partner?.baseUrl === undefined)
      return { outcome: done('failed', 0, 'not a partner with a baseUrl in exchange.partners') };
    try {
      const a = await this.#client({ ...partner, baseUrl: partner.baseUrl }).json(
        'POST',
        '/timeline/v1/studies',
        { request: jws },
        { timeoutMs: this.#o.sourceTimeoutMs },
      );
      const body = a.json as Partial<SourceAnswer> & { reason?: string; detail?: string };
      if (a.status === 200 && body.status === 'answered' && Array.isArray(body.studies)) {
        return {
          outcome: done('answered', body.studies.length, typeof body.partial === 'string' ? body.partial : undefined),
          answer: body as SourceAnswer,
        };
      }
      if (a.status === 403) return { outcome: done('refused', 0, body.reason ?? 'refused') };
      return { outcome: done('failed', 0, `HTTP ${a.status}: ${body.detail ?? body.reason ?? ''}`.trim()) };
    } catch (err) {
      if (err instanceof BeeldbrugError && err.code === 'PARTNER_TIMEOUT')
        return { outcome: done('timed-out', 0, `no answer within ${this.#o.sourceTimeoutMs} ms`) };
      return { outcome: done('failed', 0, (err as Error).message) };
    }
  }

  /** How one source did, timed from now, and told to onSource. */
  #reporter(source: {
    ura: string;
    name: string;
  }): (status: SourceOutcome['status'], studies: number, reason?: string) => SourceOutcome {
    const started = performance.now();
    return (status, studies, reason) => {
      const outcome: SourceOutcome = {
        ...source,
        status,
        studies,
        ms: Math.round(performance.now() - started),
        ...(reason !== undefined ? { reason } : {}),
      };
      this.#o.onSource?.(outcome);
      return outcome;
    };
  }

  async #askCommunity(
    c: TimelineCommunity,
    q: TimelineQuery,
  ): Promise<{ outcome: SourceOutcome; answer?: SourceAnswer }> {
    const done = this.#reporter({ ura: c.id, name: c.name });
    try {
      const a = await c.studies(q.bsn, q.asker, { timeoutMs: this.#o.sourceTimeoutMs });
      return {
        outcome: done('answered', a.studies.length, a.partial),
        answer: {
          status: 'answered',
          organization: { ura: c.id, name: c.name },
          consentReference: '',
          studies: a.studies,
        },
      };
    } catch (err) {
      if (err instanceof BeeldbrugError && err.code === 'PARTNER_TIMEOUT')
        return { outcome: done('timed-out', 0, `no answer within ${this.#o.sourceTimeoutMs} ms`) };
      if (err instanceof BeeldbrugError && err.code === 'PARTNER_REFUSED')
        return { outcome: done('refused', 0, err.message) };
      return { outcome: done('failed', 0, (err as Error).message) };
    }
  }

  /** The XCA community a source names, if it is one (a home community id rather than a URA). */
  community(source: string): TimelineCommunity | undefined {
    return this.#o.communities?.find((c) => c.id === source);
  }

  /**
   * Brings one study from an XCA community into this node (ITI-39 for its manifest, RAD-75 for the instances), stored
   * as an import in the asker's name; recorded as a retrieval, with what came.
   */
  async retrieveFromCommunity(
    r: { bsn: string; community: TimelineCommunity; studyInstanceUid: string; asker: TimelineAsker },
    at: { ip?: string } = {},
    /**
     * Where the study goes after the node: by default where the routing rules put a retrieval; a named PACS (a
     * prefetch's); or, with null, nowhere (a C-MOVE that sends it on itself).
     */
    into: { destination?: string | null } = {},
  ): Promise<{
    retrieved: number;
    failed: number;
    source: { ura: string; name: string };
    pacs?: { destination: string; failed: number };
  }> {
    if (!isValidBsn(r.bsn))
      throw new BeeldbrugError('BSN_INVALID', `${r.bsn} is not a valid BSN (nine digits that pass the elfproef)`);
    const c = r.community;
    const about = { patient: { bsn: r.bsn }, objects: { studyInstanceUid: r.studyInstanceUid } };
    const access = this.#access(r.asker, 'retrieve', at.ip);
    try {
      // A person imports in their own name; a system of ours that asked (the PACS, a prefetch) has the node do it.
      const importer =
        r.asker.kind === 'person'
          ? this.#access(r.asker, 'import', at.ip)
          : this.#o.patientData.openForTask(
              'xca-retrieval',
              `retrieval from ${c.name}`,
              'import',
              `asked by ${r.asker.system.name}`,
            );
      const got = await c.retrieve(r.bsn, r.studyInstanceUid, r.asker, importer);
      await access.record({
        action: 'retrieve',
        outcome: got.retrieved > 0 ? 'success' : 'failure',
        description: `retrieval from ${c.name} (XCA): ${got.retrieved} instances stored${got.failed > 0 ? `, ${got.failed} not given` : ''}`,
        ...about,
      });
      const pacs =
        got.retrieved > 0 && into.destination !== null
          ? await this.#o.intoPacs?.({
              community: c,
              studyInstanceUid: r.studyInstanceUid,
              ...(into.destination !== undefined ? { destination: into.destination } : {}),
            })
          : undefined;
      return { ...got, source: { ura: c.id, name: c.name }, ...(pacs !== undefined ? { pacs } : {}) };
    } catch (err) {
      await access.record({
        action: 'retrieve',
        outcome: 'failure',
        description: `retrieval from ${c.name} (XCA) failed: ${(err as Error).message}`,
        ...about,
      });
      throw err;
    }
  }

  /** The series of one study of the timeline, as its source holds them (the PACS's series-level query). */
  async series(
    r: { bsn: string; sourceUra: string; studyInstanceUid: string; asker: TimelineAsker },
    at: { ip?: string } = {},
  ): Promise<SourceSeriesAnswer> {
    const partner = this.#partner(r.bsn, r.sourceUra);
    const jws = await this.#sign(r.bsn, r.asker, { studyInstanceUid: r.studyInstanceUid });
    const a = await this.#client(partner).json(
      'POST',
      '/timeline/v1/series',
      { request: jws },
      { timeoutMs: this.#o.sourceTimeoutMs },
    );
    const body = a.json as Partial<SourceSeriesAnswer> & { reason?: string; detail?: string };
    const answered = a.status === 200 && body.status === 'answered' && Array.isArray(body.series);
    await this.#access(r.asker, 'query', at.ip).record({
      action: 'query',
      outcome: answered ? 'success' : 'failure',
      description: answered
        ? `timeline: ${body.series?.length ?? 0} series of a study at ${partner.name}`
        : `timeline: the series of a study at ${partner.name} refused: ${body.reason ?? a.status}`,
      patient: { bsn: r.bsn },
      objects: { studyInstanceUid: r.studyInstanceUid },
    });
    if (!answered)
      throw new BeeldbrugError(
        'PARTNER_REFUSED',
        `${partner.name} did not list the series: ${body.detail ?? body.reason ?? `HTTP ${a.status}`}`,
      );
    return body as SourceSeriesAnswer;
  }

  /** A source to ask about one patient: a partner with a baseUrl; the BSN checked first. */
  #partner(bsn: string, ura: string): PartnerConfig & { baseUrl: string } {
    if (!isValidBsn(bsn))
      throw new BeeldbrugError('BSN_INVALID', `${bsn} is not a valid BSN (nine digits that pass the elfproef)`);
    const partner = this.#o.partners.find((p) => p.ura === ura);
    if (partner?.baseUrl === undefined)
      throw new BeeldbrugError('PARTNER_UNKNOWN', `URA ${ura} is not a partner with a baseUrl in exchange.partners`);
    return { ...partner, baseUrl: partner.baseUrl };
  }

  /** Asks the source to send one study of the timeline here; the transfer then arrives in the inbox like any other. */
  async retrieve(
    r: {
      bsn: string;
      sourceUra: string;
      studyInstanceUid: string;
      asker: TimelineAsker;
    },
    at: { ip?: string } = {},
  ): Promise<{ transferId: string; source: { ura: string; name: string } }> {
    const partner = this.#partner(r.bsn, r.sourceUra);
    const jws = await this.#sign(r.bsn, r.asker, { studyInstanceUid: r.studyInstanceUid });
    const access = this.#access(r.asker, 'retrieve', at.ip);
    const record = async (outcome: 'success' | 'failure', description: string, transferId?: string): Promise<void> => {
      await access.record({
        action: 'retrieve',
        outcome,
        description,
        patient: { bsn: r.bsn },
        objects: { studyInstanceUid: r.studyInstanceUid, ...(transferId !== undefined ? { transferId } : {}) },
      });
    };
    const a = await this.#client(partner).json(
      'POST',
      '/timeline/v1/retrievals',
      { request: jws },
      { timeoutMs: this.#o.sourceTimeoutMs * 4 },
    );
    const body = a.json as { transferId?: unknown; reason?: string; detail?: string };
    if (a.status !== 202 || typeof body.transferId !== 'string') {
      await record('failure', `retrieval from ${partner.name} refused: ${body.reason ?? a.status}`);
      throw new BeeldbrugError(
        'PARTNER_REFUSED',
        `${partner.name} did not queue the study: ${body.detail ?? body.reason ?? `HTTP ${a.status}`}`,
      );
    }
    await record('success', `retrieval from ${partner.name} queued there`, body.transferId);
    return { transferId: body.transferId, source: { ura: partner.ura, name: partner.name } };
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
    for (const c of this.#o.communities ?? []) c.close?.();
  }
}
