// The load process of bench:registry, run as its own process so that it shares no event loop with the registry. Each
// connection is mutual TLS with a hospital's client certificate and keep-alive, and has one localization query in
// flight at a time (a closed loop); the next goes out as soon as the answer is in. HTTP/1.1 is written and read by hand
// (a request line, a Content-Length answer), as wrk does: node's https client costs more CPU per request than the
// registry does, and both share the same two cores. With several targets (the registry and its floor) the load goes
// to each in turn, in rounds, so that a change in the machine's speed during the run falls on both alike. Prints one
// JSON line: per target its rate, latency percentiles and errors.
import { readFileSync } from 'node:fs';
import { connect, type TLSSocket } from 'node:tls';
import { percentile } from './stats.ts';

export interface LoadOptions {
  /** The servers to load, in turn: each gets `rounds` rounds of warm-up and measurement. */
  ports: readonly number[];
  rounds: number;
  caFile: string;
  /** Client certificates and keys, one per hospital; connections take them in turn. */
  clients: readonly { certFile: string; keyFile: string }[];
  /** Pseudonyms to ask about, one per line. */
  sampleFile: string;
  connections: number;
  /** Unmeasured seconds at the start of every round: new connections, and the server's code warm again. */
  warmupSeconds: number;
  /** Measured seconds per target, over all its rounds. */
  seconds: number;
}

/** What one target answered, over all its rounds. */
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
  /** The first answer measured for each number of organizations it names. */
  answers: Record<number, string>;
}

const SYSTEM = 'urn:beeldbrug:bsn-pseudonym:v1';
const HEADER_END = Buffer.from('\r\n\r\n');
const BUNDLE_START = '{"resourceType":"Bundle","type":"searchset"';

/** A target's measurements, added to round by round. */
class Tally {
  latencies = new Float64Array(1 << 20);
  measured = 0;
  seconds = 0;
  errors = 0;
  readonly firstErrors: string[] = [];
  named = 0;
  bodyBytes = 0;
  readonly answers: Record<number, string> = {};

  fail(what: string): void {
    this.errors++;
    if (this.firstErrors.length < 5) this.firstErrors.push(what);
  }

  record(ms: number): void {
    if (this.measured === this.latencies.length) {
      const grown = new Float64Array(this.latencies.length * 2);
      grown.set(this.latencies);
      this.latencies = grown;
    }
    this.latencies[this.measured++] = ms;
  }

  result(): LoadResult {
    const sorted = this.latencies.slice(0, this.measured).sort();
    return {
      requests: this.measured,
      errors: this.errors,
      firstErrors: this.firstErrors,
      seconds: this.seconds,
      qps: this.measured / this.seconds,
      p50Ms: percentile(sorted, 50),
      p90Ms: percentile(sorted, 90),
      p99Ms: percentile(sorted, 99),
      p999Ms: percentile(sorted, 99.9),
      maxMs: sorted[sorted.length - 1] ?? Number.NaN,
      named: this.named,
      bodyBytes: this.bodyBytes,
      answers: this.answers,
    };
  }
}

