// Tests reach a running node's patient data the way the node's own tasks do: through an access, recorded as
// `system:test` in the audit trail, never through the store behind it.
import type { RunningNode } from '../../src/node/index.ts';
import type { AccessPurpose, PatientDataAccess, ReleasedInstance } from '../../src/studies/index.ts';

export function testAccess(node: RunningNode, purpose: AccessPurpose): PatientDataAccess {
  return node.patientData.openForTask('test', 'test', purpose, 'test');
}

/** Imports Part 10 files into the node, as `beeldbrug import` does. */
export async function importFiles(node: RunningNode, files: readonly string[]): Promise<void> {
  const access = testAccess(node, 'import');
  for (const f of files) await access.importFile(f);
}

/** Every held instance of a study, with its bytes openable. */
export function heldInstances(node: RunningNode, studyInstanceUid: string): ReleasedInstance[] {
  return testAccess(node, 'retrieve').releaseStudy(studyInstanceUid, undefined);
}

/** One held instance by SOP Instance UID, with its bytes openable; undefined when the node does not hold it. */
export function heldInstance(node: RunningNode, sopInstanceUid: string): ReleasedInstance | undefined {
  return testAccess(node, 'retrieve').releaseInstances([sopInstanceUid], undefined)[0];
}
