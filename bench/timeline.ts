// npm run bench:timeline — the requesting side of the timeline against 20 sources, each behind its own real HTTPS
// listener with mutual TLS and each answering 50 ms after it is asked (a busy hospital's lookup). Before answering, a
// source checks the signed request and asks the registry for a release permit, as a real source does. The patient is
// known at all 20 and consented for hospitals, so every query fans out to all of them. 200 queries, one after the
// other, as radiologists open patients; prints the p95 latency of a whole timeline (registry + fan-out + merge).
// Then the virtual PACS: a node process (as `beeldbrug start` runs it) with the same sources as partners, asked by a
// PACS with a C-FIND under the node's external AE title, one association per question as a PACS's query screen opens
// one; p95 over as many queries, from association request to the final response.
import { createServer, type Server } from 'node:https';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openSqliteAuditTrail } from '../src/audit/index.ts';
import { openStudyStore } from '../src/store/index.ts';
import { PatientData } from '../src/studies/index.ts';
import { createTestCa, issueNodeCertificate, type IssuedCertificate } from '../src/auth/index.ts';
import { parseRegistryConfig } from '../src/config/index.ts';
import { silentLogger } from '../src/log/index.ts';
import { randomBsn } from '../src/patient/index.ts';
import { HttpsRegistryClient, startRegistry } from '../src/registry/index.ts';
import { percentile } from './stats.ts';
import { checkTimelineRequest, TimelineService, type SourceAnswer } from '../src/timeline/index.ts';
import { Dataset, SopClass, Tag, TransferSyntax, vrOf, writeDataset } from '../src/dicom/index.ts';
import { Association } from '../src/dimse/index.ts';
import { freePort } from '../test/support/net.ts';
import { spawnNode } from './our-node.ts';

const SOURCES = Number(process.env['BENCH_SOURCES'] ?? 20);
const QUERIES = Number(process.env['BENCH_QUERIES'] ?? 200);
const DELAY_MS = Number(process.env['BENCH_DELAY_MS'] ?? 50);

const work = mkdtempSync(join(tmpdir(), 'beeldbrug-bench-timeline-'));
const ca = createTestCa({ commonName: 'bench CA' });
const org = (i: number): { name: string; ura: string } => ({ name: `Ziekenhuis ${i}`, ura: String(20000000 + i) });
const requester = org(0);
const sources = Array.from({ length: SOURCES }, (_, i) => org(i + 1));
const certOf = (o: { name: string; ura: string }): IssuedCertificate =>
  issueNodeCertificate(ca, { commonName: `${o.ura}.bench`, organization: o, hosts: ['127.0.0.1'] });
const networkKey = randomBytes(32);
const servers: Server[] = [];
const closers: (() => Promise<void> | void)[] = [];

