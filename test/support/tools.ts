// Real peers (DCMTK, Orthanc, Chromium) are part of what the tests prove. On a developer machine a missing
// tool skips the test with a reason; in CI (CI=true) it fails, because skipped interop is hidden breakage.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
  return path !== undefined ? path : missing(t, `${program} is not installed (Debian: see .ci/run)`);
}

/** The same for a tool unpacked into a folder (the prebuilt OHIF viewer): the path when `file` is there. */
export function requireUnpacked(t: TestContext, file: string, installer: string): string | undefined {
  return existsSync(file) ? file : missing(t, `${file} is not there (run ${installer}; .ci/run does)`);
}

function missing(t: TestContext, why: string): undefined {
  if (process.env['CI'] === 'true') throw new Error(`${why}; CI must install it`);
  t.skip(why);
  return undefined;
}

/** Environment for DCMTK and Orthanc processes: Debian's builds leave Nagle on unless told otherwise. */
export function peerEnv(): NodeJS.ProcessEnv {
  return { ...process.env, TCP_NODELAY: '1' };
}
