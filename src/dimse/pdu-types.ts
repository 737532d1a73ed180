/**
 * Upper-layer PDU structures (PS3.8 9.3): the types, the items of A-ASSOCIATE-RQ/AC and the reject/abort codes.
 */
export const PduType = {
  AssociateRq: 0x01,
  AssociateAc: 0x02,
  AssociateRj: 0x03,
  PData: 0x04,
  ReleaseRq: 0x05,
  ReleaseRp: 0x06,
  Abort: 0x07,
} as const;

export const ItemType = {
  ApplicationContext: 0x10,
  PresentationContextRq: 0x20,
  PresentationContextAc: 0x21,
  AbstractSyntax: 0x30,
  TransferSyntax: 0x40,
  UserInformation: 0x50,
  MaximumLength: 0x51,
  ImplementationClassUid: 0x52,
  AsyncOperationsWindow: 0x53,
  RoleSelection: 0x54,
  ImplementationVersionName: 0x55,
} as const;

/** Presentation context results (PS3.8 9.3.3.2). */
export const ContextResult = {
  Acceptance: 0,
  UserRejection: 1,
  NoReason: 2,
  AbstractSyntaxNotSupported: 3,
  TransferSyntaxesNotSupported: 4,
} as const;

/** A-ASSOCIATE-RJ fields (PS3.8 9.3.4). */
export const RejectResult = { Permanent: 1, Transient: 2 } as const;
export const RejectSource = { ServiceUser: 1, ServiceProviderAcse: 2, ServiceProviderPresentation: 3 } as const;
export const RejectReason = {
  NoReasonGiven: 1,
  ApplicationContextNotSupported: 2,
  CallingAeNotRecognized: 3,
  CalledAeNotRecognized: 7,
  /** with source ServiceProviderAcse */
  ProtocolVersionNotSupported: 2,
  /** with source ServiceProviderPresentation */
  TemporaryCongestion: 1,
  LocalLimitExceeded: 2,
} as const;

/** A-ABORT fields (PS3.8 9.3.8). */
export const AbortSource = { ServiceUser: 0, ServiceProvider: 2 } as const;
export const AbortReason = {
  NotSpecified: 0,
  UnrecognizedPdu: 1,
  UnexpectedPdu: 2,
  UnrecognizedPduParameter: 4,
  UnexpectedPduParameter: 5,
  InvalidPduParameterValue: 6,
} as const;

export interface ProposedContext {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

export interface AcceptedContext {
  id: number;
  result: number;
  /** present when result is Acceptance */
  transferSyntax: string;
}

export interface RoleSelection {
  sopClassUid: string;
  scuRole: boolean;
  scpRole: boolean;
}

export interface UserInformation {
  /** 0 = no limit (PS3.8 D.1) */
  maxPduLength: number;
  implementationClassUid: string;
  implementationVersionName?: string;
  roleSelections: RoleSelection[];
}

export interface AssociateRq {
  protocolVersion: number;
  calledAeTitle: string;
  callingAeTitle: string;
  applicationContext: string;
  contexts: ProposedContext[];
  userInfo: UserInformation;
}

export interface AssociateAc {
  protocolVersion: number;
  calledAeTitle: string;
  callingAeTitle: string;
  applicationContext: string;
  contexts: AcceptedContext[];
  userInfo: UserInformation;
}

export interface AssociateRj {
  result: number;
  source: number;
  reason: number;
}

export interface AbortPdu {
  source: number;
  reason: number;
}

/** A PDU that the reader hands over whole (everything except P-DATA-TF, which is streamed as PDV fragments). */
export type ControlPdu =
  | { type: typeof PduType.AssociateRq; rq: AssociateRq }
  | { type: typeof PduType.AssociateAc; ac: AssociateAc }
  | { type: typeof PduType.AssociateRj; rj: AssociateRj }
  | { type: typeof PduType.ReleaseRq }
  | { type: typeof PduType.ReleaseRp }
  | { type: typeof PduType.Abort; abort: AbortPdu };
