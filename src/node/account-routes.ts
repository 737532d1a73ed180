import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AUDIT_ACTIONS, type AuditEvent, type AuditTrail } from '../audit/index.ts';
import { readFileSync } from 'node:fs';
import {
  type Account,
  type AccountStore,
  ROLES,
  type CheckedAssertion,
  type OidcOutcome,
  type OidcSignIn,
  onBehalfOfVerifier,
  type Role,
  type Session,
  type SignInRateLimit,
} from '../auth/index.ts';
import type { Config } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import {
  cookieOf,
  type HttpsApp,
  type RouteDoc,
  PERSON_ROUTES,
  problemOf,
  SESSION_COOKIE,
  sendProblem,
  sessionTokenOf,
} from '../http/index.ts';
import type { Logger } from '../log/index.ts';
import { asCatalog, catalogOf, recordAccountChange } from './account-admin-routes.ts';
import { refuseThrottled } from './sign-in-throttle.ts';

export interface AccountRouteDeps {
  accounts: AccountStore;
  audit: AuditTrail;
  node: string;
  logger: Logger;
  /** Sign-in through the hospital's identity provider, when configured. */
  oidc?: OidcSignIn;
  /** Password sign-ins per address and in all, beside the per-account lockout. */
  signInLimit: SignInRateLimit;
}

const OIDC_COOKIE = 'beeldbrug_oidc';
const OIDC_PATH = '/api/v1/session/oidc';
/** A terminal waiting for a device sign-in asks again after this long: one request per 20 s, not per second. */
const DEVICE_WAIT_MS = 20_000;
const deviceTokenBody = z.strictObject({ handle: z.string().min(20).max(100) });

const sessionCookie = (token: string, expiresAt: string): string =>
  `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${Math.max(0, Math.floor((Date.parse(expiresAt) - Date.now()) / 1000))}`;

const signInBody = z.strictObject({
  username: z.string().min(1).max(64),
  password: z.string().min(1).max(1024),
  code: z.string().min(1).max(12),
  /** Only when the answer was PASSWORD_EXPIRED: the new password, sent with the same password and code. */
  newPassword: z.string().min(1).max(1024).optional(),
});

const passwordBody = z.strictObject({
  currentPassword: z.string().min(1).max(1024),
  newPassword: z.string().min(1).max(1024),
});

const sshKeyBody = z.strictObject({ publicKey: z.string().min(1).max(16_384) });
const sshKeyRemoveBody = z.strictObject({ fingerprint: z.string().min(1).max(100) });

/** Every role that signs in to the web, partners included: who may ask who they are, sign out, change a password. */
const ANY_ROLE = { roles: ROLES };

const auditQuery = z.strictObject({
  bsn: z
    .string()
    .regex(/^\d{9}$/, 'a BSN is 9 digits')
    .optional(),
  user: z.string().min(1).max(200).optional(),
  action: z.enum(AUDIT_ACTIONS).optional(),
  since: z.iso.datetime().optional(),
  until: z.iso.datetime().optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
  purpose: z.string().min(1).max(200).default('audit'),
});

const userOf = (a: Account): AuditEvent['user'] => ({
  id: a.id,
  name: a.name,
  ...(a.uziRoleCode !== undefined ? { roleCode: a.uziRoleCode } : {}),
});

/**
 * Sign-in, sign-out and the auditor's view of the audit trail. Every sign-in, failed or not, is an audit record; the
 * answer to a failure is one and the same whatever went wrong, so it tells nobody whether a user name exists, whether
 * it is locked, or which factor was wrong. Reading the trail takes the auditor role and a two-factor session, and is
 * recorded before anything is sent: when that record cannot be written, nothing is read.
 */
