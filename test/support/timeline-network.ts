// The timeline network the integration tests run against: a registry and hospital nodes on loopback, every certificate
// and the network key made with the `beeldbrug` CLI, and a slow source that does not answer while the test runs.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { issueNodeCertificate, type IssuedCertificate } from '../../src/auth/index.ts';
import { parseRegistryConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { HttpsRegistryClient, readNetworkKeyFile, startRegistry } from '../../src/registry/index.ts';
import { synthesize, type SynthPatient } from '../../src/synth/index.ts';
import type { Timeline } from '../../src/timeline/index.ts';
import { type ExchangeNode, midden, noord, startExchangeNode } from './exchange.ts';
import { type SignedIn, signedIn } from './sign-in.ts';
import { freePort } from './net.ts';
import { beeldbrug, networkCertificates } from './pki-cli.ts';
import { startOrthanc } from './orthanc-pacs.ts';
import { tempDir } from './tmp.ts';
import { testAccess } from './patient-data.ts';
import { syncLogFile } from './log-file.ts';

export const zuid = { name: 'Ziekenhuis Zuid', ura: '10000003' };
export const traag = { name: 'Kliniek Traag', ura: '10000004' };
export const oost = { name: 'Ziekenhuis Oost', ura: '10000005' };
export const registryOrg = { name: 'Regio Registry', ura: '10000099' };
/** The patients' own channel to the registry (as MijnMitz): it records the consents that concern other hospitals. */
export const patientPortal = { name: 'Patiëntenportaal', ura: '10000050' };
/** A radiologist as a source names them in signed claims; `radiologistAt` gives the one signed in at a node of `network`. */
export const radiologist = { practitionerId: '900012345', name: 'Dr. A. de Vries', roleCode: '01.015' };

const signedInAt = new WeakMap<ExchangeNode, SignedIn>();

/** The radiologist signed in at a node of the network: who asks that node's timeline in these tests. */
export function radiologistAt(n: ExchangeNode): SignedIn {
  const s = signedInAt.get(n);
  assert.ok(s !== undefined, 'no radiologist is signed in at this node');
  return s;
}

export async function registryProcess(t: TestContext, dir: string) {
  const out = tempDir(t);
  const clients = [noord, midden, zuid, traag, oost].flatMap((o) => ['--client', `${o.ura}:${o.name}`]);
  beeldbrug([
    'registry',
    'init',
    out,
    '--name',
    'Regio registry',
    '--organization',
    registryOrg.name,
    '--ura',
    registryOrg.ura,
    '--port',
    '0',
    ...clients,
  ]);
  const configPath = join(out, 'registry.yaml');
  const raw = parseYaml(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  // `networkCertificates` names a certificate `<key>.test`; the portal's is made under the key `portal`.
  (raw['clients'] as unknown[]).push({ ...patientPortal, role: 'patient-portal', commonName: 'portal.test' });
  raw['tls'] = {
    certFile: join(dir, 'registry', 'node.crt'),
    keyFile: join(dir, 'registry', 'node.key'),
    caFile: join(dir, 'ca', 'ca.crt'),
  };
  writeFileSync(configPath, stringifyYaml(raw));
  const logFile = join(out, 'registry.log');
  const registry = await startRegistry(
    parseRegistryConfig(raw, configPath),
    createLogger({ level: 'info', destination: syncLogFile(logFile) }),
  );
  t.after(() => registry.close());
  return { registry, logFile, dataDir: join(out, 'data') };
}

export function lines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * Long enough that a real node under load answers in time (it is a bound on the other hospitals, not on the code under
 * test), short enough for the one test that waits for the silent source to time out.
 */
const SOURCE_TIMEOUT_MS = 5000;

/**
 * A source that does not answer while the test runs, as a congested hospital would not; it records every body it gets.
 * Never answering (rather than answering after a delay) makes "the others were not held back" a fact, not a race.
 */
export async function slowSource(t: TestContext, ca: IssuedCertificate, o: { headersFirst?: boolean } = {}) {
  const cert = issueNodeCertificate(ca, { commonName: 'traag.test', organization: traag, hosts: ['127.0.0.1'] });
  const bodies: string[] = [];
  const server = createServer(
    { key: cert.keyPem, cert: cert.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      // A source that begins its answer and then sends nothing more (a stalled gateway).
      if (o.headersFirst === true) {
        res.writeHead(200, { 'content-type': 'application/soap+xml' });
        res.write('<?xml version="1.0"?>');
      }
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      // The response is never written: closeAllConnections ends it after the test.
      req.on('end', () => bodies.push(body));
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const address = server.address();
  return { port: typeof address === 'object' && address !== null ? address.port : 0, bodies, cert };
}

export async function importStudies(n: ExchangeNode, p: SynthPatient, which: number[]): Promise<void> {
  for (const i of which) {
    for (const f of p.studies[i]?.files ?? []) await testAccess(n.n.node, 'import').importFile(f);
  }
}

/** `noord` adds to Noord's node options, e.g. a PACS to import held studies into. */
export async function network(
  t: TestContext,
  o: {
    middenPacs?: boolean;
    /** Noord's node options, or a function of the partners Noord would have (to change one). */
    noord?:
      | Parameters<typeof startExchangeNode>[1]
      | ((partners: { name: string; ura: string; baseUrl: string }[]) => Parameters<typeof startExchangeNode>[1]);
    /** Adds to Midden's node options, e.g. its XCA gateway. */
    midden?: Parameters<typeof startExchangeNode>[1];
    /** Midden's and Zuid's HTTPS ports, when another node's configuration must name them (an XCA community's URLs). */
    middenPort?: number;
    /** Where the others reach Noord, when not at its node's own port (another node of Noord's answers there). */
    noordAt?: number;
    zuidPort?: number;
    /** Kliniek Traag (the source that never answers) begins its answers and then stalls. */
    slowSendsHeaders?: boolean;
    /** Adds to Zuid's node options. */
    zuid?: Parameters<typeof startExchangeNode>[1];
  } = {},
) {
  // Midden's PACS, when asked for: a real Orthanc that Midden's node queries and fetches from (C-GET).
  const pacs =
    o.middenPacs === true ? await startOrthanc({ dir: tempDir(t), aeTitle: 'PACS_MIDDEN', modalities: {} }) : undefined;
  if (pacs !== undefined) t.after(() => pacs.stop());
  const certs = networkCertificates(t, { noord, midden, zuid, oost, registry: registryOrg, portal: patientPortal });
  const keyFile = join(tempDir(t), 'network.key');
  beeldbrug(['registry', 'network-key', '--out', keyFile]);
  const { registry, logFile, dataDir } = await registryProcess(t, certs.dir);
  const slow = await slowSource(t, certs.ca, { headersFirst: o.slowSendsHeaders === true });
  const ports = {
    noord: await freePort(),
    midden: o.middenPort ?? (await freePort()),
    zuid: o.zuidPort ?? (await freePort()),
    oost: await freePort(),
  };
  const url = (port: number): string => `https://127.0.0.1:${port}`;
  const everyone = [
    { ...noord, baseUrl: url(o.noordAt ?? ports.noord) },
    { ...midden, baseUrl: url(ports.midden) },
    { ...zuid, baseUrl: url(ports.zuid) },
    { ...traag, baseUrl: url(slow.port) },
    { ...oost, baseUrl: url(ports.oost) },
  ];
  const reg = { baseUrl: url(registry.port), networkKeyFile: keyFile };
  const start = (
    us: typeof noord,
    identity: IssuedCertificate,
    port: number,
    extra: Parameters<typeof startExchangeNode>[1] = {},
  ) =>
    startExchangeNode(t, {
      ca: certs.ca,
      identity,
      us,
      port,
      partners: everyone.filter((p) => p.ura !== us.ura),
      registry: reg,
      timeline: { sourceTimeoutMs: SOURCE_TIMEOUT_MS },
      ...extra,
    });
  const nodes = {
    noord: await start(
      noord,
      certs.noord,
      ports.noord,
      typeof o.noord === 'function' ? o.noord(everyone.filter((p) => p.ura !== noord.ura)) : o.noord,
    ),
    midden: await start(midden, certs.midden, ports.midden, {
      ...(pacs !== undefined
        ? {
            dimsePeers: [
              { aeTitle: 'PACS_MIDDEN', host: '127.0.0.1', port: pacs.dicomPort, description: 'Midden PACS' },
            ],
            fetchFrom: { aeTitle: 'PACS_MIDDEN', method: 'c-get' as const },
          }
        : {}),
      ...o.midden,
    }),
    zuid: await start(zuid, certs.zuid, ports.zuid, o.zuid),
    // Oost has no registry: it asks its configured regional sources.
    oost: await startExchangeNode(t, {
      ca: certs.ca,
      identity: certs.oost,
      us: oost,
      port: ports.oost,
      partners: everyone.filter((p) => p.ura !== oost.ura),
      timeline: { sourceTimeoutMs: SOURCE_TIMEOUT_MS, regionalSources: [midden.ura] },
    }),
  };
  // The radiologists who ask: signed in at the requesting nodes with password + TOTP, as `beeldbrug login` does.
  for (const n of [nodes.noord, nodes.oost])
    signedInAt.set(
      n,
      await signedIn(t, n, {
        username: 'a.devries',
        name: radiologist.name,
        role: 'radiologist',
        uziRoleCode: radiologist.roleCode,
      }),
    );
  const synth = await synthesize({
    outDir: join(tempDir(t), 'synth'),
    patients: 2,
    seed: 41,
    studiesPerPatient: [3, 3],
    modalities: ['CR', 'DX'],
  });
  const [p, q] = synth.patients;
  assert.ok(p !== undefined && q !== undefined && p.bsn !== q.bsn);
  // P has two studies at Midden and one at Zuid; Q has studies at Midden only.
  await importStudies(nodes.midden, p, [0, 1]);
  await importStudies(nodes.zuid, p, [2]);
  await importStudies(nodes.midden, q, [0, 1, 2]);
  for (const n of [nodes.midden, nodes.zuid]) await n.n.node.localization?.flush();
  // The patient records consents through the patient portal (a hospital records only choices about itself).
  const consents = portalClient(t, certs, reg.baseUrl, keyFile);
  if (pacs !== undefined)
    await pacs.rest('PUT', '/modalities/beeldbrug', {
      AET: nodes.midden.n.aeTitle,
      Host: '127.0.0.1',
      Port: nodes.midden.n.port,
    });
  return {
    certs,
    keyFile,
    registry,
    registryLog: logFile,
    registryData: dataDir,
    slow,
    nodes,
    p,
    q,
    consents,
    reg,
    pacs,
  };
}

export async function timelineOf(
  n: ExchangeNode,
  bsn: string,
  o: { includeReports?: boolean } = {},
): Promise<Timeline> {
  const a = await radiologistAt(n).call('POST', '/api/v1/timeline', { bsn, ...o });
  assert.equal(a.status, 200, a.body);
  return JSON.parse(a.body) as Timeline;
}

export async function timelineRequestsAt(n: ExchangeNode, bsn: string) {
  return (await n.n.node.audit.list({ bsn })).filter((r) => r.description.startsWith('timeline'));
}

export const byHolder = (ura: string) => ({ role: 'holder' as const, ura });
export const recorded = { recordedBy: { id: 'digid', name: 'de patiënt' }, channel: 'patient-portal' as const };

/** A registry client with the patient portal's certificate. */
export function portalClient(
  t: TestContext,
  certs: { ca: IssuedCertificate; portal: IssuedCertificate },
  baseUrl: string,
  keyFile: string,
): HttpsRegistryClient {
  const client = new HttpsRegistryClient({
    baseUrl,
    tls: { key: certs.portal.keyPem, cert: certs.portal.certPem, ca: certs.ca.certPem },
    networkKey: readNetworkKeyFile(keyFile),
    ourUra: patientPortal.ura,
  });
  t.after(() => client.close());
  return client;
}
