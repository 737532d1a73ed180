/**
 * Runs the DIMSE requests of one accepted association (PS3.7 9.1, 9.3). Requests are served one at a time in
 * arrival order (no asynchronous operations window is negotiated, PS3.7 D.3.3.3); C-CANCEL bypasses the queue and
 * aborts the signal of the operation it names. Every failure ends in a response or an A-ABORT, never a hang.
 */
import { serveEcho } from './c-echo.ts';
import { serveFind } from './c-find.ts';
import { serveGet } from './c-get.ts';
import { serveMove } from './c-move.ts';
import { serveStore } from './c-store.ts';
import { CommandField } from './command-set.ts';
import { DimseProtocolError } from './errors.ts';
import { respond, type ScpContext } from './scp-context.ts';
import type { ResolvedServerOptions } from './types.ts';
import { Status } from './status.ts';
import type { AssociationInfo } from './types.ts';
import type { IncomingMessage, UpperLayer } from './upper-layer.ts';

export class ScpSession {
  private readonly ul: UpperLayer;
  private readonly info: AssociationInfo;
  private readonly cfg: ResolvedServerOptions;
  private queue: Promise<void> = Promise.resolve();
  private readonly active = new Map<number, AbortController>();

  constructor(ul: UpperLayer, info: AssociationInfo, cfg: ResolvedServerOptions) {
    this.ul = ul;
    this.info = info;
    this.cfg = cfg;
  }

  start(): void {
    this.ul.onRequest = (msg) => this.onRequest(msg);
    // After the last queued operation has answered, so the application sees everything the association carried.
    void this.ul.closed
      .then(() => this.queue)
      .then(() => this.cfg.options.handlers.ended?.(this.info, this.ul.released ? 'released' : 'aborted'))
      .catch((err: unknown) => this.ul.log.error({ err }, 'association end handler failed'));
  }

  private onRequest(msg: IncomingMessage): void {
    const c = msg.command;
    if (c.commandField === CommandField.CCancelRq) {
      msg.data?.discard();
      const target = this.active.get(c.messageIdBeingRespondedTo ?? -1);
      this.ul.log.info({ messageId: c.messageIdBeingRespondedTo, known: target !== undefined }, 'C-CANCEL received');
      target?.abort(new Error('C-CANCEL'));
      return;
    }
    const ctrl = new AbortController();
    const id = c.messageId ?? 0;
    this.active.set(id, ctrl);
    const signal = AbortSignal.any([ctrl.signal, this.ul.ended]);
    const s: ScpContext = {
      ul: this.ul,
      info: this.info,
      cfg: this.cfg,
      log: this.ul.log.child({ messageId: id }),
      signal,
    };
    this.queue = this.queue
      .then(() => this.run(s, msg))
      .catch((err: unknown) => this.failed(s, err))
      .finally(() => this.active.delete(id));
  }

  private async run(s: ScpContext, msg: IncomingMessage): Promise<void> {
    if (this.ul.ended.aborted) {
      msg.data?.discard();
      return;
    }
    switch (msg.command.commandField) {
      case CommandField.CEchoRq:
        return serveEcho(s, msg);
      case CommandField.CStoreRq:
        return serveStore(s, msg);
      case CommandField.CFindRq:
        return serveFind(s, msg);
      case CommandField.CMoveRq:
        return serveMove(s, msg);
      case CommandField.CGetRq:
        return serveGet(s, msg);
      default:
        s.log.warn(
          { reason: 'UNRECOGNIZED_OPERATION', commandField: msg.command.commandField },
          'unsupported DIMSE command',
        );
        msg.data?.discard();
        await msg.data?.finished;
        return respond(s, msg, { status: Status.UnrecognizedOperation });
    }
  }

  private failed(s: ScpContext, err: unknown): void {
    if (this.ul.ended.aborted) {
      s.log.debug({ err }, 'operation ended with the association');
      return;
    }
    if (err instanceof DimseProtocolError) {
      this.ul.abortWith(err);
      return;
    }
    s.log.error({ err }, 'operation failed unexpectedly');
    this.ul.abortWith(new DimseProtocolError('ASSOCIATION_ABORTED', 'internal error'));
  }
}
