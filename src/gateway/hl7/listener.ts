import { randomBytes } from 'node:crypto';
import type { Logger } from '../../log/index.ts';
import type { Prefetcher } from '../prefetch.ts';
import { Hl7Error, Hl7Message } from './message.ts';
import { type MllpOptions, MllpServer } from './mllp-server.ts';
import { orderOf } from './order.ts';

export interface Hl7ListenerOptions {
  allowed(remoteAddress: string): boolean;
  tls?: MllpOptions['tls'];
  prefetcher: Prefetcher;
  logger: Logger;
}

/** Orders are small; a megabyte is a message no RIS sends for one examination. */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** A RIS keeps its connection open between messages; one idle for ten minutes is closed (it reconnects). */
const IDLE_MS = 10 * 60_000;

/** The acknowledgement for bytes that are not an HL7 message at all (no MSH to answer from). */
function bareAck(reason: string): string {
  const ts = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `MSH|^~\\&|BEELDBRUG||||${ts}||ACK|${randomBytes(8).toString('hex')}|P|2.5\rMSA|AE||${reason.replace(/[|^~\\&\r\n]/g, ' ').slice(0, 80)}\r`;
}

/**
 * The HL7 v2 listener: an order (ORM^O01, OMI^O23) or appointment (SIU^S12) is acknowledged at once (AA) and its
 * priors are prefetched after; a message of another type is rejected (AR), one that cannot be read is an error (AE).
 * The application log names the message type, control id and what was prefetched, never the patient.
 */
export function hl7Listener(o: Hl7ListenerOptions): MllpServer {
  return new MllpServer({
    allowed: o.allowed,
    ...(o.tls !== undefined ? { tls: o.tls } : {}),
    maxMessageBytes: MAX_MESSAGE_BYTES,
    idleMs: IDLE_MS,
    logger: o.logger,
    handle: async (bytes, from) => {
      let m: Hl7Message;
      try {
        m = Hl7Message.parse(bytes.toString('latin1'));
        // MSH-18 names the character set; UTF-8 is read again as such (the delimiters are ASCII either way).
        if (/UTF-8/i.test(m.msh.get(18))) m = Hl7Message.parse(bytes.toString('utf8'));
      } catch (err) {
        if (!(err instanceof Hl7Error)) throw err;
        o.logger.warn({ remote: from.remoteAddress, reason: err.message }, 'HL7 message refused: cannot be read');
        return bareAck(err.message);
      }
      const controlId = randomBytes(8).toString('hex');
      const found = orderOf(m);
      const { code, trigger } = m.type;
      const log = { remote: from.remoteAddress, type: `${code}^${trigger}`, controlId: m.controlId };
      if (!found.ok) {
        const taken = ['ORM', 'OMI', 'SIU'].includes(code);
        o.logger.warn({ ...log, reason: found.reason }, `HL7 message ${taken ? 'not understood' : 'rejected'}`);
        return m.ack(taken ? 'AE' : 'AR', found.reason, { controlId });
      }
      const order = found.order;
      o.logger.info(log, 'HL7 order received');
      void o.prefetcher
        .prefetch(order, from)
        .then((r) =>
          o.logger.info(
            {
              ...log,
              rule: r.rule,
              skipped: r.skipped,
              fetched: r.fetched.length,
              instances: r.fetched.reduce((n, f) => n + f.instances, 0),
              failed: r.fetched.reduce((n, f) => n + f.failed, 0),
              alreadyInPacs: r.alreadyInPacs.length,
            },
            'prefetch done',
          ),
        )
        .catch((err: unknown) => o.logger.error({ ...log, err }, 'prefetch failed'));
      return m.ack('AA', order.isNew ? 'order accepted' : 'accepted', { controlId });
    },
  });
}
