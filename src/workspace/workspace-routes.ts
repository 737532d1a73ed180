import { fileURLToPath } from 'node:url';
import type { DimsePeerConfig, PartnerConfig } from '../config/index.ts';
import { documented, type HttpsApp } from '../http/index.ts';
import { StaticFiles, WORKSPACE_CSP } from './static-files.ts';

/** Where `npm run build:ui` writes the web app. */
export const WORKSPACE_ROOT = fileURLToPath(new URL('../../ui/dist/', import.meta.url));

/** GET /api/v1/workspace (public): which hospital this is, and how its people sign in. */
export interface WorkspaceInfo {
  organization: { name: string; ura: string };
  signIn: { password: boolean; oidc: boolean };
  /** Where partner accounts reach their folders over SFTP, and the host key's fingerprint they check on first connect. */
  sftp?: { port: number; hostKeyFingerprint: string };
}

/** GET /api/v1/destinations: where a study can be sent, the partner hospitals and the PACS. */
export interface Destinations {
  partners: { name: string; ura: string }[];
  pacs: { aeTitle: string; description?: string }[];
  /** The PACS the study list can also search (exchange.fetchFrom), when there is one. */
  pacsSearch?: { aeTitle: string; description?: string };
  /** Partner organizations with an account here: a share can go to their download folder. */
  partnerAccounts: { username: string; organization: string }[];
}

export interface WorkspaceRouteDeps {
  /** The folder of the built web app; WORKSPACE_ROOT unless a test builds its own. */
  root?: string;
  organization: { name: string; ura: string };
  partners: readonly PartnerConfig[];
  /** The PACS a held study can be accepted into: DIMSE peers the node can connect to. */
  pacs: readonly DimsePeerConfig[];
  /** Whether people can sign in through the hospital's identity provider. */
  oidc: boolean;
  /** The PACS the study list can also search. */
  pacsSearch?: { aeTitle: string; description?: string } | undefined;
  sftp?: WorkspaceInfo['sftp'] | undefined;
  /** The enabled partner accounts, read when asked (an admin may add one at any time). */
  partnerAccounts: () => Promise<{ username: string; organization: string }[]>;
}

// Shown when the node runs from a checkout where the web app was never built: says what to do, names no patient.
const notBuilt = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Beeldbrug</title>
<body style="font-family:sans-serif;max-width:40em;margin:4em auto">
<h1>The workspace is not built</h1>
<p>This node serves its API, but the web app has not been built on this machine. Run <code>npm run build:ui</code>
in the Beeldbrug folder and reload this page.</p></body></html>`;

/**
 * The staff workspace: the built web app at `/`, what its sign-in page may know before anyone signs in (which hospital
 * this is, whether the identity provider is there), and the destinations a signed-in person picks from.
 */
export function registerWorkspaceRoutes(app: HttpsApp, d: WorkspaceRouteDeps): void {
  const files = new StaticFiles(d.root ?? WORKSPACE_ROOT);
  const page = { config: { access: 'public' as const } };
  const about = documented('public', 'workspace');

  app.get('/', about('The staff workspace (the web app)'), async (_req, reply) => {
    if (files.built) return files.send(reply, '/index.html');
    return reply
      .code(503)
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', WORKSPACE_CSP)
      .send(notBuilt);
  });
  // The recipient's page of a share: the token stays in the fragment, which no request carries.
  app.get('/share', about("The page a share's recipient opens from the e-mail"), async (_req, reply) =>
    files.has('/share.html') ? files.send(reply, '/share.html') : reply.callNotFound(),
  );
  app.get<{ Params: { '*': string } }>('/assets/*', page, async (req, reply) => {
    const path = `/assets/${req.params['*']}`;
    if (!files.has(path)) return reply.callNotFound();
    return files.send(reply, path);
  });
  app.get('/favicon.svg', about("The workspace's icon"), async (_req, reply) =>
    files.has('/favicon.svg') ? files.send(reply, '/favicon.svg') : reply.callNotFound(),
  );

  app.get(
    '/api/v1/workspace',
    about('Which hospital this is, and how its people sign in'),
    async (): Promise<WorkspaceInfo> => ({
      organization: d.organization,
      signIn: { password: true, oidc: d.oidc },
      ...(d.sftp !== undefined ? { sftp: d.sftp } : {}),
    }),
  );

  app.get(
    '/api/v1/destinations',
    {
      config: {
        access: { roles: ['radiologist', 'staff', 'admin'] },
        doc: { tag: 'workspace', summary: 'Where a study can go: the partner hospitals and the PACS' },
      },
    },
    async (): Promise<Destinations> => ({
      partners: d.partners.map((p) => ({ name: p.name, ura: p.ura })),
      pacs: d.pacs
        .filter((p) => p.port !== undefined)
        .map((p) => ({ aeTitle: p.aeTitle, ...(p.description !== undefined ? { description: p.description } : {}) })),
      ...(d.pacsSearch !== undefined ? { pacsSearch: d.pacsSearch } : {}),
      partnerAccounts: await d.partnerAccounts(),
    }),
  );
}