async function run(o: LoadOptions): Promise<LoadResult[]> {
  const ca = readFileSync(o.caFile);
  const clients = o.clients.map((c) => ({ cert: readFileSync(c.certFile), key: readFileSync(c.keyFile) }));
  const pseudonyms = readFileSync(o.sampleFile, 'utf8')
    .split('\n')
    .filter((p) => p !== '');
  if (pseudonyms.length === 0) throw new Error(`no pseudonyms in ${o.sampleFile}`);
  const requestsTo = (port: number): Buffer[] =>
    pseudonyms.map((p) =>
      Buffer.from(
        `GET /fhir/DocumentReference?subject:identifier=${encodeURIComponent(`${SYSTEM}|${p}`)}&category=imaging&purpose=treatment HTTP/1.1\r\n` +
          `Host: 127.0.0.1:${port}\r\nAccept: application/fhir+json\r\n\r\n`,
      ),
    );
  const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));

  /** One round against one server: connections opened, warm-up, measurement, connections closed. */
  async function round(port: number, requests: readonly Buffer[], tally: Tally, seconds: number): Promise<void> {
    let phase: 'warmup' | 'measure' | 'done' = 'warmup';
    const connection = (n: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const identity = clients[n % clients.length];
        if (identity === undefined) throw new Error('no client certificate');
        const socket: TLSSocket = connect({
          host: '127.0.0.1',
          port,
          ca,
          cert: identity.cert,
          key: identity.key,
          minVersion: 'TLSv1.2',
        });
        socket.setNoDelay(true);
        let pending: Buffer = Buffer.alloc(0);
        let sentAt = 0;
        // Each connection walks the sample from its own place, so connections do not ask the same patient in step.
        let next = Math.floor((n * requests.length) / o.connections) + tally.measured;
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
            tally.fail(`an answer without Content-Length: ${head.slice(0, 200)}`);
            socket.destroy();
            return;
          }
          const end = headerEnd + HEADER_END.length + Number(length[1]);
          if (pending.length < end) return;
          const ms = performance.now() - sentAt;
          const body = pending.toString('utf8', headerEnd + HEADER_END.length, end);
          pending = pending.subarray(end);
          if (phase === 'measure') check(head, body, tally, end - headerEnd, ms);
          send();
        });
        socket.on('error', (err) => {
          if (phase === 'done') resolve();
          else reject(err);
        });
        socket.on('close', () => {
          if (phase !== 'done') reject(new Error('the server closed a connection during the run'));
          else resolve();
        });
      });

    const finished = Promise.all(Array.from({ length: o.connections }, (_, n) => connection(n)));
    // A failed connection ends the run at once instead of after the full duration.
    const stopped = new Promise<never>((_, reject) => {
      // The run's own await of `finished` sees the same failure; this only ends the run early.
      void finished.catch(reject);
    });
    await Promise.race([sleep(o.warmupSeconds), stopped]);
    phase = 'measure';
    const started = performance.now();
    await Promise.race([sleep(seconds), stopped]);
    phase = 'done';
    tally.seconds += (performance.now() - started) / 1000;
    await Promise.race([finished, sleep(5)]);
  }

  const targets = o.ports.map((port) => ({ port, requests: requestsTo(port), tally: new Tally() }));
  for (let r = 0; r < o.rounds; r++)
    for (const t of targets) await round(t.port, t.requests, t.tally, o.seconds / o.rounds);
  return targets.map((t) => t.tally.result());
}

function check(head: string, body: string, tally: Tally, bytes: number, ms: number): void {
  const status = head.slice(9, 12);
  if (status !== '200' || !body.startsWith(BUNDLE_START))
    tally.fail(`${head.split('\r\n')[0] ?? ''} ${body.slice(0, 200)}`);
  else {
    // Every 64th answer is parsed whole; the others are checked by their start, so the checking does not eat the CPU
    // the server needs.
    if (tally.measured % 64 === 0) {
      const bundle = JSON.parse(body) as { resourceType?: unknown; total?: unknown; entry?: unknown[] };
      if (bundle.resourceType !== 'Bundle' || !Array.isArray(bundle.entry) || bundle.total !== bundle.entry.length)
        tally.fail(`not a searchset Bundle: ${body.slice(0, 200)}`);
    }
    const organizations = body.split('"custodian"').length - 1;
    tally.named += organizations;
    tally.answers[organizations] ??= body;
  }
  tally.bodyBytes += bytes;
  tally.record(ms);
}

const options = JSON.parse(process.argv[2] ?? 'null') as LoadOptions | null;
if (options === null) throw new Error('usage: registry-load.ts <options as JSON>');
process.stdout.write(`${JSON.stringify(await run(options))}\n`);
process.exit(0);
