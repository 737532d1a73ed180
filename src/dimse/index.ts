/**
 * Beeldbrug's DICOM upper layer (PS3.8) and DIMSE services (PS3.7) with DICOM TLS (PS3.15): a server that accepts
 * associations and calls typed async handlers, and a client Association for the SCU side.
 */
export { Status, DimseFailure, isFailure, isPending, isWarning } from './status.ts';
export { DimseProtocolError, DimseErrorCode, type RejectDetails } from './errors.ts';
export type {
  Admission,
  AssociationInfo,
  AssociationRequestInfo,
  ConnectOptions,
  DimseHandlers,
  FindRequest,
  OutgoingInstance,
  PeerAddress,
  RetrievePlan,
  RetrieveRequest,
  RetrieveResult,
  ServerOptions,
  StoreRequest,
  TlsOptions,
} from './types.ts';
export { DimseServer, DEFAULT_MAX_PDU } from './server.ts';
export { Association } from './client.ts';
export { Bcp195Ciphers } from './tls-options.ts';
export { CommandField, type Command, encodeCommand, decodeCommand } from './command-set.ts';
export {
  PduType,
  ContextResult,
  RejectResult,
  RejectSource,
  RejectReason,
  AbortSource,
  AbortReason,
  type AssociateRq,
  type AssociateAc,
  type AssociateRj,
  type ProposedContext,
  type AcceptedContext,
  type RoleSelection,
} from './pdu-types.ts';
export {
  encodeAssociateRq,
  encodeAssociateAc,
  encodeAssociateRj,
  encodeAbort,
  encodeReleaseRq,
  encodeReleaseRp,
  encodePDataHeader,
  decodeControlPdu,
} from './pdu-codec.ts';
export { PduReader, type PduSink } from './pdu-reader.ts';
export { negotiate, chooseTransferSyntax, type NegotiatedContext } from './presentation-context.ts';
export {
  ApplicationContextName,
  ImplementationClassUid,
  ImplementationVersionName,
  DefaultTransferSyntaxes,
  defaultAcceptsAbstractSyntax,
  QueryRetrieveSopClasses,
  Uid,
} from './uids.ts';
