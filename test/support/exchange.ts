// A node with its node-to-node HTTPS listener and a partner trust list, certificates from the project's test PKI, and a
// small HTTPS client that presents a chosen client certificate.
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { PostgresSettings } from '../../src/database/index.ts';
import type { ObjectStorageSettings } from '../../src/store/index.ts';
import type { TestContext } from 'node:test';
import { createTestCa, type IssuedCertificate, issueNodeCertificate } from '../../src/auth/index.ts';
import { synthesize, type SynthPatient, type SynthStudy } from '../../src/synth/index.ts';
import { filesIn } from './dicom-files.ts';
import { freePort } from './net.ts';
import { testAccess } from './patient-data.ts';
import { startTestNode, type TestNode } from './node.ts';
import { tempDir } from './tmp.ts';

export const noord = { name: 'Ziekenhuis Noord', ura: '10000001' };
export const midden = { name: 'Ziekenhuis Midden', ura: '10000002' };

export interface ExchangeNode {
  n: TestNode;
  port: number;
  ca: IssuedCertificate;
  /** A certificate of the first partner on the trust list (Midden by default). */
  partner: IssuedCertificate;
  /** This node's own certificate, key and the CA, as the sender side uses them. */
  tls: { key: string; cert: string; ca: string };
  /** The node's own certificate as a client certificate: what the CLI or a RIS of this hospital presents. */
  own: IssuedCertificate;
}

export interface ExchangeNodeOptions {
  ca?: IssuedCertificate;
  us?: { name: string; ura: string };
  partners?: { name: string; ura: string; baseUrl?: string; aeTitle?: string }[];
  maxUploadBytes?: number;
  /** exchange.studyStableSeconds: how long after the last association a study sent to a partner's title is queued. */
  studyStableSeconds?: number;
  /** The HTTPS port, when a partner must know it before this node starts; a free one otherwise. */
  port?: number;
  outbox?: { firstRetrySeconds?: number; maxRetrySeconds?: number; giveUpAfterHours?: number };
  /** DICOM peers of the node, e.g. its PACS as a forward destination. */
  dimsePeers?: { aeTitle: string; host: string; port?: number; description: string }[];
  routing?: { from?: string; purpose?: string; action: 'forward' | 'hold'; destination?: string }[];
  patientIdentity?: 'keep' | 'bsn';
  /** Where arrival notices go. */
  notifyUrl?: string;
  /** The PACS a study to send is fetched from when the node lacks it. */
  fetchFrom?: { aeTitle: string; method: 'c-move' | 'c-get' };
  /** The node's own certificate and key, e.g. made with `beeldbrug pki node`; issued from `ca` when absent. */
  identity?: IssuedCertificate;
  /** The localization and consent registry. */
  registry?: { baseUrl: string; networkKeyFile: string };
  timeline?: {
    sourceTimeoutMs?: number;
    regionalSources?: string[];
    externalAe?: { aeTitle: string; callers: string[] };
  };
  /** store.retentionDays, e.g. a few seconds' worth to see a purge. */
  retentionDays?: number;
  /** auth.oidc: sign-in through an identity provider. */
  oidc?: Record<string, unknown>;
  /** auth.assertions: the keys whose assertions let our systems act for a person. */
  assertions?: Record<string, unknown>;
  /** The data folder, e.g. on a small file system to see a full disk. */
  dataDir?: string;
  /** auth.signInRateLimit, and the clock it counts by. */
  signInRateLimit?: Record<string, unknown>;
  now?: () => number;
  /** The share section: its mail server and SMS gateway (see share-services.ts). */
  share?: Record<string, unknown>;
  /** The xca section: the responding gateway and whose assertions it takes. */
  xca?: Record<string, unknown>;
  /** The hl7 section: the listener for orders from the RIS and its prefetch rules. */
  hl7?: Record<string, unknown>;
  /** The database section: the node's records on this PostgreSQL database instead of its data folder. */
  database?: PostgresSettings;
  /** store.objects: the node's files in this bucket, its data folder their cache. */
  objects?: ObjectStorageSettings;
  /** Another node of the same hospital (its folder): this one uses its store and audit keys, as nodes sharing records do. */
  keysOf?: string;
}

