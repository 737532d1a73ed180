import type { X509Certificate } from 'node:crypto';
import type { AuditEvent } from '../audit/index.ts';
import { type Dataset, DicomError, parseDataset, SopClass, Tag, writeDataset } from '../dicom/index.ts';
import {
  type AssociationInfo,
  type DimseHandlers,
  DimseFailure,
  type RetrievePlan,
  Status,
  type TlsOptions,
} from '../dimse/index.ts';
import { BeeldbrugError, dimseStatusOf } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { AccessPurpose, InformationModel, PatientData, PatientDataAccess } from '../studies/index.ts';
import { outgoingInstance, type VirtualPacs } from '../gateway/index.ts';
import { ingestStoreRequest } from './ingest-store-request.ts';
import type { SentBy, StableStudySends } from './stable-study-sends.ts';

/** A C-MOVE destination: a configured peer with a port. */
export interface MoveDestination {
  aeTitle: string;
  host: string;
  port: number;
  tls: boolean;
  /** Whether the server certificate is this destination's (its binding, or our own organization). */
  verifyPeer?: (certificate: X509Certificate) => string | undefined;
}

export interface HandlerOptions {
  /** Every C-STORE (once per study and association), C-FIND, C-MOVE and C-GET goes through here and is recorded. */
  patientData: PatientData;
  moveDestinations: readonly MoveDestination[];
  /** Our certificate for destinations that speak DICOM TLS. */
  tlsClient: TlsOptions | undefined;
  /**
   * AE titles that stand for partner hospitals (exchange.partners[].aeTitle). The PACS's own "send to" menu reaches a
   * partner two ways: it C-STOREs the study to one of these titles (it is called with it), and the study is queued for
   * that partner once the association is released; or a C-MOVE names one as its destination.
   */
  partnerDestinations?: readonly string[];
  sendToPartner?: (
    destinationAeTitle: string,
    studyInstanceUids: readonly string[],
    requestedBy: SentBy,
  ) => Promise<void>;
  /** Studies C-STOREd to a partner's AE title, queued for it once stable (the PACS may use several associations). */
  partnerSends?: StableStudySends;
  /** The external AE title, under which the PACS queries the other hospitals' studies (timeline.externalAe). */
  virtualPacs?: { aeTitle: string; handlers: VirtualPacs };
  /** This node's name, the audit records' access point. */
  node: string;
  logger: Logger;
}

const informationModels: Readonly<Record<string, InformationModel>> = {
  [SopClass.PatientRootQueryRetrieveFind]: 'patient-root',
  [SopClass.PatientRootQueryRetrieveMove]: 'patient-root',
  [SopClass.PatientRootQueryRetrieveGet]: 'patient-root',
  [SopClass.StudyRootQueryRetrieveFind]: 'study-root',
  [SopClass.StudyRootQueryRetrieveMove]: 'study-root',
  [SopClass.StudyRootQueryRetrieveGet]: 'study-root',
};

/**
 * Maps DIMSE requests onto the study service. Every failure leaves here as a DIMSE status (PS3.7 C): ours carry
 * the status from the error catalog, anything unexpected is logged and answered as a processing failure.
 */
