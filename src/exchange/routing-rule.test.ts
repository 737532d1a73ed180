import assert from 'node:assert/strict';
import { test } from 'node:test';
import { routeFor, type RoutingRule } from './routing-rule.ts';

const rules: RoutingRule[] = [
  { from: '10000003', action: 'hold' },
  { purpose: 'consultation', action: 'forward', destination: 'PACS_CONSULT' },
  { action: 'forward', destination: 'PACS' },
];

const cases: [string, { senderUra: string; purpose: 'transfer' | 'consultation' | 'internal' }, string][] = [
  ['a sender held by rule', { senderUra: '10000003', purpose: 'transfer' }, 'hold'],
  ['the held sender, whatever the purpose', { senderUra: '10000003', purpose: 'consultation' }, 'hold'],
  ['consultations to their own PACS', { senderUra: '10000001', purpose: 'consultation' }, 'forward:PACS_CONSULT'],
  ['everything else to the PACS', { senderUra: '10000001', purpose: 'transfer' }, 'forward:PACS'],
];
for (const [name, transfer, expected] of cases) {
  test(`routing: ${name}`, () => {
    const r = routeFor(rules, transfer);
    assert.equal(r.action === 'hold' ? 'hold' : `forward:${r.destination}`, expected);
  });
}

test('routing: no rules means hold', () => {
  assert.deepEqual(routeFor([], { senderUra: '10000001', purpose: 'transfer' }), { action: 'hold' });
});
