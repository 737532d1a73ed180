// Real peers (DCMTK, Orthanc, Chromium) are part of what the tests prove. On a developer machine a missing
// tool skips the test with a reason; in CI (CI=true) it fails, because skipped interop is hidden breakage.
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

const found = new Map<string, string | undefined>();

/** The absolute path of a program on PATH (or in /usr/sbin for Orthanc), or undefined. */
export function which(program: string): string | undefined {
  if (!found.has(program)) {
    const r = spawnSync('sh', ['-c', `command -v ${program} || ls /usr/sbin/${program} 2>/dev/null`], {
      encoding: 'utf8',
    });
    const path = r.stdout.trim().split('\n')[0];
    found.set(program, path !== undefined && path !== '' ? path : undefined);
  }
  return found.get(program);
}

/**
 * Returns the tool's path, or skips the test (developer machine) / throws (CI) when it is missing.
 * Call at the top of a test: `const storescu = requireTool(t, 'storescu'); if (!storescu) return;`
 */
export function requireTool(t: TestContext, program: string): string | undefined {
  const path = which(program);
  if (path !== undefined) return path;
  const why = `${program} is not installed (Debian: see .ci/run)`;
  if (process.env['CI'] === 'true') throw new Error(`${why}; CI must install it`);
  t.skip(why);
  return undefined;
}

/** Environment for DCMTK and Orthanc processes: Debian's builds leave Nagle on unless told otherwise. */
export function peerEnv(): NodeJS.ProcessEnv {
  return { ...process.env, TCP_NODELAY: '1' };
}
