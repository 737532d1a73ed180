/**
 * Transfer syntaxes (PS3.5 section 10 and annex A; UIDs from PS3.6 annex A). Every encapsulated syntax encodes
 * the data set in explicit VR little endian; only the pixel data differs (PS3.5 A.4).
 */
export const TransferSyntax = {
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  EncapsulatedUncompressedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.98',
  DeflatedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.99',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
  JPEGBaseline8Bit: '1.2.840.10008.1.2.4.50',
  JPEGExtended12Bit: '1.2.840.10008.1.2.4.51',
  JPEGLossless: '1.2.840.10008.1.2.4.57',
  JPEGLosslessSV1: '1.2.840.10008.1.2.4.70',
  JPEGLSLossless: '1.2.840.10008.1.2.4.80',
  JPEGLSNearLossless: '1.2.840.10008.1.2.4.81',
  JPEG2000Lossless: '1.2.840.10008.1.2.4.90',
  JPEG2000: '1.2.840.10008.1.2.4.91',
  JPEG2000MCLossless: '1.2.840.10008.1.2.4.92',
  JPEG2000MC: '1.2.840.10008.1.2.4.93',
  MPEG2MPML: '1.2.840.10008.1.2.4.100',
  MPEG2MPHL: '1.2.840.10008.1.2.4.101',
  MPEG4HP41: '1.2.840.10008.1.2.4.102',
  MPEG4HP41BD: '1.2.840.10008.1.2.4.103',
  MPEG4HP422D: '1.2.840.10008.1.2.4.104',
  MPEG4HP423D: '1.2.840.10008.1.2.4.105',
  MPEG4HP42STEREO: '1.2.840.10008.1.2.4.106',
  HEVCMP51: '1.2.840.10008.1.2.4.107',
  HEVCM10P51: '1.2.840.10008.1.2.4.108',
  HTJ2KLossless: '1.2.840.10008.1.2.4.201',
  HTJ2KLosslessRPCL: '1.2.840.10008.1.2.4.202',
  HTJ2K: '1.2.840.10008.1.2.4.203',
  RLELossless: '1.2.840.10008.1.2.5',
} as const;
export type TransferSyntaxUid = (typeof TransferSyntax)[keyof typeof TransferSyntax];

export interface TransferSyntaxInfo {
  uid: string;
  name: string;
  explicitVr: boolean;
  littleEndian: boolean;
  deflated: boolean;
  encapsulated: boolean;
}

const infos = new Map<string, TransferSyntaxInfo>(
  Object.entries(TransferSyntax).map(([name, uid]) => {
    const native =
      uid === TransferSyntax.ImplicitVRLittleEndian ||
      uid === TransferSyntax.ExplicitVRLittleEndian ||
      uid === TransferSyntax.DeflatedExplicitVRLittleEndian ||
      uid === TransferSyntax.ExplicitVRBigEndian;
    const info: TransferSyntaxInfo = Object.freeze({
      uid,
      name,
      explicitVr: uid !== TransferSyntax.ImplicitVRLittleEndian,
      littleEndian: uid !== TransferSyntax.ExplicitVRBigEndian,
      deflated: uid === TransferSyntax.DeflatedExplicitVRLittleEndian,
      encapsulated: !native,
    });
    return [uid, info];
  }),
);

export function transferSyntaxInfo(uid: string): TransferSyntaxInfo | undefined {
  return infos.get(uid.replace(/[\0 ]+$/, ''));
}
