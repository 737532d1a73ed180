import { z } from 'zod';
import { databaseSchema } from './database-schema.ts';

const ura = z.string().regex(/^\d{8}$/, 'a URA number is 8 digits');

/** The registry process (`beeldbrug registry start`): its own listener, certificate, data folder and trust list. */
export const registryConfigSchema = z.strictObject({
  registry: z.strictObject({
    name: z.string().min(1).describe('shown in logs'),
    organization: z.strictObject({ name: z.string().min(1), ura }).describe('who operates the registry'),
  }),
  dataDir: z.string().min(1),
  database: databaseSchema.describe(
    'where the localizations and consents are kept: a SQLite file in dataDir (embedded, the default), or a PostgreSQL server that several registry processes or machines share behind one address',
  ),
  listen: z.strictObject({ host: z.string().min(1), port: z.number().int().min(0).max(65535) }),
  tls: z.strictObject({
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
    caFile: z.string().min(1).describe("the CA the nodes' certificates chain to: the same trust as between nodes"),
  }),
  clients: z
    .array(
      z
        .strictObject({
          ura,
          name: z.string().min(1),
          type: z
            .enum(['hospital', 'general-practice', 'pharmacy'])
            .default('hospital')
            .describe('what a consent for "all hospitals" matches'),
          role: z
            .enum(['care-provider', 'patient-portal'])
            .default('care-provider')
            .describe(
              "care-provider: a node that registers localizations, asks questions, and records only the patient's choices about itself; patient-portal: the patients' own channel (a portal where they sign in), which records, changes and revokes any consent and registers nothing",
            ),
          commonName: z
            .string()
            .min(1)
            .optional()
            .describe(
              'the common name (CN) its certificate must carry; without it any certificate of the URA is this client',
            ),
        })
        .refine((c) => c.role !== 'patient-portal' || c.commonName !== undefined, {
          message:
            'a patient portal names the common name of its certificate, so that no other system of its organization speaks for patients',
          path: ['commonName'],
        }),
    )
    .min(1, 'no node could call the registry')
    .describe('the trust list: the organizations (by URA in their certificate) that may call the registry'),
  rateLimit: z
    .strictObject({
      perSecond: z.number().positive().default(500).describe('requests per second per client organization, sustained'),
      burst: z
        .number()
        .int()
        .positive()
        .default(2000)
        .describe('requests a client may make at once above the sustained rate'),
    })
    .default({ perSecond: 500, burst: 2000 }),
  workers: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(1)
    .describe(
      'processes that serve the port together (node:cluster), each with the SQLite file open (WAL: readers run side by side) or its own connections to PostgreSQL; the rate limit is shared out among them',
    ),
  cache: z
    .strictObject({
      sizeMb: z
        .number()
        .int()
        .min(2)
        .default(64)
        .describe(
          'SQLite page cache per worker process, in MiB (embedded only: PostgreSQL has its own shared_buffers)',
        ),
      warm: z
        .boolean()
        .default(false)
        .describe(
          "read the localizations and consent terms into that cache at start, before serving (on PostgreSQL: their indexes, which every question is answered from, into the server's and the OS's cache)",
        ),
    })
    .default({ sizeMb: 64, warm: false })
    .describe(
      'for a registry at national scale, a cache that holds the localizations and consent terms (about 3 GiB for 18 million patients) keeps every query off the disk, whatever the OS does with its page cache',
    ),
  log: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .default({ level: 'info' }),
});

export type RegistryConfig = z.output<typeof registryConfigSchema>;
