/**
 * DIMSE status codes (PS3.7 Annex C, PS3.4 Annex B/C service-specific codes). Handlers return or throw these;
 * the categories below follow PS3.7 C.1 (pending FFxx, cancel FE00, warnings 0001/0107/0116/Bxxx, else failure).
 */
export const Status = {
  Success: 0x0000,
  Pending: 0xff00,
  PendingWarning: 0xff01,
  Cancel: 0xfe00,
  OutOfResources: 0xa700,
  OutOfResourcesMatches: 0xa701,
  OutOfResourcesSubOps: 0xa702,
  MoveDestinationUnknown: 0xa801,
  DataSetDoesNotMatchSopClass: 0xa900,
  IdentifierDoesNotMatchSopClass: 0xa900,
  CannotUnderstand: 0xc000,
  UnableToProcess: 0xc001,
  SopClassNotSupported: 0x0122,
  ProcessingFailure: 0x0110,
  DuplicateSopInstance: 0x0111,
  NoSuchSopInstance: 0x0112,
  NoSuchSopClass: 0x0118,
  InvalidArgumentValue: 0x0115,
  NotAuthorized: 0x0124,
  DuplicateInvocation: 0x0210,
  UnrecognizedOperation: 0x0211,
  MistypedArgument: 0x0212,
  ResourceLimitation: 0x0213,
  WarningSubOpsFailed: 0xb000,
  WarningCoercion: 0xb000,
  WarningElementsDiscarded: 0xb006,
  WarningDataSetMismatch: 0xb007,
} as const;

export function isPending(status: number): boolean {
  return status === Status.Pending || status === Status.PendingWarning;
}

export function isWarning(status: number): boolean {
  return status === 0x0001 || status === 0x0107 || status === 0x0116 || (status & 0xf000) === 0xb000;
}

export function isFailure(status: number): boolean {
  return status !== Status.Success && status !== Status.Cancel && !isPending(status) && !isWarning(status);
}

/** Thrown by handlers (and by the SCU on failure responses) to carry a DIMSE status. */
export class DimseFailure extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'DimseFailure';
    this.status = status;
  }
}
