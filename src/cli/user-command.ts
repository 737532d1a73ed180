import { userInfo } from 'node:os';
import { AccountError, type Role, totpUri } from '../auth/index.ts';
import type { Config } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { openAccounts, openAuditTrail } from '../node/index.ts';

export interface UserAddOptions {
  username: string;
  name: string;
  role: Role;
  uziRole?: string;
  /** The password, read from standard input: never a command-line argument, which other users can see in `ps`. */
  password: string;
}

/**
 * `beeldbrug user add`: a local account (argon2id password, TOTP secret shown once). The first account of a node must
 * be an admin. The creation is an audit record (configuration change) by the operating-system user who ran it.
 */
export async function addUserFromCli(config: Readonly<Config>, o: UserAddOptions, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const accounts = openAccounts(config);
  const audit = openAuditTrail(config);
  try {
    if (accounts.count() === 0 && o.role !== 'admin') throw new BeeldbrugError('CONFIG_INVALID', 'the first account of a node is an admin: run this with --role admin first');
    let created;
    try {
      created = await accounts.createLocal({ username: o.username, name: o.name, role: o.role, password: o.password, ...(o.uziRole !== undefined ? { uziRoleCode: o.uziRole } : {}) });
    } catch (err) {
      if (err instanceof AccountError) throw new BeeldbrugError('CONFIG_INVALID', err.message);
      throw err;
    }
    const operator = userInfo().username;
    audit.record({
      action: 'configuration-change',
      outcome: 'success',
      description: `local account ${created.account.username} created with role ${created.account.role}`,
      user: { id: `os:${operator}`, name: `${operator} (beeldbrug user add)` },
      accessPoint: { node: config.node.name },
      objects: {},
      grounds: { purpose: 'account administration' },
    });
    out.write(
      `created ${created.account.role} ${created.account.username} (${created.account.name})\n` +
        `TOTP secret (enter it in the authenticator app now; it is not shown again): ${created.totpSecret}\n` +
        `${totpUri(created.totpSecret, created.account.username, `Beeldbrug ${config.node.name}`)}\n`,
    );
  } finally {
    accounts.close();
    audit.close();
  }
}

/** All of standard input as text, without its final newline. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
