// npm run bench:dicomweb — DICOMweb as a viewer or another system uses it, against Orthanc with its DICOMweb plugin.
//
// WADO-RS: one 500-instance CT study, sent by DCMTK storescu into our node and into Orthanc, then retrieved whole
// (multipart/related, the files as stored: `transfer-syntax=*`) by curl, a client neither side wrote, one request per
// run as a viewer's first. Both serve from the page cache (the study was just stored). Ours answers over HTTPS only.
// Orthanc is measured twice: behind nginx as its TLS reverse proxy, as its book advises for HTTPS (Debian's Orthanc
// 1.10.1 ends its own HTTPS at the first request), with our node's certificate and TLS preferences; and on plain
// HTTP, which no hospital should use for patient data but shows what the proxy costs. The ratio is HTTPS to HTTPS;
// the last line gives the plain-HTTP ratio too.
// Runs alternate between the three; medians of 9 (Orthanc's times vary up to 2.5x from run to run on a 2-core machine).
// Before timing, each answer is read once in full and every instance's pixels compared with the files sent.
//
// QIDO-RS: the node's index holds 100,000 studies (35,000 patients, 2010-2026, the usual modality mix) next to the CT
// study, and a signed-in radiologist searches as the study list does (limit=101, as OHIF asks): by BSN, by the start of
// a family name, by a week and a modality, by accession number, and the newest page without keys. Sequential, on one
// keep-alive connection; each search is also written to the audit trail, as every search is. The index rows are
// written straight into the node's index before it starts (QIDO reads only the index); their files do not exist, and
// the node's start-up check says so in its log.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { totpCode, totpStep } from '../src/auth/index.ts';
import { readPart10, Tag } from '../src/dicom/index.ts';
import { parseMultipartContentType, readMultipart } from '../src/dicomweb/index.ts';
import { randomBsn } from '../src/patient/index.ts';
import { openStudyStore, readEncryptionKeyFile } from '../src/store/index.ts';
import { randomName, seededRng, writeCtStudy } from '../src/synth/index.ts';
import { startOrthanc } from '../test/support/orthanc-pacs.ts';
import { startTlsProxy } from './tls-proxy.ts';
import { run } from '../test/support/processes.ts';
import { benchFolder, cpuSeconds, endedChildrenCpuSeconds, machineBusySeconds } from './peers.ts';
import { median, percentile } from './stats.ts';
import { BENCH_SCU, spawnWebNode, storescu } from './web-node.ts';

const INSTANCES = Number(process.env['BENCH_INSTANCES'] ?? 500);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 9);
const STUDIES = Number(process.env['BENCH_QIDO_STUDIES'] ?? 100_000);
const QUERIES = Number(process.env['BENCH_QUERIES'] ?? 500);
const ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*';

