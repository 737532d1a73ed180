import { z } from 'zod';

export const port = z
  .number()
  .int('a TCP port is a whole number')
  .min(1, 'a TCP port is 1 to 65535')
  .max(65535, 'a TCP port is 1 to 65535');
export const host = z.string().min(1).describe('an IP address or host name');

/** Where a node or the registry keeps its records: embedded SQLite in its data folder, or a PostgreSQL server. */
export const databaseSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('embedded') }),
    z.strictObject({
      kind: z.literal('postgresql'),
      host,
      port: port.default(5432),
      name: z.string().min(1).describe('the database on that server'),
      user: z.string().min(1),
      passwordFile: z
        .string()
        .min(1)
        .optional()
        .describe('the password alone in a file (0600); leave out for certificate or peer authentication'),
      tls: z
        .strictObject({
          caFile: z.string().min(1).describe("the CA of the server's certificate, which is verified"),
          certFile: z.string().min(1).optional().describe('our client certificate, where the server asks one'),
          keyFile: z.string().min(1).optional(),
        })
        .optional()
        .describe('TLS to the server; without it the connection is plain, fit only for a server on this machine'),
      poolSize: z.number().int().min(1).max(100).default(10).describe('connections each process keeps open at most'),
    }),
  ])
  .default({ kind: 'embedded' });