/** A node with an exchange listener; by default Noord's, trusting Midden as its one partner. */
export async function startExchangeNode(t: TestContext, o: ExchangeNodeOptions = {}): Promise<ExchangeNode> {
  const pki = tempDir(t);
  const ca = o.ca ?? createTestCa({ commonName: 'Beeldbrug test CA' });
  const us = o.us ?? noord;
  const partners = o.partners ?? [{ ...midden, baseUrl: 'https://127.0.0.1:1' }];
  const server =
    o.identity ?? issueNodeCertificate(ca, { commonName: `${us.ura}.test`, organization: us, hosts: ['127.0.0.1'] });
  writeFileSync(join(pki, 'ca.crt'), ca.certPem);
  writeFileSync(join(pki, 'node.crt'), server.certPem);
  writeFileSync(join(pki, 'node.key'), server.keyPem, { mode: 0o600 });
  const port = o.port ?? (await freePort());
  const n = await startTestNode(t, {
    aeTitle: `BB_${us.ura.slice(-4)}`,
    peers: o.dimsePeers ?? [],
    ...(o.now !== undefined ? { now: o.now } : {}),
    edit: (raw) => {
      raw['node'] = { name: us.name, organization: us };
      if (o.database !== undefined) raw['database'] = { kind: 'postgresql', ...o.database };
      raw['exchange'] = {
        listen: { host: '127.0.0.1', port },
        tls: { certFile: join(pki, 'node.crt'), keyFile: join(pki, 'node.key'), caFile: join(pki, 'ca.crt') },
        partners: partners.map((p) => ({
          ura: p.ura,
          name: p.name,
          ...(p.baseUrl !== undefined ? { baseUrl: p.baseUrl } : {}),
          ...(p.aeTitle !== undefined ? { aeTitle: p.aeTitle } : {}),
        })),
        ...(o.maxUploadBytes !== undefined ? { maxUploadBytes: o.maxUploadBytes } : {}),
        ...(o.studyStableSeconds !== undefined ? { studyStableSeconds: o.studyStableSeconds } : {}),
        ...(o.outbox !== undefined ? { outbox: o.outbox } : {}),
        ...(o.routing !== undefined ? { routing: o.routing } : {}),
        ...(o.fetchFrom !== undefined ? { fetchFrom: o.fetchFrom } : {}),
        ...(o.patientIdentity !== undefined ? { patientIdentity: o.patientIdentity } : {}),
        ...(o.notifyUrl !== undefined ? { notify: { url: o.notifyUrl } } : {}),
      };
      if (o.registry !== undefined) raw['registry'] = o.registry;
      if (o.timeline !== undefined) raw['timeline'] = o.timeline;
      const store = raw['store'] as Record<string, unknown>;
      if (o.retentionDays !== undefined) store['retentionDays'] = o.retentionDays;
      if (o.objects !== undefined) store['objects'] = o.objects;
      if (o.keysOf !== undefined) {
        store['encryptionKeyFile'] = join(o.keysOf, 'keys', 'store.key');
        (raw['audit'] as Record<string, unknown>)['keyFile'] = join(o.keysOf, 'keys', 'audit.key');
      }
      if (o.dataDir !== undefined) raw['dataDir'] = o.dataDir;
      if (o.share !== undefined) raw['share'] = o.share;
      if (o.hl7 !== undefined) raw['hl7'] = o.hl7;
      if (o.xca !== undefined) raw['xca'] = o.xca;
      if (o.oidc !== undefined) raw['auth'] = { ...(raw['auth'] as Record<string, unknown> | undefined), oidc: o.oidc };
      if (o.assertions !== undefined)
        raw['auth'] = { ...(raw['auth'] as Record<string, unknown> | undefined), assertions: o.assertions };
      if (o.signInRateLimit !== undefined)
        raw['auth'] = { ...(raw['auth'] as Record<string, unknown> | undefined), signInRateLimit: o.signInRateLimit };
    },
  });
  const first = partners[0] ?? midden;
  return {
    n,
    port,
    ca,
    partner: issueNodeCertificate(ca, {
      commonName: `${first.ura}.test`,
      organization: { name: first.name, ura: first.ura },
    }),
    tls: { key: server.keyPem, cert: server.certPem, ca: ca.certPem },
    own: server,
  };
}

export interface Answer {
  status: number | 'tls-error' | 'aborted';
  body: string;
}

export function call(
  port: number,
  method: string,
  path: string,
  ca: string,
  client?: IssuedCertificate,
  json?: unknown,
): Promise<Answer> {
  return json === undefined
    ? send(port, method, path, ca, client, undefined, {})
    : send(port, method, path, ca, client, Buffer.from(JSON.stringify(json)), { 'content-type': 'application/json' });
}

/** Part 10 files as a multipart/related body, as the exchange upload (and STOW-RS) carries them. */
/** Parts are Part 10 files (application/dicom), or bytes of another type. */
export function multipartOf(
  parts: readonly (Buffer | { bytes: Buffer; type: string })[],
  boundary = 'beeldbrug-test-boundary',
): { body: Buffer; contentType: string } {
  const pieces = parts.flatMap((p) => {
    const { bytes, type } = Buffer.isBuffer(p) ? { bytes: p, type: 'application/dicom' } : p;
    return [Buffer.from(`--${boundary}\r\nContent-Type: ${type}\r\n\r\n`), bytes, Buffer.from('\r\n')];
  });
  return {
    body: Buffer.concat([...pieces, Buffer.from(`--${boundary}--\r\n`)]),
    contentType: `multipart/related; type="application/dicom"; boundary=${boundary}`,
  };
}

export function send(
  port: number,
  method: string,
  path: string,
  ca: string,
  client: IssuedCertificate | undefined,
  payload: Buffer | undefined,
  headers: Record<string, string>,
): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        ca,
        agent: false,
        ...(client !== undefined ? { key: client.keyPem, cert: client.certPem } : {}),
        headers: payload !== undefined ? { ...headers, 'content-length': String(payload.length) } : headers,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        // A server that fails half-way through an answer cuts the connection: the test hears of it, not waits.
        res.on('error', (e) => resolve({ status: 'aborted', body: `${body}\n[answer cut off: ${e.message}]` }));
      },
    );
    req.on('error', (e) => resolve({ status: 'tls-error', body: e.message }));
    req.end(payload);
  });
}

/** A synthetic patient and their first study, imported into a node as its PACS would have sent it there. */
export async function studyHeldBy(
  t: TestContext,
  node: TestNode,
  seed: number,
): Promise<{ study: SynthStudy; patient: SynthPatient }> {
  const dir = join(tempDir(t), 'synth');
  const synth = await synthesize({ outDir: dir, patients: 1, seed });
  for (const f of filesIn(dir)) await testAccess(node.node, 'import').importFile(f);
  const patient = synth.patients[0];
  const study = patient?.studies[0];
  if (patient === undefined || study === undefined) throw new Error('the synthetic patient has no study');
  return { study, patient };
}
