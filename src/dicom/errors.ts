/** Stable codes for every way a DICOM byte stream can be rejected (PS3.5 section 7 encoding rules). */
export const DicomErrorCode = {
  TRUNCATED: 'TRUNCATED',
  BAD_VR: 'BAD_VR',
  TOO_DEEP: 'TOO_DEEP',
  LENGTH_EXCEEDS_DATA: 'LENGTH_EXCEEDS_DATA',
  UNTERMINATED_ITEM: 'UNTERMINATED_ITEM',
  ELEMENT_TOO_LARGE: 'ELEMENT_TOO_LARGE',
  NOT_PART10: 'NOT_PART10',
  BAD_META: 'BAD_META',
  UNSUPPORTED_TRANSFER_SYNTAX: 'UNSUPPORTED_TRANSFER_SYNTAX',
  HEADER_TOO_LARGE: 'HEADER_TOO_LARGE',
  BAD_ITEM: 'BAD_ITEM',
  ODD_LENGTH: 'ODD_LENGTH',
  TOO_MANY_ITEMS: 'TOO_MANY_ITEMS',
  BAD_VALUE: 'BAD_VALUE',
} as const;
export type DicomErrorCode = (typeof DicomErrorCode)[keyof typeof DicomErrorCode];

export class DicomError extends Error {
  readonly code: DicomErrorCode;
  /** Byte offset in the parsed buffer (or stream) where the problem was found. */
  readonly offset?: number;

  constructor(code: DicomErrorCode, message: string, offset?: number) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`);
    this.name = 'DicomError';
    this.code = code;
    if (offset !== undefined) this.offset = offset;
  }
}

/**
 * The input stopped before a structure did. Raised only when the missing bytes lie past the end of everything we
 * were given, so an incremental reader knows that more data could still make the parse succeed.
 */
export class IncompleteDataError extends DicomError {
  /** Total number of bytes from the start of the input that would at least be needed (0 if unknown). */
  readonly needed: number;

  constructor(code: DicomErrorCode, message: string, offset: number, needed: number) {
    super(code, message, offset);
    this.needed = needed;
  }
}
