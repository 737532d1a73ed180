// DCMTK's tools as the tests drive them, where several tests do the same.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { type Dataset, readPart10 } from '../../src/dicom/index.ts';
import { filesIn } from './dicom-files.ts';
import { waitFor } from './net.ts';
import { run, startPeer } from './processes.ts';
import { tempDir } from './tmp.ts';

/** movescu's and getscu's keys for one whole study. */
export const wholeStudy = (studyInstanceUid: string): string[] => [
  '-k',
  'QueryRetrieveLevel=STUDY',
  '-k',
  `StudyInstanceUID=${studyInstanceUid}`,
];

/**
 * movescu as a PACS retrieves a study into itself: a C-MOVE (study root) to `calledAe` on this machine, with the PACS's
 * own AE title as the destination; verbose, so each pending response shows.
 */
export function moveIntoPacs(
  o: { pacsAe: string; calledAe: string; port: number },
  keys: readonly string[],
): ReturnType<typeof run> {
  return run('movescu', [
    '-v',
    '-S',
    '-aet',
    o.pacsAe,
    '-aec',
    o.calledAe,
    '-aem',
    o.pacsAe,
    '127.0.0.1',
    String(o.port),
    ...keys.flatMap((k) => ['-k', k]),
  ]);
}

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

/**
 * findscu's answers (study root), each as the data set it wrote: `peer` is findscu's association arguments, `keys` the
 * query's (`QueryRetrieveLevel=STUDY`, `PatientName=AB*`, `PatientID`). Fails the test when findscu does.
 */
export async function findscuAnswers(
  t: TestContext,
  peer: readonly string[],
  keys: readonly string[],
): Promise<Dataset[]> {
  const dir = tempDir(t);
  const found = await run('findscu', ['-S', '-X', '-od', dir, ...peer, ...keys.flatMap((k) => ['-k', k])]);
  assert.equal(found.code, 0, found.stderr);
  return filesIn(dir).map((f) => readPart10(readFileSync(f)).dataset);
}
