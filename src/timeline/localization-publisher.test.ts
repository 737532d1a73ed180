import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { RegistryClient } from '../registry/index.ts';
import type { PatientStudy } from '../studies/index.ts';
import { LocalizationPublisher } from './localization-publisher.ts';

/** A node's study index reduced to what the publisher reads, and a registry that records what it is sent. */
function setUp(o: { archive?: boolean } = {}) {
  const held = new Map<string, PatientStudy[]>([
    ['111222333', []],
    ['123456782', []],
  ]);
  const listeners: ((s: { bsn: string | null }) => void)[] = [];
  const studies = {
    onStored: (l: (s: { bsn: string | null }) => void) => void listeners.push(l),
    patientBsns: () => [...held.keys()],
    holds: (bsn: string) => (held.get(bsn) ?? []).length > 0,
  };
  const sent: { add?: readonly string[]; remove?: readonly string[] }[] = [];
  const registry = {
    register: async (c: { add?: readonly string[]; remove?: readonly string[] }) => void sent.push(c),
  } as unknown as RegistryClient;
  const publisher = new LocalizationPublisher({
    registry,
    studies: studies as never,
    logger: pino({ level: 'silent' }),
    intervalMs: 60_000,
    ...o,
  });
  return { held, listeners, sent, publisher };
}

test('localization: every patient in bulk at start, a new one once, and a removal only when retention left nothing of the patient', async (t) => {
  const { held, listeners, sent, publisher } = setUp();
  t.after(() => publisher.close());
  await publisher.start();
  await publisher.flush();
  assert.deepEqual(sent, [{ add: ['111222333', '123456782'], remove: [] }]);
  for (const l of listeners) l({ bsn: '111222333' });
  for (const l of listeners) l({ bsn: '999999990' });
  for (const l of listeners) l({ bsn: null });
  await publisher.flush();
  assert.deepEqual(sent[1], { add: ['999999990'], remove: [] }, 'only the patient not registered before');

  held.set('123456782', [
    {
      studyInstanceUid: '1.2',
      studyDate: null,
      studyTime: null,
      accessionNumber: null,
      description: null,
      modalities: [],
      bodyParts: [],
      series: 1,
      instances: 1,
      hasReport: false,
    },
  ]);
  held.delete('111222333');
  await publisher.purged(['111222333', '123456782']);
  await publisher.flush();
  assert.deepEqual(sent[2], { add: [], remove: ['111222333'] }, 'a patient with a study left stays known');
});

test('localization: a node with a PACS behind it keeps its patients known after its own copies are purged', async (t) => {
  const { held, sent, publisher } = setUp({ archive: true });
  t.after(() => publisher.close());
  await publisher.start();
  await publisher.flush();
  held.clear();
  await publisher.purged(['111222333']);
  await publisher.flush();
  assert.equal(sent.length, 1, 'nothing but the bulk registration');
});
