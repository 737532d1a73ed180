import { isValidBsn } from '../../patient/index.ts';
import type { Hl7Message } from './message.ts';

/** An examination the RIS ordered or scheduled, as prefetch needs it. */
export interface Order {
  /** ORM^O01, OMI^O23 or SIU^S12. */
  message: string;
  /** Whether it asks for a new examination (ORC-1 NW, or a new appointment): only those start a prefetch. */
  isNew: boolean;
  /** The patient's BSN from PID-3, when the RIS sent it (assigning authority NLMINBIZA, or type NNNLD). */
  bsn?: string;
  /** The placer order number (ORC-2 / OBR-2), or the appointment id (SCH-1): the grounds the audit trail names. */
  orderNumber: string;
  /** What was ordered: the procedure code and its text (OBR-4, or AIS-3 for an appointment). */
  procedure: { code: string; text: string };
  /** The modality of the ordered examination (OBR-24, IPC-5), when given. */
  modality?: string;
  /** Who sent it: MSH-3 and MSH-4. */
  sender: { application: string; facility: string };
}

const BSN_AUTHORITIES = new Set(['NLMINBIZA', '2.16.840.1.113883.2.4.6.3']);

/**
 * The order in a message, or why there is none. ORM^O01 and OMI^O23 carry ORC and OBR (OMI also IPC with the modality);
 * SIU^S12 carries SCH and AIS. Any other message type is not an order.
 */
export function orderOf(m: Hl7Message): { ok: true; order: Order } | { ok: false; reason: string } {
  const { code, trigger } = m.type;
  const message = `${code}^${trigger}`;
  if (!['ORM^O01', 'OMI^O23', 'SIU^S12'].includes(message))
    return { ok: false, reason: `${message} is not an order or appointment (ORM^O01, OMI^O23, SIU^S12)` };
  const pid = m.segment('PID');
  if (pid === undefined) return { ok: false, reason: 'no PID segment' };
  const bsn = pid
    .repetitions(3)
    .map((r) => ({
      id: pid.componentOf(r, 1),
      authority: [pid.componentOf(r, 4, 1), pid.componentOf(r, 4, 2)],
      type: pid.componentOf(r, 5),
    }))
    .find((x) => (x.type === 'NNNLD' || x.authority.some((a) => BSN_AUTHORITIES.has(a))) && isValidBsn(x.id))?.id;
  const sender = { application: m.msh.get(3), facility: m.msh.get(4) };
  if (code === 'SIU') {
    const sch = m.segment('SCH');
    const ais = m.segment('AIS');
    const orderNumber = sch?.get(1) || sch?.get(2) || '';
    if (orderNumber === '') return { ok: false, reason: 'no appointment id (SCH-1)' };
    return {
      ok: true,
      order: {
        message,
        isNew: true,
        ...(bsn !== undefined ? { bsn } : {}),
        orderNumber,
        procedure: { code: ais?.get(3, 1) ?? '', text: ais?.get(3, 2) ?? '' },
        sender,
      },
    };
  }
  const orc = m.segment('ORC');
  const obr = m.segment('OBR');
  if (orc === undefined || obr === undefined) return { ok: false, reason: 'no ORC and OBR segments' };
  const orderNumber = orc.get(2) || obr.get(2);
  if (orderNumber === '') return { ok: false, reason: 'no placer order number (ORC-2, OBR-2)' };
  const modality = m.segment('IPC')?.get(5) || obr.get(24);
  return {
    ok: true,
    order: {
      message,
      isNew: orc.get(1) === 'NW',
      ...(bsn !== undefined ? { bsn } : {}),
      orderNumber,
      procedure: { code: obr.get(4, 1), text: obr.get(4, 2) },
      ...(modality !== '' ? { modality } : {}),
      sender,
    },
  };
}
