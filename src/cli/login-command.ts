import { readFileSync } from 'node:fs';
import { BeeldbrugError } from '../errors/index.ts';
import { NodeApiClient, type SessionUser } from './node-api-client.ts';
import { loadSession, removeSession, saveSession, sessionFilePath } from './session-file.ts';

export interface LoginOptions {
  /** The node's HTTPS address, e.g. https://127.0.0.1:8443. */
  node: string;
  /** A file with the CA that signed the node's server certificate (PEM); the system's CAs when absent. */
  caFile?: string;
  /** Sign in with a password and a code from the authenticator app. */
  username?: string;
  /** Or sign in at the hospital's identity provider (OpenID Connect device sign-in) on any device with a browser. */
  oidc?: boolean;
}

/**
 * `beeldbrug login`: signs a person in at their node with password + TOTP code (the same sign-in and the same audit
 * record as the web app) and keeps the session for the next commands. In a terminal both are asked for, the password
 * without echo; otherwise standard input gives them, the password on the first line and the code on the second. They
 * are never command-line arguments, which other users can read in `ps`.
 */
export async function loginFromCli(o: LoginOptions, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  if ((o.username !== undefined) === (o.oidc === true))
    throw new BeeldbrugError(
      'COMMAND_LINE_INVALID',
      'give either --username (password and authenticator code) or --oidc (sign in at the identity provider)',
    );
  let base: URL;
  try {
    base = new URL(o.node);
  } catch {
    throw new BeeldbrugError('REQUEST_INVALID', `--node ${o.node} is not an address: give https://HOST:PORT`);
  }
  if (base.protocol !== 'https:')
    throw new BeeldbrugError('REQUEST_INVALID', `--node ${o.node}: the node is reached over https only`);
  let ca: string | undefined;
  if (o.caFile !== undefined) {
    try {
      ca = readFileSync(o.caFile, 'utf8');
    } catch (cause) {
      throw new BeeldbrugError('KEY_FILE_PROBLEM', `--ca ${o.caFile} cannot be read`, { cause });
    }
  }
  const client = new NodeApiClient({ baseUrl: base.origin, ...(ca !== undefined ? { ca } : {}) });
  const r =
    o.username !== undefined
      ? await client.signIn({ username: o.username, ...(await readSecrets()) })
      : await deviceSignIn(client, out);
  const path = sessionFilePath();
  saveSession(
    { node: base.origin, ...(ca !== undefined ? { ca } : {}), token: r.token, expiresAt: r.expiresAt, user: r.user },
    path,
  );
  out.write(
    `signed in at ${base.origin} as ${r.user.name} (${r.user.role}${r.user.uziRoleCode !== undefined ? `, UZI role ${r.user.uziRoleCode}` : ''}) until ${r.expiresAt}; session kept in ${path}\n`,
  );
}

/**
 * The identity provider's device sign-in: the person opens the page shown, on this or any other device, enters the
 * code and signs in there as they always do (with the provider's own second factor). The terminal waits at the node,
 * which polls the provider; only the node holds the client secret.
 */
async function deviceSignIn(
  client: NodeApiClient,
  out: NodeJS.WritableStream,
): Promise<{ token: string; user: SessionUser; expiresAt: string }> {
  const begun = await client.beginDeviceSignIn();
  const minutes = Math.max(1, Math.round(begun.expiresInSeconds / 60));
  out.write(
    `To sign in, open ${begun.verificationUri} and enter the code ${begun.userCode}` +
      (begun.verificationUriComplete !== undefined ? `\n(or open ${begun.verificationUriComplete})` : '') +
      `\nwithin ${minutes} minutes. Waiting...\n`,
  );
  for (;;) {
    const answer = await client.deviceSignIn(begun.handle);
    if ('token' in answer) return answer;
  }
}

/** `beeldbrug logout`: ends the session at the node (a logout record there) and removes the saved sign-in. */
export async function logoutFromCli(out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const path = sessionFilePath();
  let session;
  try {
    session = loadSession(path);
  } catch {
    removeSession(path);
    out.write('not signed in\n');
    return;
  }
  try {
    await new NodeApiClient({
      baseUrl: session.node,
      token: session.token,
      ...(session.ca !== undefined ? { ca: session.ca } : {}),
    }).signOut();
  } finally {
    // Even when the node cannot be reached, the token leaves this machine; it ends there by itself when idle.
    removeSession(path);
  }
  out.write(`signed out ${session.user.name} at ${session.node}\n`);
}

async function readSecrets(): Promise<{ password: string; code: string }> {
  if (process.stdin.isTTY) {
    const password = await promptHidden('password: ');
    const code = await promptHidden('code from the authenticator app: ', true);
    return { password, code };
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const [password = '', code = ''] = Buffer.concat(chunks).toString('utf8').split(/\r?\n/);
  if (password === '' || code.trim() === '')
    throw new BeeldbrugError(
      'REQUEST_INVALID',
      'give the password on the first line of standard input and the code from the authenticator app on the second',
    );
  return { password, code: code.trim() };
}

/** Reads one line from the terminal; without echo unless `echo`. Ctrl-C stops the command. */
function promptHidden(question: string, echo = false): Promise<string> {
  const input = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (err?: Error): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      if (err !== undefined) reject(err);
      else resolve(typed);
    };
    const onData = (data: Buffer): void => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new BeeldbrugError('REQUEST_INVALID', 'sign-in cancelled'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
        if (echo) process.stderr.write(ch === '\u007f' || ch === '\b' ? '\b \b' : ch);
      }
    };
    input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}
