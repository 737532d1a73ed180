/**
 * Protocol-level failures of the DICOM upper layer (PS3.8) and DIMSE message framing (PS3.7), each with a stable
 * code: the server logs the code as the reason for an A-ABORT, the client rejects with it.
 */
export const DimseErrorCode = {
  PDU_TOO_LARGE: 'PDU_TOO_LARGE',
  PDU_TRUNCATED: 'PDU_TRUNCATED',
  PDU_ZERO_LENGTH: 'PDU_ZERO_LENGTH',
  PDU_BAD_LENGTH: 'PDU_BAD_LENGTH',
  UNKNOWN_PDU_TYPE: 'UNKNOWN_PDU_TYPE',
  UNEXPECTED_PDU: 'UNEXPECTED_PDU',
  INVALID_PDU_ITEM: 'INVALID_PDU_ITEM',
  INVALID_PDU_PARAMETER: 'INVALID_PDU_PARAMETER',
  UNKNOWN_PRESENTATION_CONTEXT: 'UNKNOWN_PRESENTATION_CONTEXT',
  UNEXPECTED_PDV: 'UNEXPECTED_PDV',
  COMMAND_TOO_LARGE: 'COMMAND_TOO_LARGE',
  COMMAND_UNPARSEABLE: 'COMMAND_UNPARSEABLE',
  IDENTIFIER_TOO_LARGE: 'IDENTIFIER_TOO_LARGE',
  ASSOCIATION_REJECTED: 'ASSOCIATION_REJECTED',
  ASSOCIATION_ABORTED: 'ASSOCIATION_ABORTED',
  CONNECTION_CLOSED: 'CONNECTION_CLOSED',
  CONNECT_FAILED: 'CONNECT_FAILED',
  TLS_FAILED: 'TLS_FAILED',
  PEER_CERTIFICATE_MISMATCH: 'PEER_CERTIFICATE_MISMATCH',
  TIMEOUT: 'TIMEOUT',
  NO_PRESENTATION_CONTEXT: 'NO_PRESENTATION_CONTEXT',
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
} as const;
export type DimseErrorCode = (typeof DimseErrorCode)[keyof typeof DimseErrorCode];

/** Details of an A-ASSOCIATE-RJ (PS3.8 9.3.4): result 1 permanent / 2 transient, source, reason/diag. */
export interface RejectDetails {
  result: number;
  source: number;
  reason: number;
}

export class DimseProtocolError extends Error {
  readonly code: DimseErrorCode;
  readonly reject?: RejectDetails;

  constructor(code: DimseErrorCode, message: string, options?: { cause?: unknown; reject?: RejectDetails }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'DimseProtocolError';
    this.code = code;
    if (options?.reject !== undefined) this.reject = options.reject;
  }
}
