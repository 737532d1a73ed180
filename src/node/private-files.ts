import { chmodSync, closeSync, constants, mkdirSync, openSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BeeldbrugError } from '../errors/index.ts';

/** Only the node's own user: the data folder holds patient data, password hashes and the audit trail. */
export const PRIVATE_FILE = 0o600;
export const PRIVATE_FOLDER = 0o700;

function tighten(path: string, mode: number, what: string): void {
  try {
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, mode);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new BeeldbrugError(
      'CONFIG_INSECURE',
      `${what} ${path} is open to other users and cannot be made private (${(cause as Error).message}); make the node's user its owner, or chmod ${mode.toString(8)} it`,
      { cause },
    );
  }
}

/**
 * Creates the data folder private (0700), or makes an existing one private, with what lies directly in it: a node of an
 * older version created its databases 0644 and counted on the folder. Subfolders the store creates are 0700 already.
 */
export function privateDataFolder(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: PRIVATE_FOLDER });
  tighten(dataDir, PRIVATE_FOLDER, 'the data folder');
  for (const entry of readdirSync(dataDir, { withFileTypes: true })) {
    if (entry.isFile()) tighten(join(dataDir, entry.name), PRIVATE_FILE, 'the file');
    else if (entry.isDirectory()) tighten(join(dataDir, entry.name), PRIVATE_FOLDER, 'the folder');
  }
}

/**
 * Creates a SQLite database file 0600 before SQLite opens it (SQLite creates a new one 0644 less the umask), and makes an
 * existing one and its journals private. SQLite gives the -wal and -shm files it creates later the mode of the database.
 */
export function privateDatabaseFile(path: string): void {
  closeSync(openSync(path, constants.O_RDWR | constants.O_CREAT, PRIVATE_FILE));
  for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`])
    tighten(p, PRIVATE_FILE, 'the database file');
}