try {
  const registryCert = certOf({ name: 'Registry', ura: '20009999' });
  writeFileSync(join(work, 'registry.crt'), registryCert.certPem);
  writeFileSync(join(work, 'registry.key'), registryCert.keyPem);
  writeFileSync(join(work, 'ca.crt'), ca.certPem);
  const registry = await startRegistry(
    parseRegistryConfig(
      {
        registry: { name: 'bench registry', organization: { name: 'Registry', ura: '20009999' } },
        dataDir: join(work, 'registry'),
        listen: { host: '127.0.0.1', port: 0 },
        tls: { certFile: 'registry.crt', keyFile: 'registry.key', caFile: 'ca.crt' },
        clients: [requester, ...sources].map((o) => ({ ...o, type: 'hospital' })),
        log: { level: 'silent' },
      },
      join(work, 'registry.yaml'),
    ),
    silentLogger(),
  );
  closers.push(() => registry.close());
  const registryUrl = `https://127.0.0.1:${registry.port}`;
  const bsn = randomBsn(Math.random);

  // Each source: its own certificate and registry client; the patient is registered there.
  const partners: { ura: string; name: string; baseUrl: string }[] = [];
  for (const s of sources) {
    const cert = certOf(s);
    const tls = { key: cert.keyPem, cert: cert.certPem, ca: ca.certPem };
    const client = new HttpsRegistryClient({ baseUrl: registryUrl, tls, networkKey, ourUra: s.ura });
    closers.push(() => client.close());
    await client.register({ add: [bsn] });
    // The patient's permit for this hospital to release, recorded at its desk (a hospital records only its own).
    await client.recordConsent({
      bsn,
      decision: 'permit',
      actor: { role: 'holder', ura: s.ura },
      recordedBy: { id: 'bench', name: 'bench' },
    });
    const server = createServer(
      { ...tls, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          void (async () => {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: unknown };
            const checked = await checkTimelineRequest(body.request, requester.ura, ca.certPem);
            const permit = checked.ok
              ? await client.mayRelease(checked.claims.bsn, requester.ura, 'imaging')
              : undefined;
            await new Promise((r) => setTimeout(r, DELAY_MS));
            if (permit?.decision !== 'permit' || permit.consentReference === undefined) {
              res
                .writeHead(403, { 'content-type': 'application/json' })
                .end(JSON.stringify({ status: 'refused', reason: 'no-consent' }));
              return;
            }
            const answer: SourceAnswer = {
              status: 'answered',
              organization: s,
              consentReference: permit.consentReference,
              studies: [
                {
                  studyInstanceUid: `1.2.826.0.1.${s.ura}.1`,
                  studyDate: '20240101',
                  studyTime: '120000',
                  accessionNumber: null,
                  description: 'CT thorax',
                  modalities: ['CT'],
                  bodyParts: ['CHEST'],
                  series: 3,
                  instances: 400,
                  hasReport: true,
                },
              ],
            };
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
          })();
        });
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    const address = server.address();
    partners.push({
      ...s,
      baseUrl: `https://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`,
    });
  }

  const requesterCert = certOf(requester);
  const tls = { key: requesterCert.keyPem, cert: requesterCert.certPem, ca: ca.certPem };
  const registryClient = new HttpsRegistryClient({ baseUrl: registryUrl, tls, networkKey, ourUra: requester.ura });
  closers.push(() => registryClient.close());
  const audit = await openSqliteAuditTrail(join(work, 'audit.sqlite'), { key: randomBytes(32) });
  closers.push(() => audit.close());
  const store = await openStudyStore({ dataDir: join(work, 'store'), encryptionKey: randomBytes(32) });
  closers.push(() => store.close());
  const patientData = new PatientData({
    store,
    audit,
    logger: silentLogger(),
    retrieveAeTitle: 'BENCH',
    node: 'bench',
  });
  const timeline = new TimelineService({
    registry: registryClient,
    regionalSources: [],
    partners,
    us: requester,
    tls,
    patientData,
    node: 'bench',
    sourceTimeoutMs: 2000,
  });
  closers.push(() => timeline.close());
  const radiologist = { practitionerId: '900000001', name: 'Dr. Bench', roleCode: '01.015' };

  // Warm-up: the first timeline opens the TLS connections a running node keeps open.
  for (let i = 0; i < 5; i++) await timeline.query({ bsn, asker: { kind: 'person', requester: radiologist } });
  const latencies: number[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const started = performance.now();
    const t = await timeline.query({ bsn, asker: { kind: 'person', requester: radiologist } });
    latencies.push(performance.now() - started);
    if (t.studies.length !== SOURCES || t.sources.some((s) => s.status !== 'answered')) {
      throw new Error(
        `query ${i}: ${t.sources
          .filter((s) => s.status !== 'answered')
          .map((s) => `${s.ura} ${s.status} ${s.reason ?? ''}`)
          .join('; ')}`,
      );
    }
  }
  latencies.sort((a, b) => a - b);
  const p50 = percentile(latencies, 50);
  const p95 = percentile(latencies, 95);
  console.log(
    `${QUERIES} timelines over ${SOURCES} sources answering after ${DELAY_MS} ms each: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${(latencies.at(-1) ?? 0).toFixed(1)} ms`,
  );

  // The virtual PACS.
  const nodeDir = join(work, 'node');
  const pki = join(nodeDir, 'pki');
  mkdirSync(pki, { recursive: true, mode: 0o700 });
  writeFileSync(join(pki, 'ca.crt'), ca.certPem);
  writeFileSync(join(pki, 'node.crt'), requesterCert.certPem);
  writeFileSync(join(pki, 'node.key'), requesterCert.keyPem, { mode: 0o600 });
  writeFileSync(join(pki, 'network.key'), networkKey.toString('base64'), { mode: 0o600 });
  const dimsePort = await freePort();
  const exchangePort = await freePort();
  const node = await spawnNode({
    aeTitle: 'BENCH_NODE',
    port: dimsePort,
    dir: nodeDir,
    peers: [{ aeTitle: 'BENCH_PACS', host: '127.0.0.1', description: "the PACS's query screen" }],
    edit: (raw) => {
      raw['node'] = { name: 'bench requester', organization: requester };
      raw['exchange'] = {
        listen: { host: '127.0.0.1', port: exchangePort },
        tls: { certFile: join(pki, 'node.crt'), keyFile: join(pki, 'node.key'), caFile: join(pki, 'ca.crt') },
        partners,
      };
      raw['registry'] = { baseUrl: registryUrl, networkKeyFile: join(pki, 'network.key') };
      raw['timeline'] = { sourceTimeoutMs: 2000, externalAe: { aeTitle: 'BB_PRIORS', callers: ['BENCH_PACS'] } };
    },
  });
  closers.push(async () => void (await node.stop()));
  const identifier = new Dataset();
  identifier.set(Tag.QueryRetrieveLevel, 'CS', 'STUDY');
  identifier.set(Tag.PatientID, 'LO', bsn);
  for (const tag of [Tag.StudyInstanceUID, Tag.StudyDate, Tag.StudyDescription, Tag.ModalitiesInStudy])
    identifier.set(tag, vrOf(tag) ?? 'LO', '');
  identifier.set(Tag.InstitutionName, 'LO', '');
  const query = writeDataset(identifier, TransferSyntax.ExplicitVRLittleEndian);
  const pacsQuery = async (): Promise<number> => {
    const a = await Association.connect({
      host: '127.0.0.1',
      port: dimsePort,
      callingAeTitle: 'BENCH_PACS',
      calledAeTitle: 'BB_PRIORS',
      presentationContexts: [
        {
          abstractSyntax: SopClass.StudyRootQueryRetrieveFind,
          transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
        },
      ],
    });
    let matches = 0;
    try {
      for await (const _ of a.find(SopClass.StudyRootQueryRetrieveFind, query)) matches++;
    } finally {
      await a.release();
    }
    return matches;
  };
  for (let i = 0; i < 5; i++) await pacsQuery();
  const pacsLatencies: number[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const started = performance.now();
    const matches = await pacsQuery();
    pacsLatencies.push(performance.now() - started);
    if (matches !== SOURCES) throw new Error(`virtual PACS query ${i}: ${matches} studies, expected ${SOURCES}`);
  }
  pacsLatencies.sort((a, b) => a - b);
  const pacsP95 = percentile(pacsLatencies, 95);
  console.log(
    `${QUERIES} C-FINDs through the virtual PACS (a node process, one association each): p50 ${percentile(pacsLatencies, 50).toFixed(1)} ms, p95 ${pacsP95.toFixed(1)} ms, max ${(pacsLatencies.at(-1) ?? 0).toFixed(1)} ms`,
  );
  console.log(`timeline_p95_ms=${p95.toFixed(1)} pacs_timeline_p95_ms=${pacsP95.toFixed(1)}`);
} finally {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  for (const close of closers.reverse()) await close();
  rmSync(work, { recursive: true, force: true });
}
