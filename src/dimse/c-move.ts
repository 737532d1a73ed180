/**
 * C-MOVE SCP (PS3.4 C.4.2): C-STORE sub-operations go over a new association to the destination the handler
 * resolved from the Move Destination AE title, carrying Move Originator AE title and Message ID (PS3.7 9.1.1.1).
 */
import { TransferSyntax } from '../dicom/index.ts';
import { Association } from './client.ts';
import { serveRetrieve, type SubOperationTransport } from './retrieve-suboperations.ts';
import { proposableFor } from './transfer-syntax-conversion.ts';
import type { ScpContext } from './scp-context.ts';
import { DimseFailure, Status } from './status.ts';
import type { OutgoingInstance, RetrievePlan } from './types.ts';
import type { IncomingMessage } from './upper-layer.ts';

/**
 * One presentation context per (SOP class, stored transfer syntax) offering that syntax alone, so an acceptor that
 * takes it cannot pick another (DCMTK's storescp prefers deflated when offered); and per SOP class one more with the
 * uncompressed syntaxes every acceptor takes, for what is stored in a syntax it refuses (rewritten or decoded).
 */
export function contextsFor(
  instances: readonly OutgoingInstance[],
): { abstractSyntax: string; transferSyntaxes: string[] }[] {
  const seen = new Set<string>();
  const out: { abstractSyntax: string; transferSyntaxes: string[] }[] = [];
  const fallback = (i: OutgoingInstance): string[] =>
    proposableFor(i.transferSyntaxUid).filter((ts) => UNCOMPRESSED_FALLBACK.includes(ts));
  for (const i of instances) {
    for (const [key, transferSyntaxes] of [
      [`${i.sopClassUid}|${i.transferSyntaxUid}`, [i.transferSyntaxUid]],
      [`${i.sopClassUid}|fallback`, fallback(i)],
    ] as const) {
      if (seen.has(key) || transferSyntaxes.length === 0 || out.length >= 128) continue;
      seen.add(key);
      out.push({ abstractSyntax: i.sopClassUid, transferSyntaxes: [...transferSyntaxes] });
    }
  }
  return out;
}

/** What every acceptor takes (PS3.5 10.1: implicit VR little endian is the default for all). */
const UNCOMPRESSED_FALLBACK: readonly string[] = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
];

export async function serveMove(s: ScpContext, req: IncomingMessage): Promise<void> {
  await serveRetrieve(s, req, {
    kind: 'move',
    open: async (plan: RetrievePlan): Promise<SubOperationTransport> => {
      if (plan.handOff !== undefined) return plan.handOff;
      const dest = plan.destination;
      if (dest === undefined)
        throw new DimseFailure(
          Status.MoveDestinationUnknown,
          `move destination ${req.command.moveDestination ?? ''} unknown`,
        );
      const noop: SubOperationTransport = {
        store: () => Promise.resolve(Status.ProcessingFailure),
        close: () => Promise.resolve(),
      };
      if (plan.instances.length === 0) return noop;
      let sub: Association;
      try {
        sub = await Association.connect({
          host: dest.host,
          port: dest.port,
          // The AE the requester called stores to it: with a second AE title (the virtual PACS), the PACS expects
          // the C-STOREs from the AE it asked, and may accept only that one.
          callingAeTitle: s.info.calledAeTitle.trim(),
          calledAeTitle: dest.aeTitle,
          presentationContexts: contextsFor(plan.instances),
          logger: s.log,
          ...(dest.tls !== undefined ? { tls: dest.tls } : {}),
        });
      } catch (err) {
        s.log.warn(
          {
            reason: 'MOVE_DESTINATION_UNREACHABLE',
            destination: dest.aeTitle,
            detail: err instanceof Error ? err.message : String(err),
          },
          'cannot open the sub-association',
        );
        throw new DimseFailure(
          Status.OutOfResourcesSubOps,
          'unable to perform sub-operations: destination not reachable',
        );
      }
      const originator = { aeTitle: s.info.callingAeTitle, messageId: req.command.messageId ?? 0 };
      return {
        store: async (inst) =>
          sub.store({
            sopClassUid: inst.sopClassUid,
            sopInstanceUid: inst.sopInstanceUid,
            transferSyntaxUid: inst.transferSyntaxUid,
            data: await inst.open(),
            moveOriginator: originator,
          }),
        close: () => sub.release(),
      };
    },
  });
}