// The one answer to every failed sign-in: the same bytes whichever part failed, so it carries no request id either.
const signInFailed = problemOf('SIGN_IN_FAILED', 'sign-in failed');
// The same for a browser coming back from the identity provider, in words a person reads.
const SIGN_IN_FAILED_PAGE = `<!doctype html><html lang="nl"><meta charset="utf-8"><title>Beeldbrug: inloggen mislukt</title>
<body style="font-family:sans-serif;max-width:36em;margin:4em auto"><h1>Inloggen mislukt</h1>
<p>Inloggen via het ziekenhuisaccount is niet gelukt. Probeer het opnieuw; lukt het weer niet, vraag de beheerder dan of
uw account een rol in Beeldbrug heeft.</p>
<p lang="en">Signing in with the hospital account failed. Try again; if it fails again, ask the administrator whether
your account has a role in Beeldbrug.</p>
<p><a href="/">Terug naar Beeldbrug / Back to Beeldbrug</a></p></body></html>`;

export function registerAccountRoutes(app: HttpsApp, d: AccountRouteDeps): void {
  const doc = (summary: string, more: Omit<RouteDoc, 'tag' | 'summary'> = {}): RouteDoc => ({
    tag: 'sessions',
    summary,
    ...more,
  });
  app.post(
    '/api/v1/session',
    {
      config: {
        access: 'sign-in',
        doc: doc('Sign in with user name, password and TOTP code: a session cookie and bearer token', {
          body: signInBody,
          errors: ['SIGN_IN_FAILED', 'SIGN_IN_RATE_LIMITED', 'PASSWORD_EXPIRED', 'ACCOUNT_INVALID'],
        }),
      },
    },
    async (req, reply) => {
      const body = signInBody.safeParse(req.body);
      if (!body.success) throw new BeeldbrugError('REQUEST_INVALID', 'username, password and code are required');
      const admission = d.signInLimit.admit(req.ip);
      if (!admission.ok) return refuseThrottled(reply, admission, req.ip, d.logger);
      const r = await d.accounts.signIn(body.data).catch((err: unknown) => {
        // A new password that breaks a rule, told only after password and code were right.
        throw catalogOf(err);
      });
      if (r.ok) admission.succeeded();
      const at = { node: d.node, ip: req.ip };
      if (!r.ok && r.reason === 'password-expired') {
        admission.succeeded();
        await d.audit.record({
          action: 'login-failure',
          outcome: 'failure',
          description: 'sign-in held: the password has expired and must be changed first',
          user: userOf(r.account!),
          accessPoint: at,
          objects: {},
          grounds: { authorization: 'local password + TOTP' },
        });
        throw new BeeldbrugError(
          'PASSWORD_EXPIRED',
          'your password has expired: choose a new one, and sign in with it and the same code',
        );
      }
      if (!r.ok) {
        await d.audit.record({
          action: 'login-failure',
          outcome: 'failure',
          description: `sign-in refused (${r.reason})`,
          user:
            r.account !== undefined
              ? userOf(r.account)
              : { id: `unknown:${body.data.username.toLowerCase().slice(0, 64)}`, name: '(unknown user name)' },
          accessPoint: at,
          objects: {},
          grounds: { authorization: 'local password + TOTP' },
        });
        return sendProblem(reply, signInFailed);
      }
      await d.audit.record({
        action: 'login',
        outcome: 'success',
        description: body.data.newPassword !== undefined ? 'signed in with a new password' : 'signed in',
        user: userOf(r.session.account),
        accessPoint: at,
        objects: {},
        grounds: { authorization: 'local password + TOTP' },
      });
      void reply.header('set-cookie', sessionCookie(r.token, r.session.expiresAt));
      return { token: r.token, user: publicAccount(r.session), expiresAt: r.session.expiresAt };
    },
  );

  if (d.oidc !== undefined) registerOidcRoutes(app, d, d.oidc);

  app.get(
    '/api/v1/session',
    {
      config: {
        access: ANY_ROLE,
        doc: doc('Who is signed in, with which role, until when'),
      },
    },
    async (req): Promise<SessionView> => ({
      user: publicAccount(req.session!),
      twoFactor: req.session!.twoFactor,
      expiresAt: req.session!.expiresAt,
    }),
  );

  app.delete(
    '/api/v1/session',
    {
      config: {
        access: ANY_ROLE,
        doc: doc('Sign out: the session ends'),
      },
    },
    async (req, reply) => {
      const token = sessionTokenOf(req);
      if (token !== undefined) await d.accounts.endSession(token);
      await d.audit.record({
        action: 'logout',
        outcome: 'success',
        description: 'signed out',
        user: userOf(req.session!.account),
        accessPoint: { node: d.node, ip: req.ip },
        objects: {},
        grounds: {},
      });
      void reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0`);
      return reply.code(204).send();
    },
  );

  /** A signed-in person changed their own account (password, SSH keys): a configuration change in their name. */
  const ownAccountChange = (req: FastifyRequest, description: string): Promise<void> =>
    recordAccountChange(d, req.session!, req.ip, description, 'session, two factors');
  app.post(
    '/api/v1/session/password',
    {
      config: {
        access: { ...ANY_ROLE, twoFactor: true },
        doc: doc("Change one's own password (local accounts): the current one, and a new one; other sessions end", {
          body: passwordBody,
          errors: ['SIGN_IN_FAILED', 'ACCOUNT_INVALID'],
        }),
      },
    },
    async (req, reply) => {
      const body = passwordBody.safeParse(req.body);
      if (!body.success) throw new BeeldbrugError('REQUEST_INVALID', 'currentPassword and newPassword are required');
      const session = req.session!;
      const token = sessionTokenOf(req) ?? '';
      await d.accounts
        .changePassword(session.account.id, body.data.currentPassword, body.data.newPassword, token)
        .catch((err: unknown) => {
          throw catalogOf(err);
        });
      await ownAccountChange(req, 'own password changed; the other sessions of the account ended');
      return reply.code(204).send();
    },
  );

  // A partner's SSH keys for SFTP: registered by the partner itself, on the web, with two factors.
  app.get(
    '/api/v1/session/ssh-keys',
    { config: { access: PERSON_ROUTES.partner, doc: doc("The partner's SSH keys for SFTP") } },
    async (req) => ({ keys: await d.accounts.sshKeysOf(req.session!.account.id) }),
  );
  app.post(
    '/api/v1/session/ssh-keys',
    {
      config: {
        access: PERSON_ROUTES.partner,
        doc: doc('Register an SSH public key (an OpenSSH .pub line) for SFTP', {
          body: sshKeyBody,
          errors: ['ACCOUNT_INVALID', 'ACCOUNT_EXISTS'],
        }),
      },
    },
    async (req, reply) => {
      const body = sshKeyBody.safeParse(req.body);
      if (!body.success) throw new BeeldbrugError('REQUEST_INVALID', 'publicKey is required: the .pub file');
      const key = await asCatalog(() => d.accounts.addSshKey(req.session!.account.id, body.data.publicKey));
      await ownAccountChange(req, `SSH key ${key.fingerprint} (${key.type}) registered for SFTP`);
      return reply.code(201).send(key);
    },
  );
  app.post(
    '/api/v1/session/ssh-keys/remove',
    {
      config: {
        access: PERSON_ROUTES.partner,
        doc: doc('Remove a registered SSH key: it signs in no more', {
          body: sshKeyRemoveBody,
          errors: ['ACCOUNT_NOT_FOUND'],
        }),
      },
    },
    async (req, reply) => {
      const body = sshKeyRemoveBody.safeParse(req.body);
      if (!body.success) throw new BeeldbrugError('REQUEST_INVALID', 'fingerprint is required (SHA256:...)');
      await asCatalog(() => d.accounts.removeSshKey(req.session!.account.id, body.data.fingerprint));
      await ownAccountChange(req, `SSH key ${body.data.fingerprint} removed`);
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/v1/audit',
    {
      config: {
        access: PERSON_ROUTES.audit,
        doc: {
          tag: 'audit',
          summary: 'Read the audit trail (NEN 7513), filtered; the reading is itself recorded',
          query: auditQuery,
        },
      },
    },
    async (req) => {
      const q = auditQuery.safeParse(req.query);
      if (!q.success)
        throw new BeeldbrugError(
          'REQUEST_INVALID',
          q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        );
      const { purpose, user, ...rest } = q.data;
      const filter = { ...rest, ...(user !== undefined ? { userId: user } : {}) };
      const shown = Object.entries({ ...filter, limit: undefined })
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(', ');
      await d.audit.record({
        action: 'audit-read',
        outcome: 'success',
        description: `audit trail read${shown !== '' ? ` (${shown})` : ''}`,
        user: userOf(req.session!.account),
        accessPoint: { node: d.node, ip: req.ip },
        ...(filter.bsn !== undefined ? { patient: { bsn: filter.bsn } } : {}),
        objects: {},
        grounds: { purpose, authorization: 'auditor role, two factors' },
      });
      return { records: await d.audit.list(filter) };
    },
  );

  // The whole chain recomputed, as `beeldbrug audit verify` does: no patient data in the answer, but only auditors ask,
  // and each verification is itself recorded.
  app.get(
    '/api/v1/audit/verification',
    {
      config: {
        access: PERSON_ROUTES.audit,
        doc: {
          tag: 'audit',
          summary: 'Recompute the hash chain of the whole trail: intact, or where it breaks',
          errors: ['AUDIT_TRAIL_BROKEN'],
        },
      },
    },
    async (req): Promise<AuditChainView> => {
      const v = await d.audit.verify();
      await d.audit.record({
        action: 'audit-read',
        outcome: v.ok ? 'success' : 'failure',
        description: v.ok
          ? `audit chain verified: intact, ${v.records} records`
          : `audit chain verified: broken at record ${v.firstBadSequence} (${v.problem})`,
        user: userOf(req.session!.account),
        accessPoint: { node: d.node, ip: req.ip },
        objects: {},
        grounds: { authorization: 'auditor role, two factors' },
      });
      return v.ok
        ? { intact: true, records: v.records }
        : { intact: false, records: v.records, firstBadSequence: v.firstBadSequence, problem: v.problem };
    },
  );
}

/**
 * The browser is sent to the identity provider and comes back with a code. The state travels in a cookie scoped to
 * these two routes (SameSite=Lax: the way back is a top-level navigation from the provider's site), so that a callback
 * this browser did not start signs nobody in. Failures get one answer, the reason goes to the audit trail.
 */
function registerOidcRoutes(app: HttpsApp, d: AccountRouteDeps, signIn: OidcSignIn): void {
  const authorization = `OpenID Connect (${signIn.issuer})`;
  const doc = (summary: string, more: Omit<RouteDoc, 'tag' | 'summary'> = {}): RouteDoc => ({
    tag: 'sessions',
    summary,
    ...more,
  });
  app.get(
    OIDC_PATH,
    { config: { access: 'sign-in', doc: doc("Start signing in at the hospital's identity provider (a redirect)") } },
    async (req, reply) => {
      let begun: { url: string; state: string };
      try {
        begun = await signIn.begin();
      } catch (err) {
        d.logger.error({ err, issuer: signIn.issuer }, 'the identity provider cannot be reached');
        return sendProblem(
          reply,
          problemOf('IDENTITY_PROVIDER_UNREACHABLE', 'the identity provider did not answer; try again later', {
            instance: req.id,
          }),
        );
      }
      void reply.header(
        'set-cookie',
        `${OIDC_COOKIE}=${begun.state}; Path=${OIDC_PATH}; HttpOnly; Secure; SameSite=Lax; Max-Age=600`,
      );
      return reply.redirect(begun.url, 303);
    },
  );

  app.get(
    `${OIDC_PATH}/callback`,
    {
      config: { access: 'sign-in', doc: doc('Where the identity provider sends the browser back; opens the session') },
    },
    async (req, reply) => {
      // The URL the provider redirected to, as registered: openid-client takes the redirect_uri for the code exchange from it.
      const callback = new URL(signIn.redirectUri);
      callback.search = new URL(req.url, 'https://callback.invalid').search;
      // Counted as a sign-in: forged or replayed callbacks from one address, or from many, are slowed like passwords.
      const admission = d.signInLimit.admit(req.ip);
      if (!admission.ok) return refuseThrottled(reply, admission, req.ip, d.logger);
      const outcome = await signIn.finish(callback, cookieOf(req, OIDC_COOKIE));
      if (outcome.ok) admission.succeeded();
      void reply.header('set-cookie', `${OIDC_COOKIE}=; Path=${OIDC_PATH}; HttpOnly; Secure; SameSite=Lax; Max-Age=0`);
      const r = await complete(outcome, req.ip, authorization);
      if (r === undefined) {
        // A browser lands here from the provider: it gets a page it can read and a way back, the same for every failure.
        if (!/text\/html/.test(req.headers.accept ?? '')) return sendProblem(reply, signInFailed);
        return reply
          .code(401)
          .header('content-type', 'text/html; charset=utf-8')
          .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
          .send(SIGN_IN_FAILED_PAGE);
      }
      void reply.header('set-cookie', sessionCookie(r.token, r.session.expiresAt));
      return reply.redirect('/', 303);
    },
  );

  /** Signs the person in (a session, a login record), or records the refusal; undefined when refused. */
  const complete = async (
    outcome: OidcOutcome,
    ip: string,
    how: string,
  ): Promise<{ token: string; session: Session } | undefined> => {
    const at = { node: d.node, ip };
    if (!outcome.ok) {
      d.logger.warn({ remote: ip, reason: outcome.reason, detail: outcome.detail }, 'OpenID Connect sign-in refused');
      await d.audit.record({
        action: 'login-failure',
        outcome: 'failure',
        description: `sign-in refused (${outcome.reason}: ${outcome.detail})`,
        user: {
          id: outcome.subject !== undefined ? `oidc:${outcome.subject}` : 'unknown:oidc',
          name: outcome.name ?? '(not identified)',
        },
        accessPoint: at,
        objects: {},
        grounds: { authorization: how },
      });
      return undefined;
    }
    const { identity } = outcome;
    const r = await d.accounts.signInExternal(identity);
    if (r === undefined) {
      await d.audit.record({
        action: 'login-failure',
        outcome: 'failure',
        description: 'sign-in refused (disabled: the account is disabled on this node)',
        user: { id: `oidc:${identity.subject}`, name: identity.name },
        accessPoint: at,
        objects: {},
        grounds: { authorization: how },
      });
      return undefined;
    }
    await d.audit.record({
      action: 'login',
      outcome: 'success',
      description: `signed in (amr ${identity.amr.join('+') || 'none'}; ${identity.twoFactor ? 'two factors' : 'one factor'})`,
      user: userOf(r.session.account),
      accessPoint: at,
      objects: {},
      grounds: { authorization: how },
    });
    return r;
  };

  // A terminal without a browser (`beeldbrug login --oidc`): the person signs in at the provider on any device with the
  // code shown, while the terminal waits here. The node keeps the client secret; the terminal holds only a handle.
  const deviceAuthorization = `OpenID Connect device sign-in (${signIn.issuer})`;
  app.post(
    `${OIDC_PATH}/device`,
    {
      config: {
        access: 'sign-in',
        doc: doc('Start a device sign-in for a terminal: a code to enter at the identity provider, and a handle'),
      },
    },
    async (req, reply) => {
      // Each start counts: it makes the node ask the provider, so a flood of them is slowed like password guessing.
      const admission = d.signInLimit.admit(req.ip);
      if (!admission.ok) return refuseThrottled(reply, admission, req.ip, d.logger);
      let begun;
      try {
        begun = await signIn.beginDevice();
      } catch (err) {
        d.logger.error({ err, issuer: signIn.issuer }, 'the identity provider cannot be reached');
        throw new BeeldbrugError(
          'IDENTITY_PROVIDER_UNREACHABLE',
          'the identity provider did not answer; try again later',
        );
      }
      if (begun === undefined)
        throw new BeeldbrugError(
          'REQUEST_INVALID',
          'the identity provider offers no device sign-in; sign in with a password and a code from the authenticator app',
        );
      return begun;
    },
  );

  app.post(
    `${OIDC_PATH}/device/token`,
    {
      config: {
        access: 'sign-in',
        doc: doc('Wait for a device sign-in to finish (answers within about 20 s): the session, or pending', {
          body: deviceTokenBody,
        }),
      },
    },
    async (req, reply) => {
      const body = deviceTokenBody.safeParse(req.body);
      if (!body.success) throw new BeeldbrugError('REQUEST_INVALID', 'handle is required');
      // A wait that is still pending, and a sign-in that succeeds, give their place back: guessed handles and refusals count.
      const admission = d.signInLimit.admit(req.ip);
      if (!admission.ok) return refuseThrottled(reply, admission, req.ip, d.logger);
      const result = await signIn.pollDevice(body.data.handle, DEVICE_WAIT_MS);
      if (result === 'pending' || (result !== 'unknown' && result.ok)) admission.succeeded();
      if (result === 'pending') return reply.code(202).send({ status: 'pending' });
      const outcome: OidcOutcome =
        result === 'unknown'
          ? {
              ok: false,
              reason: 'unknown-state',
              detail: 'the handle does not belong to a device sign-in this node started, or was used already',
            }
          : result;
      const r = await complete(outcome, req.ip, deviceAuthorization);
      if (r === undefined) return sendProblem(reply, signInFailed);
      return { token: r.token, user: publicAccount(r.session), expiresAt: r.session.expiresAt };
    },
  );
}

/** A signed-in person as the API shows them. */
export interface SessionUser {
  username: string;
  name: string;
  role: Role;
  uziRoleCode?: string;
  /** A partner account's organization. */
  organization?: string;
  /** When the password must be changed (partner accounts): the web app warns in the 14 days before. */
  passwordExpiresAt?: string;
}

/** GET /api/v1/session: who is signed in, with both factors or not, and until when. */
export interface SessionView {
  user: SessionUser;
  twoFactor: boolean;
  expiresAt: string;
}

/** GET /api/v1/audit/verification: the chain intact, or where it breaks. */
export type AuditChainView =
  { intact: true; records: number } | { intact: false; records: number; firstBadSequence: number; problem: string };

function publicAccount(s: Session): SessionUser {
  return {
    username: s.account.username,
    name: s.account.name,
    role: s.account.role,
    ...(s.account.uziRoleCode !== undefined ? { uziRoleCode: s.account.uziRoleCode } : {}),
    ...(s.account.organization !== undefined ? { organization: s.account.organization } : {}),
    ...(s.passwordExpiresAt !== undefined ? { passwordExpiresAt: s.passwordExpiresAt } : {}),
  };
}

/**
 * The checker of the assertions with which the hospital's own systems act for a person (auth.assertions), or undefined
 * when none is configured: then a system acts only in its own name. A key file that cannot be read stops the start.
 */
export function openAssertions(config: Readonly<Config>): ((jwt: string) => Promise<CheckedAssertion>) | undefined {
  const a = config.auth.assertions;
  if (a === undefined || a.trustedKeys.length === 0) return undefined;
  const read = (file: string, issuer: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (cause) {
      throw new BeeldbrugError(
        'KEY_FILE_PROBLEM',
        `auth.assertions.trustedKeys: ${file} (issuer ${issuer}) cannot be read`,
        { cause },
      );
    }
  };
  const issuers = a.trustedKeys.map((k) =>
    k.jwksUri !== undefined
      ? { issuer: k.issuer, jwksUri: k.jwksUri, ...(k.caFile !== undefined ? { ca: read(k.caFile, k.issuer) } : {}) }
      : { issuer: k.issuer, publicKeyPem: read(k.publicKeyFile ?? '', k.issuer) },
  );
  try {
    return onBehalfOfVerifier({
      issuers,
      audience: a.audience,
      maxAgeSeconds: a.maxAgeSeconds,
      roleCodeClaim: a.roleCodeClaim,
    });
  } catch (cause) {
    throw new BeeldbrugError(
      'KEY_FILE_PROBLEM',
      'auth.assertions.trustedKeys: a key file does not hold a PEM public key',
      { cause },
    );
  }
}