const work = benchFolder('beeldbrug-bench-dicomweb-');
const stops: (() => Promise<unknown>)[] = [];
try {
  const started = Date.now();
  const study = await writeCtStudy({ outDir: join(work, 'study'), instances: INSTANCES, seed: 1 });
  const expected = new Set(study.files.map((f) => datasetDigest(readFileSync(f))));
  console.log(
    `study: ${study.files.length} instances, ${(study.bytes / 1e6).toFixed(1)} MB, generated in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );

  // Our node, its index filled before it starts, and a radiologist who signs in with password and TOTP.
  let population: Population | undefined;
  const web = await spawnWebNode(work, {
    prepare: async (dir) => {
      const t0 = Date.now();
      population = await fillIndex(dir, STUDIES);
      console.log(
        `index: ${STUDIES} studies of ${population.bsns.length} patients written in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    },
  });
  stops.push(() => web.node.stop());
  const { httpsPort, account } = web;
  await storescu(web.dimsePort, 'BEELDBRUG', study.files);
  const ca = readFileSync(web.caPath);
  const agent = new Agent({ ca, keepAlive: true, maxSockets: 1 });
  const signIn = await https(agent, httpsPort, 'POST', '/api/v1/session', {
    'content-type': 'application/json',
    body: JSON.stringify({
      username: account.username,
      password: account.password,
      code: totpCode(account.totpSecret, totpStep(new Date())),
    }),
  });
  if (signIn.status !== 200) throw new Error(`sign-in: ${signIn.status} ${signIn.body.toString('utf8')}`);
  const token = (JSON.parse(signIn.body.toString('utf8')) as { token: string }).token;
  const ours: Server = {
    url: `https://127.0.0.1:${httpsPort}/dicomweb/studies/${study.studyInstanceUid}`,
    authorization: `Bearer ${token}`,
    ca: web.caPath,
  };

  // Orthanc with its DICOMweb plugin, loaded with the same files by the same storescu.
  const pacs = await startOrthanc({
    dir: join(work, 'orthanc'),
    dicomwebServer: true,
    modalities: { bench: { aeTitle: BENCH_SCU, host: '127.0.0.1', port: 1 } },
  });
  stops.push(() => pacs.stop());
  await storescu(pacs.dicomPort, pacs.aeTitle, study.files);
  const orthancHttp: Server = {
    url: `${pacs.baseUrl}/dicom-web/studies/${study.studyInstanceUid}`,
    authorization: pacs.authorization,
  };
  // Orthanc as a hospital serves it to viewers: behind a TLS reverse proxy, with our node's certificate.
  const proxy = await startTlsProxy({
    dir: join(work, 'nginx'),
    upstream: pacs.baseUrl,
    certPath: web.certPath,
    keyPath: web.keyPath,
    caPem: ca,
  });
  stops.push(() => proxy.stop());
  const orthanc: Server = {
    url: `${proxy.baseUrl}/dicom-web/studies/${study.studyInstanceUid}`,
    authorization: pacs.authorization,
    ca: web.caPath,
  };

  for (const [name, server] of [
    ['beeldbrug', ours],
    ['orthanc (https, nginx)', orthanc],
    ['orthanc (http)', orthancHttp],
  ] as const) {
    const got = await partDigests(agent, server);
    const missing = [...expected].filter((d) => !got.has(d)).length;
    if (got.size !== expected.size || missing > 0)
      throw new Error(`${name} answered ${got.size} distinct parts, ${missing} of the sent files not among them`);
  }
  console.log(`both answer all ${expected.size} instances, each with the pixels sent`);
  // What filling the index, storing the study and the first reads left to write back goes to disk now, not during the
  // timed runs (it took CPU and disk from whichever server was being timed).
  await run('sync', [], 600_000);

  const times = { ours: [] as number[], orthanc: [] as number[], orthancHttp: [] as number[] };
  const firstBytes = { ours: [] as number[], orthanc: [] as number[], orthancHttp: [] as number[] };
  const cpu = { all: [] as number[], main: [] as number[] };
  // Client and machine: curl decrypts on the same two cores, so what the node may use is what curl leaves.
  const client = { ours: [] as number[], orthanc: [] as number[], orthancHttp: [] as number[] };
  const busy = { ours: [] as number[], orthanc: [] as number[], orthancHttp: [] as number[] };
  const nodePid = web.node.child.pid ?? 0;
  const timed = async (server: Server, into: keyof typeof times): Promise<void> => {
    const before = cpuSeconds(nodePid);
    const [clientBefore, busyBefore] = [endedChildrenCpuSeconds(), machineBusySeconds()];
    const t = await curl(server, study.bytes);
    client[into].push(endedChildrenCpuSeconds() - clientBefore);
    busy[into].push((machineBusySeconds() - busyBefore) / t.seconds);
    if (into === 'ours') {
      const after = cpuSeconds(nodePid);
      cpu.all.push(after.all - before.all);
      cpu.main.push(after.main - before.main);
    }
    times[into].push(t.seconds);
    firstBytes[into].push(t.firstByte);
  };
  for (let r = 1; r <= RUNS; r++) {
    await timed(ours, 'ours');
    await timed(orthanc, 'orthanc');
    await timed(orthancHttp, 'orthancHttp');
    console.log(
      `run ${r}: beeldbrug ${mbps(study.bytes, times.ours.at(-1))} MB/s, orthanc via nginx ${mbps(study.bytes, times.orthanc.at(-1))} MB/s, orthanc on http ${mbps(study.bytes, times.orthancHttp.at(-1))} MB/s`,
    );
  }
  await proxy.stop();
  await pacs.stop();

  const report = (name: string, of: keyof typeof times): number => {
    const s = median(times[of]);
    console.log(
      `${name.padEnd(24)} ${s.toFixed(2).padStart(6)} s  ${(study.bytes / 1e6 / s).toFixed(0).padStart(5)} MB/s  ${(INSTANCES / s).toFixed(0).padStart(6)} instances/s  first byte after ${(median(firstBytes[of]) * 1000).toFixed(0)} ms  curl CPU ${median(client[of]).toFixed(2)} s  machine busy ${median(busy[of]).toFixed(1)} cores  (medians of ${times[of].length})`,
    );
    return s;
  };
  const o = report('beeldbrug (https)', 'ours');
  const x = report('orthanc (https, nginx)', 'orthanc');
  const plain = report('orthanc (http)', 'orthancHttp');
  console.log(
    `beeldbrug CPU per retrieval: ${median(cpu.all).toFixed(2)} s, of which ${median(cpu.main).toFixed(2)} s on the main thread (medians)`,
  );
  // curl reads and decrypts on the same two cores: what it takes is not the node's to use. For twice Orthanc's rate,
  // both together must fit in two cores for half of Orthanc's time.
  const nodeBudget = x - median(client.ours);
  console.log(
    `for a ratio of 2: the node's CPU per retrieval would have to stay under ${nodeBudget.toFixed(2)} s (two cores for ${(x / 2).toFixed(2)} s, less curl's ${median(client.ours).toFixed(2)} s), for decrypting ${(study.bytes / 1e6).toFixed(0)} MB from the store and encrypting it for TLS; it used ${median(cpu.all).toFixed(2)} s`,
  );

  // QIDO-RS over the 100,000 studies.
  if (population === undefined) throw new Error('the index was not filled');
  const searches = searchesOver(population);
  const qido = async (query: string): Promise<number> => {
    const t0 = process.hrtime.bigint();
    const r = await https(agent, httpsPort, 'GET', `/dicomweb/studies?${query}`, {
      authorization: ours.authorization,
      accept: 'application/dicom+json',
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 200 && r.status !== 204) throw new Error(`QIDO-RS ${query}: ${r.status}`);
    return ms;
  };
  for (let i = 0; i < 20; i++) await qido(searches(i).query);
  const byKind = new Map<string, number[]>();
  const all: number[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const s = searches(i);
    const ms = await qido(s.query);
    all.push(ms);
    byKind.set(s.kind, [...(byKind.get(s.kind) ?? []), ms]);
  }
  for (const [kind, ms] of byKind)
    console.log(
      `qido ${kind.padEnd(22)} p50 ${pct(ms, 50).toFixed(1).padStart(6)} ms  p95 ${pct(ms, 95).toFixed(1)} ms`,
    );
  // Both ways of serving Orthanc are printed; the ratio is over HTTPS on both sides, as patient data must travel.
  console.log(
    `wado_ratio_vs_orthanc=${(x / o).toFixed(2)} qido_p95_ms=${pct(all, 95).toFixed(1)} wado_ratio_vs_orthanc_plain_http=${(plain / o).toFixed(2)}`,
  );
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await run('rm', ['-rf', work], 120_000);
}

