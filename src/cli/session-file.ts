import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { BeeldbrugError } from '../errors/index.ts';
import { NodeApiClient } from './node-api-client.ts';

/**
 * The CLI's sign-in, kept between commands: the node's address, the CA that signed its certificate, and the session
 * token. The token opens the node's API as this person until it ends (30 idle minutes, 12 hours), so the file is the
 * person's own: 0600 in a 0700 folder, written whole and renamed into place. `beeldbrug logout` ends the session at
 * the node and removes the file.
 */
const sessionFile = z.strictObject({
  node: z.url(),
  ca: z.string().optional(),
  token: z.string().min(1),
  expiresAt: z.string(),
  user: z.object({ username: z.string(), name: z.string(), role: z.string(), uziRoleCode: z.string().optional() }),
});
export type SavedSession = z.output<typeof sessionFile>;

/** $BEELDBRUG_SESSION, or session.json under $XDG_CONFIG_HOME/beeldbrug (~/.config/beeldbrug). */
export function sessionFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['BEELDBRUG_SESSION'];
  if (explicit !== undefined && explicit !== '') return explicit;
  const config =
    env['XDG_CONFIG_HOME'] !== undefined && env['XDG_CONFIG_HOME'] !== ''
      ? env['XDG_CONFIG_HOME']
      : join(homedir(), '.config');
  return join(config, 'beeldbrug', 'session.json');
}

export function saveSession(s: SavedSession, path = sessionFilePath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
  // The mode of a file that already existed is not changed by writeFileSync.
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

export function loadSession(path = sessionFilePath()): SavedSession {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new BeeldbrugError(
      'SIGN_IN_REQUIRED',
      `not signed in (no ${path}): run beeldbrug login --node https://HOST:PORT`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = sessionFile.safeParse(json);
  if (!parsed.success)
    throw new BeeldbrugError(
      'SIGN_IN_REQUIRED',
      `${path} is not a sign-in this version can read: run beeldbrug login again`,
    );
  if (Date.parse(parsed.data.expiresAt) <= Date.now())
    throw new BeeldbrugError(
      'SIGN_IN_REQUIRED',
      `the sign-in of ${parsed.data.user.name} at ${parsed.data.node} has ended: run beeldbrug login again`,
    );
  return parsed.data;
}

export function removeSession(path = sessionFilePath()): void {
  rmSync(path, { force: true });
}

/** A client of the node the saved session is for, as that person. */
export function signedInClient(path = sessionFilePath()): { client: NodeApiClient; session: SavedSession } {
  const session = loadSession(path);
  return {
    client: new NodeApiClient({
      baseUrl: session.node,
      token: session.token,
      ...(session.ca !== undefined ? { ca: session.ca } : {}),
    }),
    session,
  };
}
