// Tests reach a running node's patient data the way the node's own tasks do: through an access, recorded as
// `system:test` in the audit trail, never through the store behind it.
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { RunningNode } from '../../src/node/index.ts';
import type { AccessPurpose, PatientDataAccess, ReleasedInstance } from '../../src/studies/index.ts';
import { type SynthStudy, synthesize } from '../../src/synth/index.ts';
import { filesIn } from './dicom-files.ts';
import { tempDir } from './tmp.ts';

export function testAccess(node: RunningNode, purpose: AccessPurpose): PatientDataAccess {
  return node.patientData.openForTask('test', 'test', purpose, 'test');
}

/** Imports Part 10 files into the node, as `beeldbrug import` does. */
export async function importFiles(node: RunningNode, files: readonly string[]): Promise<void> {
  const access = testAccess(node, 'import');
  for (const f of files) await access.importFile(f);
}

/** A synthetic patient (from `seed`) imported into the node, all of their studies; answers the first study. */
export async function importSynthPatient(
  t: TestContext,
  node: RunningNode,
  seed: number,
  o: { studiesPerPatient?: readonly [number, number] } = {},
): Promise<SynthStudy> {
  const outDir = join(tempDir(t), 'synth');
  const synth = await synthesize({ outDir, patients: 1, seed, ...o });
  await importFiles(node, filesIn(outDir));
  const study = synth.patients[0]?.studies[0];
  if (study === undefined) throw new Error(`seed ${seed} made no study`);
  return study;
}

/** Every held instance of a study, with its bytes openable. */
export function heldInstances(node: RunningNode, studyInstanceUid: string): Promise<ReleasedInstance[]> {
  return testAccess(node, 'retrieve').releaseStudy(studyInstanceUid, undefined);
}

/** One held instance by SOP Instance UID, with its bytes openable; undefined when the node does not hold it. */
export async function heldInstance(node: RunningNode, sopInstanceUid: string): Promise<ReleasedInstance | undefined> {
  return (await testAccess(node, 'retrieve').releaseInstances([sopInstanceUid], undefined))[0];
}