interface Server {
  url: string;
  authorization: string;
  ca?: string;
}

interface Population {
  bsns: string[];
  families: string[];
  accessions: string[];
}

/** 100,000 studies as index rows, one series and one instance each; the patients have 1 to 5 studies. */
async function fillIndex(dir: string, studies: number): Promise<Population> {
  const rng = seededRng(7, 'qido');
  const store = await openStudyStore({
    dataDir: join(dir, 'data'),
    encryptionKey: readEncryptionKeyFile(join(dir, 'keys', 'store.key')),
  });
  const modalities = ['CT', 'CT', 'CT', 'MR', 'MR', 'CR', 'CR', 'CR', 'DX', 'US', 'US', 'MG', 'NM', 'XA'];
  const population: Population = { bsns: [], families: [], accessions: [] };
  const families = new Set<string>();
  try {
    let n = 0;
    while (n < studies) {
      const bsn = randomBsn(() => rng.next());
      const sex = rng.next() < 0.5 ? 'F' : 'M';
      const name = randomName(rng, sex);
      families.add(name.dicom.split('^')[0] ?? '');
      population.bsns.push(bsn);
      const patient = {
        patientId: bsn,
        issuerOfPatientId: null,
        bsn,
        patientName: name.dicom,
        birthDate: `${rng.int(1930, 2020)}${pad(rng.int(1, 12))}${pad(rng.int(1, 28))}`,
        sex,
      };
      for (let k = rng.int(1, 5); k > 0 && n < studies; k--, n++) {
        const modality = rng.pick(modalities);
        const accession = `BB${String(n).padStart(8, '0')}`;
        if (n % 97 === 0) population.accessions.push(accession);
        await store.index.recordInstance(
          {
            patient,
            study: {
              studyInstanceUid: `2.25.77${n}`,
              studyDate: dateOf(n, studies),
              studyTime: `${pad(rng.int(7, 22))}${pad(rng.int(0, 59))}00`,
              accessionNumber: accession,
              studyDescription: `${modality} onderzoek`,
              referringPhysicianName: null,
              studyId: String(n),
            },
            series: {
              seriesInstanceUid: `2.25.78${n}`,
              modality,
              seriesNumber: 1,
              seriesDescription: null,
              bodyPartExamined: null,
            },
            instance: {
              sopInstanceUid: `2.25.79${n}`,
              sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
              instanceNumber: 1,
              transferSyntaxUid: '1.2.840.10008.1.2.1',
            },
            provenance: {
              receivedAt: new Date().toISOString(),
              via: 'import',
              callingAeTitle: null,
              remoteAddress: null,
            },
          },
          { blobId: n.toString(16).padStart(32, '0'), size: 1, sha256: '0'.repeat(64) },
          0,
        );
      }
    }
  } finally {
    await store.close();
  }
  population.families = [...families];
  return population;
}