export function dimseHandlers(o: HandlerOptions): DimseHandlers {
  /**
   * One access per association and purpose: a DICOM peer is a system user, its AE title is who, its address and our
   * called AE title are where; a study stored over one association is recorded once, not once per instance.
   */
  const accesses = new Map<string, Map<AccessPurpose, PatientDataAccess>>();
  const access = (a: AssociationInfo, purpose: AccessPurpose): PatientDataAccess => {
    const ofAssociation = accesses.get(a.id) ?? new Map<AccessPurpose, PatientDataAccess>();
    accesses.set(a.id, ofAssociation);
    let found = ofAssociation.get(purpose);
    if (found === undefined) {
      const ae = a.callingAeTitle.trim();
      found = o.patientData.open({
        kind: 'dicom-peer',
        user: { id: `dicom:${ae}`, name: `DICOM peer ${ae}` },
        accessPoint: { node: o.node, ip: a.remoteAddress, aeTitle: a.calledAeTitle.trim() },
        purpose,
        authorization: 'DICOM allow-list (AE title + host)',
      });
      ofAssociation.set(purpose, found);
    }
    return found;
  };
  const patientAsked = (identifier: Dataset): AuditEvent['patient'] => {
    const id = identifier.string(Tag.PatientID)?.trim();
    return id !== undefined && id !== '' && !/[*?\\]/.test(id)
      ? { patientId: id, ...(/^\d{9}$/.test(id) ? { bsn: id } : {}) }
      : undefined;
  };

  const fail = (a: AssociationInfo, cause: unknown, what: string): never => {
    if (cause instanceof DimseFailure) throw cause;
    const err =
      cause instanceof DicomError
        ? new BeeldbrugError('IDENTIFIER_INVALID', `the identifier cannot be parsed: ${cause.message}`, { cause })
        : cause;
    const status = dimseStatusOf(err);
    if (err instanceof BeeldbrugError) {
      o.logger.warn({ association: a.id, code: err.code, status }, `${what} refused: ${err.message}`);
      throw new DimseFailure(status, err.message);
    }
    o.logger.error({ association: a.id, err }, `${what} failed`);
    throw new DimseFailure(status, 'processing failure; see the node log');
  };

  const modelOf = (sopClassUid: string): InformationModel => {
    const model = informationModels[sopClassUid];
    if (model === undefined)
      throw new DimseFailure(Status.SopClassNotSupported, `${sopClassUid} is not a supported query/retrieve model`);
    return model;
  };

  const partnerCalled = (a: AssociationInfo): string | undefined => {
    const called = a.calledAeTitle.trim();
    return (o.partnerDestinations ?? []).includes(called) ? called : undefined;
  };
  const refuseOnPartnerTitle = (a: AssociationInfo, what: string): void => {
    const partner = partnerCalled(a);
    if (partner !== undefined)
      fail(
        a,
        new BeeldbrugError(
          'SEND_NOT_ALLOWED',
          `${partner} stands for a partner hospital and only takes C-STORE; query ${what} under this node's own AE title`,
        ),
        what,
      );
  };

  /** The virtual PACS, when the association was called with its AE title. */
  const virtualCalled = (a: AssociationInfo): VirtualPacs | undefined =>
    o.virtualPacs !== undefined && a.calledAeTitle.trim() === o.virtualPacs.aeTitle
      ? o.virtualPacs.handlers
      : undefined;
  const refuseOnVirtualTitle = (a: AssociationInfo, what: string): void => {
    if (virtualCalled(a) !== undefined)
      fail(
        a,
        new BeeldbrugError(
          'SEND_NOT_ALLOWED',
          `${a.calledAeTitle.trim()} is the other hospitals' archive: it answers C-FIND, C-MOVE and C-GET; ${what} under this node's own AE title`,
        ),
        what,
      );
  };

  return {
    async echo() {},

    async store(a, req) {
      refuseOnVirtualTitle(a, 'C-STORE');
      const partner = partnerCalled(a);
      if (partner !== undefined && (o.sendToPartner === undefined || o.partnerSends === undefined))
        return fail(a, new BeeldbrugError('PARTNER_UNKNOWN', 'node-to-node exchange is not running'), 'C-STORE');
      try {
        const stored = await ingestStoreRequest(
          access(a, 'ingest'),
          req,
          { aeTitle: a.callingAeTitle, remoteAddress: a.remoteAddress },
          'C-STORE: study received from a DICOM peer',
        );
        if (partner !== undefined)
          o.partnerSends?.stored(partner, stored.studyInstanceUid, {
            callingAeTitle: a.callingAeTitle,
            remoteAddress: a.remoteAddress,
            associationId: a.id,
          });
        return Status.Success;
      } catch (err) {
        return fail(a, err, 'C-STORE');
      }
    },

    async *find(a, req) {
      refuseOnPartnerTitle(a, 'C-FIND');
      const model = modelOf(req.sopClassUid);
      let matches;
      try {
        const identifier = parseDataset(req.identifier, req.transferSyntaxUid);
        const level = identifier.string(Tag.QueryRetrieveLevel)?.trim() ?? '';
        const virtual = virtualCalled(a);
        matches =
          virtual !== undefined
            ? await virtual.find(a, identifier, model)
            : await access(a, 'query').find(
                identifier,
                model,
                (n) => `C-FIND at ${level} level: ${n} matches`,
                patientAsked(identifier),
              );
      } catch (err) {
        return fail(a, err, 'C-FIND');
      }
      for (const match of matches) {
        if (req.signal.aborted) return;
        yield writeDataset(match, req.transferSyntaxUid);
      }
    },

    async retrieve(a, req): Promise<RetrievePlan> {
      refuseOnPartnerTitle(a, req.kind === 'move' ? 'C-MOVE' : 'C-GET');
      const model = modelOf(req.sopClassUid);
      const virtual = virtualCalled(a);
      try {
        let destination: RetrievePlan['destination'];
        const wanted = (req.moveDestination ?? '').trim();
        if (
          virtual === undefined &&
          req.kind === 'move' &&
          o.sendToPartner !== undefined &&
          (o.partnerDestinations ?? []).includes(wanted)
        ) {
          const identifier = parseDataset(req.identifier, req.transferSyntaxUid);
          const instances = await access(a, 'retrieve').retrieve(identifier, model, `C-MOVE to partner ${wanted}`);
          // Studies named by UID are queued even when the node does not hold them: the outbox fetches them from the PACS.
          const named = (identifier.string(Tag.StudyInstanceUID) ?? '')
            .split('\\')
            .map((u) => u.trim())
            .filter((u) => u !== '');
          const studyUids = [...new Set([...instances.map((i) => i.stored.study.studyInstanceUid), ...named])];
          await o.sendToPartner(wanted, studyUids, {
            callingAeTitle: a.callingAeTitle,
            remoteAddress: a.remoteAddress,
            associationId: a.id,
          });
          o.logger.info(
            { association: a.id, destination: wanted, studies: studyUids.length, instances: instances.length },
            'C-MOVE to a partner: queued in the outbox',
          );
          // Each sub-operation counts as completed once its study is in the durable outbox; delivery shows there.
          return {
            handOff: { store: async () => Status.Success, close: async () => undefined },
            instances: instances.map(outgoingInstance),
          };
        }
        if (req.kind === 'move') {
          const d = o.moveDestinations.find((m) => m.aeTitle === wanted);
          if (d === undefined)
            throw new BeeldbrugError(
              'MOVE_DESTINATION_UNKNOWN',
              `move destination ${JSON.stringify(wanted)} is not a configured peer with a port`,
            );
          if (d.tls && o.tlsClient === undefined)
            throw new BeeldbrugError(
              'MOVE_DESTINATION_UNKNOWN',
              `move destination ${d.aeTitle} needs TLS but dimse.tlsClient is not configured`,
            );
          destination = {
            aeTitle: d.aeTitle,
            host: d.host,
            port: d.port,
            ...(d.tls && o.tlsClient !== undefined
              ? { tls: { ...o.tlsClient, ...(d.verifyPeer !== undefined ? { verifyPeer: d.verifyPeer } : {}) } }
              : {}),
          };
        }
        const identifier = parseDataset(req.identifier, req.transferSyntaxUid);
        const what = req.kind === 'move' ? `C-MOVE to ${wanted}` : 'C-GET';
        const instances =
          virtual !== undefined
            ? await virtual.retrieve(a, identifier, model, { signal: req.signal, what })
            : (await access(a, 'retrieve').retrieve(identifier, model, what)).map(outgoingInstance);
        return { ...(destination !== undefined ? { destination } : {}), instances };
      } catch (err) {
        return fail(a, err, req.kind === 'move' ? 'C-MOVE' : 'C-GET');
      }
    },

    ended(a, how) {
      accesses.delete(a.id);
      o.partnerSends?.ended(a.id, how);
    },
  };
}
