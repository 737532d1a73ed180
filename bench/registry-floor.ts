// The floor of bench:registry: what mutual-TLS HTTPS alone costs on this machine. The same number of node processes
// as the registry's workers (node:cluster, one port), the same TLS settings as the registry's listener (client
// certificate demanded and checked against the CA, our cipher order), and for every request one fixed localization
// Bundle: an answer the registry gave in the same run. No routing, parsing, logging or store, so its rate is the
// transport's ceiling, and the registry's rate over it says how much the registry itself costs.
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { HTTPS_CIPHERS } from '../src/http/index.ts';

export interface FloorOptions {
  workers: number;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** The answer, a searchset Bundle as the registry sent it. */
  body: string;
}

const options = JSON.parse(process.argv[2] ?? 'null') as FloorOptions | null;
if (options === null) throw new Error('usage: registry-floor.ts <options as JSON>');

if (cluster.isPrimary) {
  const workers = Array.from({ length: options.workers }, () => cluster.fork());
  const ports = await Promise.all(
    workers.map(
      (w) =>
        new Promise<number>((resolve, reject) => {
          w.once('message', (m: { port?: number }) => resolve(m.port ?? 0));
          w.once('exit', (code) => reject(new Error(`a floor worker exited with ${code}`)));
        }),
    ),
  );
  process.stdout.write(`READY floor https=${ports[0] ?? 0} workers=${workers.length}\n`);
  process.once('SIGTERM', () => {
    for (const w of workers) w.process.kill('SIGTERM');
  });
} else {
  const body = Buffer.from(options.body);
  const headers = { 'content-type': 'application/fhir+json; charset=utf-8', 'content-length': body.length };
  const server = createServer(
    {
      key: readFileSync(options.keyFile),
      cert: readFileSync(options.certFile),
      ca: readFileSync(options.caFile),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      ciphers: HTTPS_CIPHERS,
      honorCipherOrder: true,
    },
    (_req, res) => {
      res.writeHead(200, headers);
      res.end(body);
    },
  );
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 });
  });
  process.once('SIGTERM', () => {
    server.closeAllConnections();
    server.close();
    process.disconnect();
  });
}
