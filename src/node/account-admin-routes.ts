import { z } from 'zod';
import type { AuditTrail } from '../audit/index.ts';
import { AccountError, type AccountStore, type AccountSummary, ROLES, totpUri, type Session } from '../auth/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { bodyInvalid, documented, type HttpsApp, PERSON_ROUTES } from '../http/index.ts';

export interface AccountAdminDeps {
  accounts: AccountStore;
  audit: AuditTrail;
  /** This node's name: the access point of the records, and the issuer an authenticator app shows. */
  node: string;
}

/** An account as the admin's screen shows it (GET /api/v1/accounts). */
export type AccountView = AccountSummary;

/** A secret shown once: to a new user, or to one whose authenticator was lost. */
export interface NewSecondFactor {
  account: AccountView;
  totpSecret: string;
  /** The otpauth:// URI an authenticator app reads from a QR code. */
  totpUri: string;
}

const createBody = z.strictObject({
  username: z.string().min(1).max(64),
  name: z.string().min(1).max(200),
  role: z.enum(ROLES),
  /** A partner account's organization. */
  organization: z.string().min(1).max(200).optional(),
  uziRoleCode: z.string().min(1).max(16).optional(),
  password: z.string().min(1).max(1024),
});

/** Account changes take no body; an empty object is accepted for clients that always send one. */
const noBody = z.union([z.undefined(), z.null(), z.strictObject({})]);

type Change = 'disable' | 'enable' | 'unlock' | 'reset-second-factor';

const CHANGE_SUMMARY: Readonly<Record<Change, string>> = {
  disable: 'Disable an account: it signs in nowhere and its sessions end (not your own, not the last admin)',
  enable: 'Enable a disabled account',
  unlock: 'End a lockout after failed sign-ins at once',
  'reset-second-factor': 'Give a local account a new TOTP secret (answered once); the old one stops working',
};

/** The account store's refusals as catalog errors; anything else is unexpected and answered generically. */
export function catalogOf(err: unknown): unknown {
  return err instanceof AccountError && err.code !== 'SECRETS_KEY_MISMATCH'
    ? new BeeldbrugError(err.code, err.message)
    : err;
}

/**
 * The admin's management of local accounts: list, add (with a TOTP secret shown once), disable and enable, end a
 * lockout, and give a new second factor. Accounts carry no patient data, so these are configuration changes in the
 * audit trail, in the admin's name; an admin cannot disable their own account, nor the last enabled admin.
 */
/** An account error as the catalog's answer, thrown from `f`. */
export async function asCatalog<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw catalogOf(err);
  }
}

/**
 * A change to an account (an admin's, or a person's to their own password or keys): a configuration change in the
 * name of the person signed in, with what the session rests on.
 */
export async function recordAccountChange(
  d: { audit: AuditTrail; node: string },
  session: Session,
  ip: string,
  description: string,
  authorization: string,
): Promise<void> {
  const by = session.account;
  await d.audit.record({
    action: 'configuration-change',
    outcome: 'success',
    description,
    user: { id: by.id, name: by.name, ...(by.uziRoleCode !== undefined ? { roleCode: by.uziRoleCode } : {}) },
    accessPoint: { node: d.node, ip },
    objects: {},
    grounds: { purpose: 'account administration', authorization },
  });
}

export function registerAccountAdminRoutes(app: HttpsApp, d: AccountAdminDeps): void {
  const admin = documented(PERSON_ROUTES.admin, 'accounts');
  const issuer = `Beeldbrug ${d.node}`;

  const recordChange = (session: Session, ip: string, description: string): Promise<void> =>
    recordAccountChange(d, session, ip, description, 'admin role, two factors');

  app.get(
    '/api/v1/accounts',
    admin('Every local and identity-provider account, without secrets'),
    async (): Promise<{ accounts: AccountView[] }> => ({
      accounts: await d.accounts.list(),
    }),
  );

  app.post(
    '/api/v1/accounts',
    admin('Add a local account; its TOTP secret is answered once, with the otpauth URI for a QR code', {
      body: createBody,
      errors: ['ACCOUNT_INVALID', 'ACCOUNT_EXISTS'],
    }),
    async (req, reply) => {
      const parsed = createBody.safeParse(req.body);
      if (!parsed.success) throw bodyInvalid(parsed.error);
      const { uziRoleCode, ...rest } = parsed.data;
      const created = await d.accounts
        .createLocal({
          ...rest,
          ...(uziRoleCode !== undefined ? { uziRoleCode } : {}),
          createdBy: { id: req.session!.account.id, name: req.session!.account.name },
        })
        .catch((err: unknown) => {
          throw catalogOf(err);
        });
      const a = created.account;
      await recordChange(req.session!, req.ip, `local account ${a.username} (${a.name}) created with role ${a.role}`);
      const answer: NewSecondFactor = {
        account: (await d.accounts.find(a.id))!,
        totpSecret: created.totpSecret,
        totpUri: totpUri(created.totpSecret, a.username, issuer),
      };
      return reply.code(201).send(answer);
    },
  );

  const change = (what: Change) =>
    app.post<{ Params: { id: string } }>(
      `/api/v1/accounts/:id/${what}`,
      admin(CHANGE_SUMMARY[what], { body: noBody, errors: ['ACCOUNT_INVALID', 'ACCOUNT_NOT_FOUND'] }),
      async (req) => {
        if (!noBody.safeParse(req.body).success) throw new BeeldbrugError('REQUEST_INVALID', `${what} takes no body`);
        const self = req.session!.account;
        if (what === 'disable' && req.params.id === self.id)
          throw new BeeldbrugError('ACCOUNT_INVALID', 'you cannot disable your own account: ask another admin');
        const before = await d.accounts.find(req.params.id);
        if (before === undefined)
          throw new BeeldbrugError('ACCOUNT_NOT_FOUND', `no account ${req.params.id} on this node`);
        const who = `${before.username} (${before.name})`;
        switch (what) {
          case 'disable': {
            const after = await asCatalog(() => d.accounts.setDisabled(before.id, true));
            await recordChange(req.session!, req.ip, `account ${who} disabled; its sessions ended`);
            return { account: after };
          }
          case 'enable': {
            const after = await asCatalog(() => d.accounts.setDisabled(before.id, false));
            await recordChange(req.session!, req.ip, `account ${who} enabled`);
            return { account: after };
          }
          case 'unlock': {
            const after = await asCatalog(() => d.accounts.unlock(before.id));
            await recordChange(req.session!, req.ip, `account ${who} unlocked`);
            return { account: after };
          }
          case 'reset-second-factor': {
            const r = await asCatalog(() => d.accounts.resetSecondFactor(before.id));
            await recordChange(
              req.session!,
              req.ip,
              `account ${who}: second factor (TOTP) replaced; the old one no longer works, its sessions ended`,
            );
            const answer: NewSecondFactor = {
              account: r.account,
              totpSecret: r.totpSecret,
              totpUri: totpUri(r.totpSecret, before.username, issuer),
            };
            return answer;
          }
        }
      },
    );
  for (const what of ['disable', 'enable', 'unlock', 'reset-second-factor'] as const) change(what);
}
