/**
 * C-STORE SCP (PS3.7 9.1.1, PS3.4 B.2.3): the handler gets the data set as it arrives; the response goes out only
 * when both the handler has finished (the node made the instance durable) and the whole data set was received.
 */
import { respond, type ScpContext, failureOf } from './scp-context.ts';
import { Status } from './status.ts';
import type { StoreRequest } from './types.ts';
import type { IncomingMessage } from './upper-layer.ts';

export async function serveStore(s: ScpContext, req: IncomingMessage): Promise<void> {
  const c = req.command;
  const data = req.data;
  let outcome: { status: number; errorComment?: string };
  if (data === undefined) {
    outcome = { status: Status.CannotUnderstand };
  } else if (s.cfg.options.handlers.store === undefined) {
    data.discard();
    outcome = { status: Status.SopClassNotSupported };
  } else {
    const store: StoreRequest = {
      messageId: c.messageId ?? 0,
      sopClassUid: c.affectedSopClassUid ?? '',
      sopInstanceUid: c.affectedSopInstanceUid ?? '',
      transferSyntaxUid: req.context.transferSyntax,
      priority: c.priority ?? 0,
      ...(c.moveOriginatorAeTitle !== undefined
        ? { moveOriginator: { aeTitle: c.moveOriginatorAeTitle, messageId: c.moveOriginatorMessageId ?? 0 } }
        : {}),
      data,
    };
    try {
      if (store.sopClassUid !== req.context.abstractSyntax)
        throw new Error('Affected SOP Class differs from the presentation context');
      outcome = { status: (await s.cfg.options.handlers.store(s.info, store)) ?? Status.Success };
    } catch (err) {
      outcome = failureOf(s, err);
    }
    data.discard();
  }
  await data?.finished;
  await respond(s, req, {
    ...outcome,
    ...(c.affectedSopInstanceUid !== undefined ? { affectedSopInstanceUid: c.affectedSopInstanceUid } : {}),
  });
}
