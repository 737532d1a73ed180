import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../log/index.ts';
import type { Timeline, TimelineService, TimelineStudy } from '../timeline/index.ts';
import type { Order } from './hl7/order.ts';
import { Prefetcher, type PrefetchRule } from './prefetch.ts';

const study = (uid: string, date: string, modalities: string[], bodyParts: string[]): TimelineStudy => ({
  studyInstanceUid: uid,
  studyDate: date,
  studyTime: null,
  accessionNumber: null,
  description: null,
  modalities,
  bodyParts,
  series: 1,
  instances: 10,
  hasReport: modalities.includes('SR'),
  source: { ura: '10000002', name: 'Ziekenhuis Midden' },
});

/** The rule logic alone: the timeline answers with these studies (newest first, as it merges them). */
function prefetcherWith(rules: PrefetchRule[], studies: TimelineStudy[], inPacs: string[] = []) {
  const fetched: string[] = [];
  const timeline = {
    query: async (): Promise<Timeline> => ({ bsn: '999999990', mode: 'registry', sources: [], studies }),
  } as unknown as TimelineService;
  const p = new Prefetcher({
    rules,
    timeline: () => timeline,
    pacsHolds: async (uid) => inPacs.includes(uid),
    retrieveIntoPacs: async (prior) => (fetched.push(prior.studyInstanceUid), { instances: 10, failed: 0 }),
    logger: silentLogger(),
    now: () => Date.parse('2026-12-06T12:00:00Z'),
  });
  return { p, fetched };
}

const order = (o: Partial<Order> = {}): Order => ({
  message: 'ORM^O01',
  isNew: true,
  bsn: '999999990',
  orderNumber: 'ORD-1',
  procedure: { code: 'CTTHX', text: 'CT thorax' },
  modality: 'CT',
  sender: { application: 'RIS', facility: 'NOORD' },
  ...o,
});

function withoutBsn({ bsn: _bsn, ...rest }: Order): Order {
  return rest;
}

const history = [
  study('1', '20260101', ['CT', 'SR'], ['CHEST']),
  study('2', '20250101', ['MR'], ['KNEE']),
  study('3', '20240101', ['CR'], ['CHEST']),
  study('4', '20180101', ['CT'], ['CHEST']),
];

test('prefetch picks the newest relevant priors by modality, body part and age, at most maxPriors', async () => {
  const rule: PrefetchRule = {
    name: 'ct thorax',
    modalities: ['CT'],
    procedure: 'thorax',
    priorModalities: ['CT', 'CR'],
    priorBodyParts: ['chest'],
    maxPriors: 2,
    maxAgeYears: 5,
  };
  const { p, fetched } = prefetcherWith([rule], history);
  const r = await p.prefetch(order(), { remoteAddress: '127.0.0.1' });
  assert.equal(r.rule, 'ct thorax');
  assert.deepEqual(fetched, ['1', '3'], 'the knee MR is not relevant; the 2018 CT is older than five years');
});

test('priors already in the PACS count toward maxPriors and are not fetched; no rule, no BSN or no new order: nothing', async () => {
  const rule: PrefetchRule = { name: 'any', maxPriors: 2, maxAgeYears: 50 };
  const held = prefetcherWith([rule], history, ['1']);
  const r = await held.p.prefetch(order(), { remoteAddress: '127.0.0.1' });
  assert.deepEqual([held.fetched, r.alreadyInPacs], [['2'], ['1']]);

  const narrow: PrefetchRule = { name: 'mr', modalities: ['MR'], maxPriors: 2, maxAgeYears: 50 };
  const none = prefetcherWith([narrow], history);
  assert.equal(
    (await none.p.prefetch(order(), { remoteAddress: '' })).skipped,
    'no prefetch rule applies to the ordered procedure',
  );
  assert.equal(
    (await none.p.prefetch(withoutBsn(order({ modality: 'MR' })), { remoteAddress: '' })).skipped,
    'the order names no BSN (PID-3)',
  );
  assert.equal(
    (await none.p.prefetch(order({ modality: 'MR', isNew: false }), { remoteAddress: '' })).skipped,
    'not a new order',
  );
  assert.deepEqual(none.fetched, []);
});