/** The studies spread evenly from 2010 to 2026, the later ones newer, as they arrive. */
function dateOf(n: number, of: number): string {
  const from = Date.UTC(2010, 0, 1);
  const to = Date.UTC(2026, 11, 1);
  return new Date(from + ((to - from) * n) / of).toISOString().slice(0, 10).replaceAll('-', '');
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** The i-th search of the mix: what a study list asks, in turn. */
function searchesOver(pop: Population): (i: number) => { kind: string; query: string } {
  const rng = seededRng(8, 'searches');
  const kinds = [
    () => ({ kind: 'BSN', query: `PatientID=${rng.pick(pop.bsns)}` }),
    () => ({ kind: 'family name prefix', query: `PatientName=${encodeURIComponent(rng.pick(pop.families))}*` }),
    () => {
      const day = Date.UTC(2010, 0, 1) + rng.int(0, 6000) * 86_400_000;
      const d = (t: number): string => new Date(t).toISOString().slice(0, 10).replaceAll('-', '');
      return { kind: 'week + modality', query: `StudyDate=${d(day)}-${d(day + 6 * 86_400_000)}&ModalitiesInStudy=CT` };
    },
    () => ({ kind: 'accession number', query: `AccessionNumber=${rng.pick(pop.accessions)}` }),
    () => ({ kind: 'no keys (first page)', query: '' }),
  ];
  return (i) => {
    const s = kinds[i % kinds.length]!();
    return { kind: s.kind, query: `${s.query}${s.query === '' ? '' : '&'}limit=101&includefield=StudyDescription` };
  };
}

/** One whole-study retrieval by curl into /dev/null; seconds from the request to the first and to the last byte. */
async function curl(s: Server, studyBytes: number): Promise<{ seconds: number; firstByte: number }> {
  const r = await run(
    'curl',
    [
      '--silent',
      '--show-error',
      '--http1.1',
      '--output',
      '/dev/null',
      '--write-out',
      '%{http_code} %{size_download} %{time_total} %{time_starttransfer}',
      ...(s.ca !== undefined ? ['--cacert', s.ca] : []),
      '--header',
      `Authorization: ${s.authorization}`,
      '--header',
      `Accept: ${ACCEPT}`,
      s.url,
    ],
    600_000,
  );
  const [status, size, seconds, firstByte] = r.stdout.trim().split(' ');
  if (r.code !== 0 || status !== '200' || Number(size) < studyBytes)
    throw new Error(`curl ${s.url}: exit ${r.code}, HTTP ${status}, ${size} bytes\n${r.stderr}`);
  return { seconds: Number(seconds), firstByte: Number(firstByte) };
}

/** Reads one whole-study answer, part by part, and returns each part's UID and pixel digest. */
async function partDigests(agent: Agent, s: Server): Promise<Set<string>> {
  const url = new URL(s.url);
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = (url.protocol === 'https:' ? request : httpRequest)(
      url,
      { ...(url.protocol === 'https:' ? { agent } : {}), headers: { authorization: s.authorization, accept: ACCEPT } },
      resolve,
    );
    req.on('error', reject);
    req.end();
  });
  if (res.statusCode !== 200) throw new Error(`${s.url}: HTTP ${res.statusCode}`);
  const { boundary } = parseMultipartContentType(res.headers['content-type']);
  const digests = new Set<string>();
  for await (const part of readMultipart(res, boundary)) {
    const chunks: Buffer[] = [];
    for await (const chunk of part.body) chunks.push(chunk);
    digests.add(datasetDigest(Buffer.concat(chunks)));
  }
  return digests;
}

async function https(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  o: { body?: string } & Record<string, string | undefined>,
): Promise<{ status: number; body: Buffer }> {
  const { body, ...headers } = o;
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, agent, headers: headers as Record<string, string> },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * An instance's SOP Instance UID and the SHA-256 of its pixels: what must arrive unchanged. The files themselves differ
 * between sender and receivers (each receiver writes a file meta of its own, and storescu drops group lengths).
 */
function datasetDigest(part10: Buffer): string {
  const { dataset } = readPart10(part10);
  const pixels = dataset.get(Tag.PixelData)?.bytes ?? Buffer.alloc(0);
  return `${dataset.string(Tag.SOPInstanceUID)} ${createHash('sha256').update(pixels).digest('hex')}`;
}

function pct(xs: readonly number[], p: number): number {
  return percentile(
    [...xs].sort((a, b) => a - b),
    p,
  );
}

function mbps(bytes: number, seconds: number | undefined): string {
  return seconds === undefined ? '-' : (bytes / 1e6 / seconds).toFixed(0);
}
