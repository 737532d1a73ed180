import { readFile, rm, writeFile } from 'node:fs/promises';
import ssh2 from 'ssh2';

/**
 * The SFTP server's host key: made (Ed25519) at first start and kept in its own file, private to the node. Partners
 * check its fingerprint on first connect, so it must not change with a restart.
 */
export async function sftpHostKey(path: string): Promise<string> {
  try {
    const kept = await readFile(path, 'utf8');
    if (!(ssh2.utils.parseKey(kept) instanceof Error)) return kept;
    // A key no SSH library can read was never served (the node could not start with it): it is made again.
    await rm(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = readableKey();
  await writeFile(path, key, { mode: 0o600, flag: 'wx' });
  return key;
}

/**
 * ssh2 writes an Ed25519 public key that starts with a zero byte one byte short (about 1 key in 128), and then cannot
 * read its own file; such a key is made again rather than kept.
 */
function readableKey(): string {
  for (;;) {
    const { private: key } = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'beeldbrug sftp host key' });
    if (!(ssh2.utils.parseKey(key) instanceof Error)) return key;
  }
}
