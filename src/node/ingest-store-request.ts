import { encodeFileMeta } from '../dicom/index.ts';
import type { StoreRequest } from '../dimse/index.ts';
import type { AccessContext, IngestOutcome, StudyService } from '../studies/index.ts';

/**
 * Stores what a DICOM peer sends with C-STORE, on the SCP side or as a C-GET sub-operation: the file meta names the
 * sending AE title, and the instance is durable before the caller answers the peer.
 */
export function ingestStoreRequest(
  studies: StudyService,
  ctx: AccessContext,
  req: StoreRequest,
  from: { aeTitle: string; remoteAddress: string },
): Promise<IngestOutcome> {
  return studies.ingest(ctx, {
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
  });
}
