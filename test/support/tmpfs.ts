// A small file system of its own (tmpfs) to fill up: the disk-full tests. Mounting needs root, which CI has; a
// developer without it skips, CI fails, because the disk-full path must be proven there.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** Mounts a tmpfs of `size` (e.g. '1m', '32m') for the test; undefined when the test was skipped. */
export function mountTmpfs(t: TestContext, size: string): string | undefined {
  const mnt = mkdtempSync(join(tmpdir(), 'beeldbrug-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { stdio: 'ignore' });
  } catch {
    rmSync(mnt, { recursive: true, force: true });
    if (process.env['CI'] === 'true')
      throw new Error('cannot mount a tmpfs for the disk-full test; CI must run as root');
    t.skip('cannot mount a tmpfs here (needs root)');
    return undefined;
  }
  // Lazily: a node under test may still hold files open when this runs; the kernel lets go once they are closed.
  t.after(() => {
    execFileSync('umount', ['-l', mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });
  return mnt;
}
