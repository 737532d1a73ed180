import { encodeFileMeta } from '../dicom/index.ts';
import type { StoreRequest } from '../dimse/index.ts';
import type { IngestOutcome, PatientDataAccess } from '../studies/index.ts';

/**
 * Stores what a DICOM peer sends with C-STORE, on the SCP side or as a C-GET sub-operation: the file meta names the
 * sending AE title, and the instance is durable before the caller answers the peer.
 */
export function ingestStoreRequest(
  access: PatientDataAccess,
  req: StoreRequest,
  from: { aeTitle: string; remoteAddress: string },
  description: string,
): Promise<IngestOutcome> {
  return access.ingest(
    {
      sopClassUid: req.sopClassUid,
      sopInstanceUid: req.sopInstanceUid,
      transferSyntaxUid: req.transferSyntaxUid,
      fileMeta: encodeFileMeta({
        sopClassUid: req.sopClassUid,
        sopInstanceUid: req.sopInstanceUid,
        transferSyntaxUid: req.transferSyntaxUid,
        sourceApplicationEntityTitle: from.aeTitle,
      }),
      data: req.data,
      provenance: {
        receivedAt: new Date().toISOString(),
        via: 'dimse',
        callingAeTitle: from.aeTitle,
        remoteAddress: from.remoteAddress,
      },
    },
    description,
  );
}
