import { userInfo } from 'node:os';
import { AccountError, type Role, totpUri } from '../auth/index.ts';
import type { Config } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { openAccounts, openAuditTrail } from '../node/index.ts';
import { printJson } from './cli-output.ts';

export interface UserAddOptions {
  username: string;
  name: string;
  role: Role;
  uziRole?: string;
  /** A partner account's organization. */
  organization?: string;
  /** The password, read from standard input: never a command-line argument, which other users can see in `ps`. */
  password: string;
}

/**
 * `beeldbrug user add`: a local account (argon2id password, TOTP secret shown once). The first account of a node must
 * be an admin. The creation is an audit record (configuration change) by the operating-system user who ran it.
 */
export async function addUserFromCli(
  config: Readonly<Config>,
  o: UserAddOptions,
  out: NodeJS.WritableStream = process.stdout,
  json = false,
): Promise<void> {
  const accounts = await openAccounts(config);
  const audit = await openAuditTrail(config);
  try {
    if ((await accounts.count()) === 0 && o.role !== 'admin') {
      throw new BeeldbrugError(
        'COMMAND_LINE_INVALID',
        `--role ${o.role}: this node has no accounts yet, and the first one is an admin: run this with --role admin first`,
      );
    }
    const operator = userInfo().username;
    let created;
    try {
      created = await accounts.createLocal({
        username: o.username,
        name: o.name,
        role: o.role,
        password: o.password,
        ...(o.uziRole !== undefined ? { uziRoleCode: o.uziRole } : {}),
        ...(o.organization !== undefined ? { organization: o.organization } : {}),
        createdBy: { id: `os:${operator}`, name: `${operator} (beeldbrug user add)` },
      });
    } catch (err) {
      // Exit 1, not 2: the rule broken may be the password's, which comes from standard input, not the command line.
      if (err instanceof AccountError)
        throw new BeeldbrugError(err.code === 'SECRETS_KEY_MISMATCH' ? 'KEY_FILE_PROBLEM' : err.code, err.message);
      throw err;
    }
    await audit.record({
      action: 'configuration-change',
      outcome: 'success',
      description: `local account ${created.account.username} created with role ${created.account.role}`,
      user: { id: `os:${operator}`, name: `${operator} (beeldbrug user add)` },
      accessPoint: { node: config.node.name },
      objects: {},
      grounds: { purpose: 'account administration' },
    });
    const uri = totpUri(created.totpSecret, created.account.username, `Beeldbrug ${config.node.name}`);
    if (json) {
      printJson({ account: created.account, totpSecret: created.totpSecret, totpUri: uri }, out);
      return;
    }
    out.write(
      `created ${created.account.role} ${created.account.username} (${created.account.name})\n` +
        `TOTP secret (enter it in the authenticator app now; it is not shown again): ${created.totpSecret}\n` +
        `${uri}\n`,
    );
  } finally {
    await accounts.close();
    await audit.close();
  }
}

/**
 * The password: all of standard input without its final newline, as a script pipes it in. Typed at a terminal it is
 * one line, not shown: waiting silently for end-of-input there looked like a hang to everyone who tried it.
 */
export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return readHiddenLine('password (not shown, then Enter): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function readHiddenLine(prompt: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.setEncoding('utf8');
  input.resume();
  let line = '';
  return new Promise((done, fail) => {
    const finish = (): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish();
          done(line);
          return;
        }
        if (ch === '\u0003') {
          finish();
          fail(new BeeldbrugError('COMMAND_LINE_INVALID', 'cancelled: no account was created'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
        else line += ch;
      }
    };
    input.on('data', onData);
  });
}
