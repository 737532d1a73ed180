import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseManifest } from './manifest.ts';
import { decidePurpose } from './purpose-decision.ts';

const cases: [string, Parameters<typeof decidePurpose>[0], string][] = [
  [
    'transfer of care between hospitals',
    { purpose: 'transfer', consentReference: undefined, senderUra: '10000001', receiverUra: '10000002' },
    'accept',
  ],
  [
    'consultation with consent',
    { purpose: 'consultation', consentReference: 'consent/123', senderUra: '10000001', receiverUra: '10000002' },
    'accept',
  ],
  [
    'consultation without consent',
    { purpose: 'consultation', consentReference: undefined, senderUra: '10000001', receiverUra: '10000002' },
    'consent-reference-missing',
  ],
  [
    'consultation with a blank consent reference',
    { purpose: 'consultation', consentReference: '  ', senderUra: '10000001', receiverUra: '10000002' },
    'consent-reference-missing',
  ],
  [
    'internal within one organization',
    { purpose: 'internal', consentReference: undefined, senderUra: '10000001', receiverUra: '10000001' },
    'accept',
  ],
  [
    'internal across organizations',
    { purpose: 'internal', consentReference: 'x', senderUra: '10000001', receiverUra: '10000002' },
    'internal-across-organizations',
  ],
];
for (const [name, input, expected] of cases) {
  test(`purpose: ${name}`, () => {
    const d = decidePurpose(input);
    assert.equal(d.accept ? 'accept' : d.reason, expected);
  });
}

const valid = {
  transferId: '6f1c0d7e-8a3b-4c5d-9e6f-7a8b9c0d1e2f',
  purpose: 'transfer',
  urgency: 'urgent',
  sender: { user: { id: 'u1', name: 'Dr. A. de Vries' } },
  patient: { bsn: '999999990', patientId: '999999990' },
  study: { studyInstanceUid: '1.2.3' },
  instances: [
    {
      sopInstanceUid: '1.2.3.1',
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      seriesInstanceUid: '1.2.3.9',
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      size: 10,
      sha256: 'a'.repeat(64),
    },
  ],
};

test('manifest: a valid one parses, with defaults', () => {
  const r = parseManifest(valid);
  assert.ok(r.ok);
  assert.deepEqual(r.manifest.exclude, []);
});

const broken: [string, (m: Record<string, unknown>) => void, RegExp][] = [
  ['unknown purpose', (m) => (m['purpose'] = 'research'), /^purpose: /],
  ['no instances', (m) => (m['instances'] = []), /^instances: /],
  [
    'bad digest',
    (m) => ((m['instances'] as Record<string, unknown>[])[0]!['sha256'] = 'xyz'),
    /^instances\.0\.sha256: a lowercase hex SHA-256/,
  ],
  [
    'bad UID',
    (m) => ((m['study'] as Record<string, unknown>)['studyInstanceUid'] = '1.02.3'),
    /^study\.studyInstanceUid: a DICOM UID/,
  ],
  ['unknown field', (m) => (m['senderOrganization'] = { ura: '1' }), /senderOrganization/],
  [
    'duplicate instance',
    (m) => (m['instances'] = [...(m['instances'] as unknown[]), ...(m['instances'] as unknown[])]),
    /listed twice/,
  ],
];
for (const [name, mutate, message] of broken) {
  test(`manifest: ${name} is refused with the field named`, () => {
    const m = structuredClone(valid) as Record<string, unknown>;
    mutate(m);
    const r = parseManifest(m);
    assert.ok(!r.ok);
    assert.match(r.problems.join('\n'), message);
  });
}
