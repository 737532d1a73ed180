// A hospital identity provider for the tests: the `oidc-provider` package (a certified OpenID Provider) over HTTPS with
// a certificate from the test CA, one confidential client (the node), PKCE required, and a few people with their
// groups and the way they signed in (amr). The login page is replaced by one POST naming the person, as a browser
// would submit the provider's form; everything after that (codes, tokens, signatures, userinfo) is the provider's own.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import Provider from 'oidc-provider';
import { type IssuedCertificate, issueNodeCertificate } from '../../src/auth/index.ts';

export interface IdpPerson {
  name: string;
  username: string;
  groups: string[];
  amr: string[];
  uziRoleCode?: string;
}

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The provider's own TLS certificate (a browser is told to trust its key). */
  certPem: string;
}

/** Starts the identity provider on a free loopback port; `redirectUri` is the node's callback. */
export async function startTestIdp(
  t: TestContext,
  o: { ca: IssuedCertificate; redirectUri: string; people: Readonly<Record<string, IdpPerson>> },
): Promise<TestIdp> {
  const server = issueNodeCertificate(o.ca, {
    commonName: 'idp.test',
    organization: { name: 'Ziekenhuis Noord IdP', ura: '10000001' },
    hosts: ['127.0.0.1'],
  });
  const https = createServer({ key: server.keyPem, cert: server.certPem });
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => https.close(() => resolve())));
  const issuer = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
  const clientId = 'beeldbrug-noord';
  const clientSecret = randomBytes(24).toString('base64url');
  const signingKey = {
    ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
    kid: 'idp-test-1',
    use: 'sig',
    alg: 'RS256',
  };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [o.redirectUri],
        // The code flow for the browser, the device flow for `beeldbrug login --oidc` at a terminal (RFC 8628).
        grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    pkce: { required: () => true },
    ttl: { AuthorizationCode: 60, AccessToken: 600, IdToken: 600, Interaction: 600, Grant: 3600, Session: 3600 },
    claims: {
      amr: null,
      auth_time: null,
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'groups', 'uzi_role_code'],
    },
    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: true },
      deviceFlow: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx, id) => {
      const p = o.people[id];
      if (p === undefined) return undefined;
      return {
        accountId: id,
        claims: () => ({
          sub: id,
          name: p.name,
          preferred_username: p.username,
          groups: p.groups,
          ...(p.uziRoleCode !== undefined ? { uzi_role_code: p.uziRoleCode } : {}),
        }),
      };
    },
    // The node is the hospital's own application: the person is not asked to consent to it sharing their profile.
    loadExistingGrant: async (ctx) => {
      const existing = ctx.oidc.result?.['consent']?.grantId ?? ctx.oidc.session?.grantIdFor(ctx.oidc.client!.clientId);
      if (existing !== undefined) return ctx.oidc.provider.Grant.find(existing);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client!.clientId,
        accountId: ctx.oidc.session!.accountId!,
      });
      grant.addOIDCScope('openid profile');
      await grant.save();
      return grant;
    },
  });
  const callback = provider.callback();
  https.on('request', (req: IncomingMessage, res: ServerResponse) => {
    // The provider's sign-in page, as a browser shows it: a form naming the person (their password is the provider's).
    const page = /^\/interaction\/([\w-]+)$/.exec(req.url ?? '');
    if (page !== null && req.method === 'GET') {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(
        `<!doctype html><html lang="nl"><title>Ziekenhuis Noord: inloggen</title><body><h1>Ziekenhuis Noord</h1>` +
          `<form method="post" action="/interaction/${page[1]}/login"><label>Account <input name="person"></label>` +
          `<button type="submit">Inloggen bij het ziekenhuis</button></form></body></html>`,
      );
      return;
    }
    const login = /^\/interaction\/([\w-]+)\/login$/.exec(req.url ?? '');
    if (login === null || req.method !== 'POST') return void callback(req, res);
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const who = new URLSearchParams(body).get('person') ?? '';
      const person = o.people[who];
      const result =
        person !== undefined
          ? { login: { accountId: who, amr: person.amr } }
          : { error: 'access_denied', error_description: 'unknown person' };
      provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false }).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
  });
  return { issuer, clientId, clientSecret, certPem: server.certPem };
}
