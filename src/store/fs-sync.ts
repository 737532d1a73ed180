import { open } from 'node:fs/promises';

/**
 * fsync a directory, so a rename or unlink in it survives a power cut (POSIX leaves directory entries in the page cache
 * until then). Data written before a rename is only safe once both the file and its directory are synced.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
