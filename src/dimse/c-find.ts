/**
 * C-FIND SCP (PS3.7 9.1.2, PS3.4 C.4.1): one pending response per match with its identifier, then the final
 * status; C-CANCEL (or the end of the association) stops the handler's iteration.
 */
import { respond, type ScpContext, failureOf } from './scp-context.ts';
import { Status } from './status.ts';
import type { IncomingMessage } from './upper-layer.ts';

export async function serveFind(s: ScpContext, req: IncomingMessage): Promise<void> {
  if (req.data === undefined) {
    await respond(s, req, { status: Status.CannotUnderstand });
    return;
  }
  const identifier = await req.data.collect(s.cfg.maxIdentifierBytes);
  const handler = s.cfg.options.handlers.find;
  if (handler === undefined) {
    await respond(s, req, { status: Status.SopClassNotSupported });
    return;
  }
  let outcome: { status: number; errorComment?: string } = { status: Status.Success };
  let matches = 0;
  try {
    const it = handler.call(s.cfg.options.handlers, s.info, {
      sopClassUid: req.context.abstractSyntax,
      transferSyntaxUid: req.context.transferSyntax,
      identifier,
      signal: s.signal,
    });
    for await (const match of it) {
      if (s.signal.aborted) break;
      await respond(s, req, { status: Status.Pending }, match);
      matches++;
    }
    if (s.signal.aborted) outcome = { status: Status.Cancel };
  } catch (err) {
    outcome = s.signal.aborted ? { status: Status.Cancel } : failureOf(s, err, Status.UnableToProcess);
  }
  if (s.ul.ended.aborted) return;
  s.log.info({ matches, status: `0x${outcome.status.toString(16).padStart(4, '0')}` }, 'C-FIND done');
  await respond(s, req, outcome);
}
