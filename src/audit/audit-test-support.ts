import assert from 'node:assert/strict';
import type { AuditTrailOptions, ChainedAuditTrail } from './chained-audit-trail.ts';
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

/**
 * What every trail keeps, whichever table holds it: ten records a minute apart, closed, reopened, an eleventh that
 * continues the chain, and each filter (patient, action with a limit, user, period, after a sequence) answering in
 * order. Returns the reopened trail, open.
 */
export async function checkChainAndFilters(
  open: (o: Pick<AuditTrailOptions, 'now'>) => Promise<ChainedAuditTrail>,
): Promise<ChainedAuditTrail> {
  let clock = Date.parse('2026-01-01T00:00:00.000Z');
  const now = (): Date => new Date((clock += 60_000));
  const first = await open({ now });
  for (let n = 1; n <= 10; n += 1) await first.record(sampleEvent(n));
  await first.close();
  const again = await open({ now });
  assert.equal((await again.record(sampleEvent(11))).sequence, 11, 'the chain continues after a reopen');
  assert.deepEqual(await again.verify(), { ok: true, records: 11 });
  const listed = async (filter: Parameters<ChainedAuditTrail['list']>[0]): Promise<number[]> =>
    (await again.list(filter)).map((r) => r.sequence);
  assert.deepEqual(
    (await again.list({ bsn: '999990019' })).map((r) => r.description),
    ['event 5', 'event 10'],
  );
  assert.deepEqual(await listed({ action: 'send', limit: 2 }), [2, 4]);
  assert.deepEqual(await listed({ userId: 'u0' }), [3, 6, 9]);
  assert.deepEqual(await listed({ since: '2026-01-01T00:03:00.000Z', until: '2026-01-01T00:05:00.000Z' }), [3, 4]);
  assert.deepEqual(await listed({ afterSequence: 9 }), [10, 11]);
  assert.equal((await again.list())[0]?.user.roleCode, '01.015');
  return again;
}
