/** The public shapes of the DIMSE layer: what handlers receive and return (PS3.4 Annex B/C, PS3.7 9-10). */
import type { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { TlsOptions } from './tls-options.ts';

export type { TlsOptions };

export interface PeerAddress {
  aeTitle: string;
  host: string;
  port: number;
  tls?: TlsOptions;
}

export interface AssociationInfo {
  id: string;
  callingAeTitle: string;
  calledAeTitle: string;
  remoteAddress: string;
  remotePort: number;
  tls: boolean;
  peerCertificateSubject?: string;
}

export interface StoreRequest {
  messageId: number;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  priority: number;
  moveOriginator?: { aeTitle: string; messageId: number };
  /** data set bytes, no file meta, as they arrive */
  data: AsyncIterable<Buffer>;
}

export interface FindRequest {
  sopClassUid: string;
  transferSyntaxUid: string;
  identifier: Buffer;
  /** aborted on C-CANCEL or association end */
  signal: AbortSignal;
}

export interface RetrieveRequest {
  kind: 'move' | 'get';
  sopClassUid: string;
  transferSyntaxUid: string;
  identifier: Buffer;
  moveDestination?: string;
  signal: AbortSignal;
}

export interface OutgoingInstance {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  /** data set bytes without file meta */
  open(): Promise<NodeJS.ReadableStream | AsyncIterable<Buffer>>;
}

export interface RetrievePlan {
  /** required for move: where the server opens the sub-association */
  destination?: PeerAddress;
  /**
   * For move, instead of a destination: the application takes each instance itself (a gateway that queues it for a
   * remote site) and answers each sub-operation's status; no sub-association is opened.
   */
  handOff?: { store(instance: OutgoingInstance): Promise<number>; close(): Promise<void> };
  instances: readonly OutgoingInstance[];
}

export interface RetrieveResult {
  status: number;
  completed: number;
  failed: number;
  warning: number;
  remaining: number;
  failedSopInstanceUids: string[];
}

export interface DimseHandlers {
  echo?(a: AssociationInfo): Promise<void>;
  /** return a status; void = Success; throw DimseFailure for failures */
  store?(a: AssociationInfo, req: StoreRequest): Promise<number | void>;
  /** each match's identifier encoded in req.transferSyntaxUid */
  find?(a: AssociationInfo, req: FindRequest): AsyncIterable<Buffer>;
  retrieve?(a: AssociationInfo, req: RetrieveRequest): Promise<RetrievePlan>;
  /** After the association's last operation: `released` for an orderly A-RELEASE, else it was aborted or cut off. */
  ended?(a: AssociationInfo, how: 'released' | 'aborted'): void;
}

export interface AssociationRequestInfo {
  callingAeTitle: string;
  calledAeTitle: string;
  remoteAddress: string;
  tls: boolean;
  peerCertificateSubject?: string;
  /** On a TLS port: the client certificate, verified against the listener's CA (intermediates sent by the peer). */
  peerCertificate?: X509Certificate;
}

export type Admission =
  | { accept: true }
  | {
      accept: false;
      reason: 'calling-ae-not-recognized' | 'called-ae-not-recognized' | 'no-reason';
      detail: string;
      /** for the log line, when more precise than the reason */ code?: string;
    };

export interface ServerOptions {
  aeTitle: string;
  /** allow-list decision, made before A-ASSOCIATE-AC; reject => A-ASSOCIATE-RJ (PS3.8 9.3.4) + log */
  admit(req: AssociationRequestInfo): Admission;
  handlers: DimseHandlers;
  /** default: Verification, storage SOP classes, patient/study root Q/R find/move/get */
  acceptsAbstractSyntax?(uid: string): boolean;
  /** accepted, in our preference order */
  transferSyntaxes?: readonly string[];
  maxPduLength?: number;
  maxAssociations?: number;
  timeouts?: { artimMs?: number; idleMs?: number };
  limits?: { maxCommandBytes?: number; maxIdentifierBytes?: number };
  /** when set, the port speaks DICOM TLS only */
  tls?: TlsOptions;
  logger: Logger;
  /** told of each association asked for: accepted, or rejected with the code its log line names (for metrics) */
  onAssociation?(outcome: { accepted: true } | { accepted: false; code: string }): void;
}

export interface ConnectOptions {
  host: string;
  port: number;
  callingAeTitle: string;
  calledAeTitle: string;
  tls?: TlsOptions;
  presentationContexts: readonly { abstractSyntax: string; transferSyntaxes: readonly string[]; scpRole?: boolean }[];
  maxPduLength?: number;
  timeouts?: { connectMs?: number; responseMs?: number };
  logger?: Logger;
}

/** Options with defaults applied; frozen. */
export interface ResolvedServerOptions {
  aeTitle: string;
  options: ServerOptions;
  maxPduLength: number;
  maxAssociations: number;
  artimMs: number;
  idleMs: number;
  maxCommandBytes: number;
  maxIdentifierBytes: number;
  transferSyntaxes: readonly string[];
  acceptsAbstractSyntax(uid: string): boolean;
}
