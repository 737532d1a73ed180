// An Orthanc server as the hospital PACS in tests and benchmarks, on free loopback ports with a fresh password.
import { randomBytes } from 'node:crypto';
import { type OrthancOptions, type OrthancPacs, startOrthanc as start } from '../../src/cli/orthanc-pacs.ts';
import { freePort } from './net.ts';

export type { OrthancModality, OrthancPacs } from '../../src/cli/orthanc-pacs.ts';

export async function startOrthanc(
  o: Omit<OrthancOptions, 'dicomPort' | 'httpPort' | 'password'>,
): Promise<OrthancPacs> {
  return start({
    ...o,
    dicomPort: await freePort(),
    httpPort: await freePort(),
    password: randomBytes(12).toString('hex'),
  });
}
