import type { AuditEvent } from './types.ts';

/** A complete audit event for tests of the trail: numbered, two patients, three users, alternating actions. */
export function sampleEvent(n: number): AuditEvent {
  return {
    action: n % 2 === 0 ? 'send' : 'receive',
    outcome: 'success',
    description: `event ${n}`,
    user: { id: `u${n % 3}`, name: 'Dr. C. Bakker', roleCode: '01.015', organizationUra: '10000001' },
    accessPoint: { node: 'noord', ip: '127.0.0.1' },
    patient: { bsn: n % 5 === 0 ? '999990019' : '999990020', patientId: `P${n}` },
    objects: { studyInstanceUid: `1.2.3.${n}`, transferId: `t-${n}` },
    grounds: { purpose: 'transfer' },
  };
}
