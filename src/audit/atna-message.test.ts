import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditMessageXml, syslogFrame } from './atna-message.ts';
import type { AuditRecord } from './types.ts';

const record: AuditRecord = {
  sequence: 12,
  time: '2026-11-23T10:00:00.123Z',
  hash: 'ab'.repeat(32),
  action: 'purge',
  outcome: 'success',
  description: 'study purged after 7 days',
  user: { id: 'system:retention', name: 'Retention \u0001job' },
  accessPoint: { node: 'noord' },
  objects: { studyInstanceUid: '1.2.3' },
  grounds: { purpose: 'retention' },
};

test('the syslog frame counts octets, not characters, and keeps header fields printable', () => {
  const frame = syslogFrame('<x>é</x>', {
    time: record.time,
    hostname: 'host name',
    appName: 'beeldbrug',
    procId: '42',
  });
  const space = frame.indexOf(0x20);
  const length = Number(frame.subarray(0, space).toString('ascii'));
  assert.equal(length, frame.length - space - 1, 'MSG-LEN is the byte length of what follows the space');
  assert.equal(
    frame.subarray(space + 1).toString('utf8'),
    '<85>1 2026-11-23T10:00:00.123Z host_name beeldbrug 42 IHE+RFC-3881 - <x>é</x>',
  );
});

test('a purge is a DICOM Study Deleted (delete) message; characters XML cannot carry are replaced', () => {
  const xml = auditMessageXml(record, { node: 'noord', ura: '12345678' });
  assert.match(
    xml,
    /<EventIdentification EventActionCode="D" EventDateTime="2026-11-23T10:00:00.123Z" EventOutcomeIndicator="0"><EventID csd-code="110105" codeSystemName="DCM" originalText="DICOM Study Deleted"\/>/,
  );
  assert.ok(xml.includes('UserName="Retention \ufffdjob"'));
  assert.ok(!xml.includes('\u0001'));
  assert.match(xml, /<AuditSourceIdentification AuditEnterpriseSiteID="12345678" AuditSourceID="noord">/);
});

test('a record of an IHE transaction names it as the event type (ITI-20)', () => {
  const xml = auditMessageXml(
    { ...record, action: 'query', transaction: 'ITI-38', objects: {}, patient: { bsn: '999999990' } },
    { node: 'midden', ura: '10000002' },
  );
  assert.match(
    xml,
    /<EventID csd-code="110112" codeSystemName="DCM" originalText="Query"\/><EventTypeCode csd-code="ITI-38" codeSystemName="IHE Transactions" originalText="Cross Gateway Query"\/>/,
  );
});
