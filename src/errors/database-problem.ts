import { BeeldbrugError } from './beeldbrug-error.ts';

/**
 * A PostgreSQL server that cannot be used, in words an administrator acts on: the password file, the address, or
 * what the server said (a wrong password, no such database). Anything else (a witness that cannot be written) goes on.
 */
export function throwDatabaseProblem(
  d: { host: string; port: number; name: string; user: string; passwordFile?: string | undefined },
  cause: unknown,
): void {
  const err = cause as NodeJS.ErrnoException & { severity?: string };
  const server = `the PostgreSQL server ${d.host}:${d.port} (database ${d.name}, user ${d.user})`;
  if (err.path !== undefined && err.path === d.passwordFile)
    throw new BeeldbrugError(
      'KEY_FILE_PROBLEM',
      `database.passwordFile: ${d.passwordFile} cannot be read (${err.message})`,
      { cause },
    );
  // pg's server errors carry a severity; a refused connection, a name not found, a certificate not trusted a code.
  if (err.severity !== undefined || (typeof err.code === 'string' && err.path === undefined))
    throw new BeeldbrugError('DATABASE_UNREACHABLE', `${server} cannot be used: ${err.message}`, { cause });
}
