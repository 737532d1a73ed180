/** What every SCP service function gets, and the response helper (PS3.7 9.3: a response echoes the request's ids). */
import type { Logger } from 'pino';
import { type Command, NoDataSet, DataSetPresent } from './command-set.ts';
import type { ResolvedServerOptions } from './types.ts';
import { DimseFailure, Status } from './status.ts';
import type { AssociationInfo } from './types.ts';
import type { IncomingMessage, UpperLayer } from './upper-layer.ts';

export interface ScpContext {
  ul: UpperLayer;
  info: AssociationInfo;
  cfg: ResolvedServerOptions;
  log: Logger;
  /** aborted on C-CANCEL for this request or when the association ends */
  signal: AbortSignal;
}

export async function respond(
  s: ScpContext,
  req: IncomingMessage,
  fields: Partial<Command> & { status: number },
  data?: Buffer,
): Promise<void> {
  const c = req.command;
  const rsp: Command = {
    commandField: c.commandField | 0x8000,
    messageIdBeingRespondedTo: c.messageId ?? 0,
    dataSetType: data !== undefined ? DataSetPresent : NoDataSet,
    ...(c.affectedSopClassUid !== undefined ? { affectedSopClassUid: c.affectedSopClassUid } : {}),
    ...fields,
  };
  await s.ul.send(req.context.id, rsp, data);
}

/**
 * Any handler error becomes a status: DimseFailure carries its own, and its reason goes to the peer as Error Comment
 * (PS3.7 C.4, at most 64 characters, ISO 646) so the PACS operator reads why; anything else is a processing failure
 * (logged here, not told).
 */
export function failureOf(
  s: ScpContext,
  err: unknown,
  fallback: number = Status.ProcessingFailure,
): { status: number; errorComment?: string } {
  if (err instanceof DimseFailure) {
    s.log.info(
      { status: `0x${err.status.toString(16).padStart(4, '0')}`, detail: err.message },
      'handler returned a failure status',
    );
    const comment = err.message
      .replace(/[^\x20-\x5b\x5d-\x7e]/g, '?')
      .slice(0, 64)
      .trimEnd();
    return { status: err.status, ...(comment !== '' ? { errorComment: comment } : {}) };
  }
  s.log.error({ err }, 'handler failed');
  return { status: fallback };
}
