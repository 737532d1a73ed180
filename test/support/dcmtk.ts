// DCMTK's tools as the tests drive them, where several tests do the same.
import type { TestContext } from 'node:test';
import { waitFor } from './net.ts';
import { run, startPeer } from './processes.ts';

/** movescu's and getscu's keys for one whole study. */
export const wholeStudy = (studyInstanceUid: string): string[] => [
  '-k',
  'QueryRetrieveLevel=STUDY',
  '-k',
  `StudyInstanceUID=${studyInstanceUid}`,
];

/** DCMTK's storescp as a C-MOVE destination, writing into `dir`; it answers C-ECHO before this resolves. */
export async function storescpDestination(
  t: TestContext,
  o: { aeTitle: string; port: number; dir: string; flags?: readonly string[] },
): Promise<void> {
  startPeer(t, 'storescp', [...(o.flags ?? []), '--aetitle', o.aeTitle, '-od', o.dir, String(o.port)]);
  await waitFor(
    `storescp ${o.aeTitle}`,
    async () => (await run('echoscu', ['-aec', o.aeTitle, '127.0.0.1', String(o.port)])).code === 0,
  );
}
