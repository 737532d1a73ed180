/** C-ECHO SCP (PS3.7 9.1.5, PS3.4 Annex A Verification). */
import { respond, type ScpContext, failureOf } from './scp-context.ts';
import { Status } from './status.ts';
import type { IncomingMessage } from './upper-layer.ts';

export async function serveEcho(s: ScpContext, req: IncomingMessage): Promise<void> {
  let outcome: { status: number; errorComment?: string } = { status: Status.Success };
  try {
    await s.cfg.options.handlers.echo?.(s.info);
  } catch (err) {
    outcome = failureOf(s, err);
  }
  await respond(s, req, outcome);
}
