import { readFile, writeFile } from 'node:fs/promises';
import ssh2 from 'ssh2';

/**
 * The SFTP server's host key: made (Ed25519) at first start and kept in its own file, private to the node. Partners
 * check its fingerprint on first connect, so it must not change with a restart.
 */
export async function sftpHostKey(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { private: key } = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'beeldbrug sftp host key' });
  await writeFile(path, key, { mode: 0o600, flag: 'wx' });
  return key;
}
