import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ContextResult } from './pdu-types.ts';
import { chooseTransferSyntax, negotiate } from './presentation-context.ts';
import { DefaultTransferSyntaxes, defaultAcceptsAbstractSyntax } from './uids.ts';

const ELE = '1.2.840.10008.1.2.1';
const ILE = '1.2.840.10008.1.2';
const EBE = '1.2.840.10008.1.2.2';
const JLS = '1.2.840.10008.1.2.4.80';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const policy = { acceptsAbstractSyntax: defaultAcceptsAbstractSyntax, transferSyntaxes: DefaultTransferSyntaxes };

test('transfer syntax choice (PS3.8 9.3.3.2)', () => {
  // A compressed syntax listed first is kept; otherwise our preference; anything offered alone that we take is taken.
  const table: [string[], string | undefined][] = [
    [[ILE, ELE], ELE],
    [[EBE, ILE], ILE],
    [[JLS, ELE], JLS],
    [[ELE, JLS], ELE],
    [[EBE], EBE],
    [[DEFLATED], DEFLATED],
    [[DEFLATED, ELE], DEFLATED],
    [[ELE, DEFLATED], ELE],
    [['1.2.840.10008.1.2.4.100', ELE], ELE],
    [['1.2.840.10008.1.2.4.100'], undefined],
  ];
  for (const [proposed, want] of table)
    assert.equal(chooseTransferSyntax(proposed, DefaultTransferSyntaxes), want, proposed.join(','));
});

test('negotiation: results per context and role selection for C-GET', () => {
  const r = negotiate(
    [
      { id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: [ILE] },
      { id: 3, abstractSyntax: '1.2.840.10008.5.1.4.1.1.2', transferSyntaxes: [ELE] },
      { id: 5, abstractSyntax: '1.2.3.4.5', transferSyntaxes: [ELE] },
      { id: 7, abstractSyntax: '1.2.840.10008.5.1.4.1.1.4', transferSyntaxes: ['1.2.840.10008.1.2.4.100'] },
      { id: 9, abstractSyntax: 'garbage!', transferSyntaxes: [ELE] },
      { id: 11, abstractSyntax: '1.2.840.10008.5.1.4.1.2.2.3', transferSyntaxes: [ELE] },
    ],
    [
      { sopClassUid: '1.2.840.10008.5.1.4.1.1.2', scuRole: true, scpRole: true },
      { sopClassUid: '1.2.3.4.5', scuRole: true, scpRole: true },
    ],
    policy,
  );
  assert.deepEqual(
    r.answers.map((a) => a.result),
    [
      ContextResult.Acceptance,
      ContextResult.Acceptance,
      ContextResult.AbstractSyntaxNotSupported,
      ContextResult.TransferSyntaxesNotSupported,
      ContextResult.AbstractSyntaxNotSupported,
      ContextResult.Acceptance,
    ],
  );
  assert.deepEqual(
    r.roles,
    [{ sopClassUid: '1.2.840.10008.5.1.4.1.1.2', scuRole: true, scpRole: true }],
    'roles only for accepted SOP classes',
  );
  assert.equal(r.accepted.get(3)?.requestorIsScp, true);
  assert.equal(r.accepted.get(1)?.requestorIsScp, false);
});
