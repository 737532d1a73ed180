// The load process of bench:registry, run as its own process so that it shares no event loop with the registry. Each
// connection is mutual TLS with a hospital's client certificate and keep-alive, and has one localization query in
// flight at a time (a closed loop); the next goes out as soon as the answer is in. HTTP/1.1 is written and read by hand
// (a request line, a Content-Length answer), as wrk does: node's https client costs more CPU per request than the
// registry does, and both share the same two cores. Prints one JSON line: rate, latency percentiles, errors.
import { readFileSync } from 'node:fs';
import { connect, type TLSSocket } from 'node:tls';
import { percentile } from './stats.ts';

export interface LoadOptions {
  port: number;
  caFile: string;
  /** Client certificates and keys, one per hospital; connections take them in turn. */
  clients: readonly { certFile: string; keyFile: string }[];
  /** Pseudonyms to ask about, one per line. */
  sampleFile: string;
  connections: number;
  warmupSeconds: number;
  seconds: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  firstErrors: string[];
  seconds: number;
  qps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Organizations named, over all measured answers: how much the answers carried. */
  named: number;
  bodyBytes: number;
}

const SYSTEM = 'urn:beeldbrug:bsn-pseudonym:v1';
const HEADER_END = Buffer.from('\r\n\r\n');
const BUNDLE_START = '{"resourceType":"Bundle","type":"searchset"';

async function run(o: LoadOptions): Promise<LoadResult> {
  const ca = readFileSync(o.caFile);
  const clients = o.clients.map((c) => ({ cert: readFileSync(c.certFile), key: readFileSync(c.keyFile) }));
  const requests = readFileSync(o.sampleFile, 'utf8')
    .split('\n')
    .filter((p) => p !== '')
    .map((p) =>
      Buffer.from(
        `GET /fhir/DocumentReference?subject:identifier=${encodeURIComponent(`${SYSTEM}|${p}`)}&category=imaging&purpose=treatment HTTP/1.1\r\n` +
          `Host: 127.0.0.1:${o.port}\r\nAccept: application/fhir+json\r\n\r\n`,
      ),
    );
  if (requests.length === 0) throw new Error(`no pseudonyms in ${o.sampleFile}`);

  let latencies = new Float64Array(1 << 20);
  let measured = 0;
  let errors = 0;
  const firstErrors: string[] = [];
  let named = 0;
  let bodyBytes = 0;
  let phase: 'warmup' | 'measure' | 'done' = 'warmup';
  const fail = (what: string): void => {
    errors++;
    if (firstErrors.length < 5) firstErrors.push(what);
  };
  const record = (ms: number): void => {
    if (measured === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[measured++] = ms;
  };

  const connection = (n: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const identity = clients[n % clients.length];
      if (identity === undefined) throw new Error('no client certificate');
      const socket: TLSSocket = connect({
        host: '127.0.0.1',
        port: o.port,
        ca,
        cert: identity.cert,
        key: identity.key,
        minVersion: 'TLSv1.2',
      });
      socket.setNoDelay(true);
      let pending: Buffer = Buffer.alloc(0);
      let sentAt = 0;
      // Each connection walks the sample from its own place, so connections do not ask the same patient in step.
      let next = Math.floor((n * requests.length) / o.connections);
      const send = (): void => {
        if (phase === 'done') {
          socket.end();
          return;
        }
        const request = requests[next++ % requests.length];
        if (request === undefined) throw new Error('empty sample');
        sentAt = performance.now();
        socket.write(request);
      };
      socket.once('secureConnect', send);
      socket.on('data', (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        const headerEnd = pending.indexOf(HEADER_END);
        if (headerEnd < 0) return;
        const head = pending.toString('latin1', 0, headerEnd);
        const length = /\r\ncontent-length: *(\d+)/i.exec(head);
        if (length?.[1] === undefined) {
          fail(`an answer without Content-Length: ${head.slice(0, 200)}`);
          socket.destroy();
          return;
        }
        const end = headerEnd + HEADER_END.length + Number(length[1]);
        if (pending.length < end) return;
        const ms = performance.now() - sentAt;
        const body = pending.toString('utf8', headerEnd + HEADER_END.length, end);
        pending = pending.subarray(end);
        if (phase === 'measure') {
          const status = head.slice(9, 12);
          if (status !== '200' || !body.startsWith(BUNDLE_START))
            fail(`${head.split('\r\n')[0] ?? ''} ${body.slice(0, 200)}`);
          else {
            // Every 64th answer is parsed whole; the others are checked by their start, so the checking does not eat
            // the CPU the registry needs.
            if (measured % 64 === 0) {
              const bundle = JSON.parse(body) as { resourceType?: unknown; total?: unknown; entry?: unknown[] };
              if (
                bundle.resourceType !== 'Bundle' ||
                !Array.isArray(bundle.entry) ||
                bundle.total !== bundle.entry.length
              )
                fail(`not a searchset Bundle: ${body.slice(0, 200)}`);
            }
            named += body.split('"custodian"').length - 1;
          }
          bodyBytes += end - headerEnd;
          record(ms);
        }
        send();
      });
      socket.on('error', (err) => {
        if (phase === 'done') resolve();
        else reject(err);
      });
      socket.on('close', () => {
        if (phase !== 'done') reject(new Error('the registry closed a connection during the run'));
        else resolve();
      });
    });

  const all = Array.from({ length: o.connections }, (_, n) => connection(n));
  const finished = Promise.all(all);
  // A failed connection ends the run at once instead of after the full duration.
  const stopped = new Promise<never>((_, reject) => {
    // The run's own await of `finished` sees the same failure; this only ends the run early.
    void finished.catch(reject);
  });
  const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));
  await Promise.race([sleep(o.warmupSeconds), stopped]);
  phase = 'measure';
  const started = performance.now();
  await Promise.race([sleep(o.seconds), stopped]);
  phase = 'done';
  const seconds = (performance.now() - started) / 1000;
  const count = measured;
  await Promise.race([finished, sleep(5)]);
  const sorted = latencies.slice(0, count).sort();
  return {
    requests: count,
    errors,
    firstErrors,
    seconds,
    qps: count / seconds,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    p999Ms: percentile(sorted, 99.9),
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
    named,
    bodyBytes,
  };
}

const options = JSON.parse(process.argv[2] ?? 'null') as LoadOptions | null;
if (options === null) throw new Error('usage: registry-load.ts <options as JSON>');
process.stdout.write(`${JSON.stringify(await run(options))}\n`);
process.exit(0);
