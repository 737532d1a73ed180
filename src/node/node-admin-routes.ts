import type { Config } from '../config/index.ts';
import { documented, type HttpsApp, PERSON_ROUTES } from '../http/index.ts';
import type { NodeMetrics } from '../metrics/index.ts';
import { type Finding, runDoctor } from './doctor.ts';

/** GET /api/v1/configuration: what the node is set up with, as an admin checks it; no secrets, no patient data. */
export interface NodeConfigurationView {
  node: { name: string; organization: { name: string; ura: string } };
  dimse: {
    aeTitle: string;
    listeners: { host: string; port: number; tls: boolean }[];
    /** The allow-list; those with a port are also destinations (PACS, viewers). */
    peers: { aeTitle: string; host: string; port?: number; tls: boolean; description?: string }[];
  };
  exchange?: {
    listen: { host: string; port: number };
    partners: { name: string; ura: string; baseUrl?: string; aeTitle?: string }[];
    /** Where arriving studies go: the first matching rule decides, none means hold. */
    routing: NonNullable<Config['exchange']>['routing'];
    patientIdentity: string;
  };
  /** Days a received copy is kept (0: kept until removed by hand). */
  retentionDays: number;
  auditRetentionYears: number;
  signIn: { oidc: boolean; sessionIdleMinutes: number; sessionMaxHours: number; lockoutAttempts: number };
}

export interface DoctorView {
  findings: Finding[];
}

function configurationOf(c: Readonly<Config>): NodeConfigurationView {
  const x = c.exchange;
  return {
    node: { name: c.node.name, organization: { name: c.node.organization.name, ura: c.node.organization.ura } },
    dimse: {
      aeTitle: c.dimse.aeTitle,
      listeners: c.dimse.listeners.map((l) => ({ host: l.host, port: l.port, tls: l.tls !== undefined })),
      peers: c.dimse.peers.map((p) => ({
        aeTitle: p.aeTitle,
        host: p.host,
        ...(p.port !== undefined ? { port: p.port } : {}),
        tls: p.tls,
        ...(p.description !== undefined ? { description: p.description } : {}),
      })),
    },
    ...(x !== undefined
      ? {
          exchange: {
            listen: { host: x.listen.host, port: x.listen.port },
            partners: x.partners.map((p) => ({
              name: p.name,
              ura: p.ura,
              ...(p.baseUrl !== undefined ? { baseUrl: p.baseUrl } : {}),
              ...(p.aeTitle !== undefined ? { aeTitle: p.aeTitle } : {}),
            })),
            routing: x.routing,
            patientIdentity: x.patientIdentity,
          },
        }
      : {}),
    retentionDays: c.store.retentionDays,
    auditRetentionYears: c.audit.retentionYears,
    signIn: {
      oidc: c.auth.oidc !== undefined,
      sessionIdleMinutes: c.auth.sessionIdleMinutes,
      sessionMaxHours: c.auth.sessionMaxHours,
      lockoutAttempts: c.auth.lockout.attempts,
    },
  };
}

/**
 * The admin's view of the node: its configuration (changed in the configuration file, which `beeldbrug doctor` and the
 * start-up check validate) and the doctor's findings, run now against this node's own ports and its PACS.
 */
export function registerNodeAdminRoutes(app: HttpsApp, config: Readonly<Config>): void {
  const admin = documented(PERSON_ROUTES.admin, 'administration');
  app.get(
    '/api/v1/configuration',
    admin('The configuration as the node runs it, without secrets or key file paths'),
    async (): Promise<NodeConfigurationView> => configurationOf(config),
  );
  app.get(
    '/api/v1/doctor',
    admin("beeldbrug doctor's findings: the configuration, this node's ports and each PACS, probed now"),
    async (): Promise<DoctorView> => ({ findings: await runDoctor(config) }),
  );
}

/**
 * GET /metrics in Prometheus' text format, for the hospital's monitoring: Prometheus scrapes it with a client
 * certificate of our own organization (tls_config cert_file/key_file), or an admin looks with their session.
 */
export function registerMetricsRoute(app: HttpsApp, metrics: NodeMetrics): void {
  app.get(
    '/metrics',
    {
      config: {
        access: { roles: ['admin'], twoFactor: true, systems: 'as-itself' },
        doc: {
          tag: 'administration',
          summary: 'Prometheus metrics (text exposition format)',
          answers: 'text/plain; version=0.0.4',
        },
      },
    },
    async (_req, reply) => {
      const { contentType, body } = await metrics.exposition();
      return reply.header('content-type', contentType).send(body);
    },
  );
}
