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

/** Any handler error becomes a status: DimseFailure carries its own; anything else is a processing failure (logged). */
export function statusOf(s: ScpContext, err: unknown, fallback: number = Status.ProcessingFailure): number {
  if (err instanceof DimseFailure) {
    s.log.info(
      { status: `0x${err.status.toString(16).padStart(4, '0')}`, detail: err.message },
      'handler returned a failure status',
    );
    return err.status;
  }
  s.log.error({ err }, 'handler failed');
  return fallback;
}
