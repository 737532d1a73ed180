/**
 * The shared part of C-MOVE and C-GET SCP (PS3.4 C.4.2.3, C.4.3.3; PS3.7 9.1.3-9.1.4): ask the handler for the
 * instances, run one C-STORE sub-operation per instance, send a pending response with the sub-operation counts
 * after each one, and a final status: Success, B000 when any failed or warned, FE00 on C-CANCEL.
 */
import { DimseProtocolError } from './errors.ts';
import { encodeFailedUidList } from './failed-uid-list.ts';
import { respond, type ScpContext, failureOf } from './scp-context.ts';
import { DimseFailure, isFailure, isWarning, Status } from './status.ts';
import type { OutgoingInstance, RetrievePlan } from './types.ts';
import type { IncomingMessage } from './upper-layer.ts';

/** Carries C-STORE sub-operations: a sub-association (move) or the same association (get). */
export interface SubOperationTransport {
  store(instance: OutgoingInstance): Promise<number>;
  close(): Promise<void>;
}

export interface RetrieveKind {
  kind: 'move' | 'get';
  /** builds the transport for a plan; throws DimseFailure to end the request with that status */
  open(plan: RetrievePlan): Promise<SubOperationTransport>;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(4, '0')}`;
}

export async function serveRetrieve(s: ScpContext, req: IncomingMessage, k: RetrieveKind): Promise<void> {
  if (req.data === undefined) {
    await respond(s, req, { status: Status.CannotUnderstand });
    return;
  }
  const identifier = await req.data.collect(s.cfg.maxIdentifierBytes);
  const handler = s.cfg.options.handlers.retrieve;
  if (handler === undefined) {
    await respond(s, req, { status: Status.SopClassNotSupported });
    return;
  }
  let plan: RetrievePlan;
  let transport: SubOperationTransport;
  try {
    plan = await handler.call(s.cfg.options.handlers, s.info, {
      kind: k.kind,
      sopClassUid: req.context.abstractSyntax,
      transferSyntaxUid: req.context.transferSyntax,
      identifier,
      signal: s.signal,
      ...(req.command.moveDestination !== undefined ? { moveDestination: req.command.moveDestination } : {}),
    });
    transport = await k.open(plan);
  } catch (err) {
    if (s.ul.ended.aborted) return;
    await respond(s, req, failureOf(s, err, Status.UnableToProcess));
    return;
  }
  const total = plan.instances.length;
  let completed = 0;
  let failed = 0;
  let warning = 0;
  const failedUids: string[] = [];
  let cancelled = false;
  try {
    for (const [i, inst] of plan.instances.entries()) {
      if (s.signal.aborted) {
        cancelled = true;
        break;
      }
      let status: number;
      try {
        status = await transport.store(inst);
      } catch (err) {
        if (s.ul.ended.aborted) return;
        status = err instanceof DimseFailure ? err.status : Status.ProcessingFailure;
        s.log.warn(
          {
            reason: err instanceof DimseProtocolError ? err.code : 'SUB_OPERATION_FAILED',
            detail: err instanceof Error ? err.message : String(err),
          },
          'C-STORE sub-operation failed',
        );
      }
      if (isFailure(status)) {
        failed++;
        failedUids.push(inst.sopInstanceUid);
      } else if (isWarning(status)) warning++;
      else completed++;
      const remaining = total - i - 1;
      if (remaining > 0 && !s.signal.aborted)
        await respond(s, req, { status: Status.Pending, remaining, completed, failed, warning });
    }
  } finally {
    await transport.close().catch((err: unknown) => s.log.debug({ err }, 'closing the sub-operation transport failed'));
  }
  if (s.ul.ended.aborted) return;
  const done = completed + failed + warning;
  if (cancelled || (s.signal.aborted && done < total)) {
    failedUids.push(...plan.instances.slice(done).map((x) => x.sopInstanceUid));
    const status = Status.Cancel;
    s.log.info({ completed, failed, warning, remaining: total - done }, `C-${k.kind.toUpperCase()} cancelled`);
    await respond(
      s,
      req,
      { status, remaining: total - done, completed, failed, warning },
      encodeFailedUidList(failedUids, req.context.transferSyntax),
    );
    return;
  }
  const status = failed > 0 || warning > 0 ? Status.WarningSubOpsFailed : Status.Success;
  s.log.info({ completed, failed, warning, status: hex(status) }, `C-${k.kind.toUpperCase()} done`);
  await respond(
    s,
    req,
    { status, completed, failed, warning },
    failed > 0 ? encodeFailedUidList(failedUids, req.context.transferSyntax) : undefined,
  );
}
